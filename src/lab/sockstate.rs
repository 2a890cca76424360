//! Socket states as the kernel keeps them, like `ss -tuanp` and `lsof -i`:
//! read from /proc/net/{tcp,tcp6,udp,udp6}, with each socket's owning
//! process and fd found through /proc/PID/fd (Linux). Elsewhere there is
//! nothing to read, and the demo says so.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::track::state::TcpState;

/// One socket: protocol, state, queues, endpoints, owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRow {
    /// "tcp" or "udp".
    pub proto: &'static str,
    pub state: KernelState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// For LISTEN: connections waiting for accept(); else bytes not yet read.
    pub recv_q: u64,
    /// For LISTEN: the backlog (`None` when the kernel could not be asked);
    /// else bytes not yet acknowledged.
    pub send_q: Option<u64>,
    /// The kernel's inode for the socket; 0 when no process holds it (a
    /// connection not accepted yet, TIME-WAIT).
    pub inode: u64,
    /// The process and fd that hold it: (pid, command, fd).
    pub owner: Option<(u32, String, i32)>,
}

/// A socket's state in the kernel's table. TCP states use the tracker's
/// names (one vocabulary for the timeline and the table); UDP has none, and
/// `ss` shows an unconnected UDP socket as UNCONN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelState {
    Tcp(TcpState),
    /// A UDP socket with a default peer (connect()).
    UdpConnected,
    /// A UDP socket without one.
    Unconn,
    /// A code this program does not know.
    Other(u8),
}

impl KernelState {
    /// From the `st` column of /proc/net/{tcp,udp} (include/net/tcp_states.h).
    fn from_code(proto: &str, code: u8) -> KernelState {
        if proto == "udp" {
            // UDP has no states; the kernel reuses the TCP codes.
            return if code == 0x01 {
                KernelState::UdpConnected
            } else {
                KernelState::Unconn
            };
        }
        KernelState::Tcp(match code {
            0x01 => TcpState::Established,
            0x02 => TcpState::SynSent,
            0x03 => TcpState::SynReceived,
            0x04 => TcpState::FinWait1,
            0x05 => TcpState::FinWait2,
            0x06 => TcpState::TimeWait,
            0x07 => TcpState::Closed,
            0x08 => TcpState::CloseWait,
            0x09 => TcpState::LastAck,
            0x0A => TcpState::Listen,
            0x0B => TcpState::Closing,
            other => return KernelState::Other(other),
        })
    }
}

impl std::fmt::Display for KernelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelState::Tcp(s) => f.pad(s.name()),
            KernelState::UdpConnected => f.pad("CONNECTED"),
            KernelState::Unconn => f.pad("UNCONN"),
            KernelState::Other(code) => f.pad(&format!("state {code:#04x}")),
        }
    }
}

/// `0100007F:3039` (IPv4, host byte order per 32-bit word) or the 32-hex-digit IPv6 form.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.swap_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16)
                    .ok()?
                    .swap_bytes();
                chunk.copy_from_slice(&word.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn parse_table(text: &str, proto: &'static str) -> Vec<SocketRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (tx, rx) = f.get(4)?.split_once(':')?;
            let code = u8::from_str_radix(f.get(3)?, 16).ok()?;
            Some(SocketRow {
                proto,
                local: parse_addr(f.get(1)?)?,
                remote: parse_addr(f.get(2)?)?,
                state: KernelState::from_code(proto, code),
                send_q: Some(u64::from_str_radix(tx, 16).ok()?),
                recv_q: u64::from_str_radix(rx, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
                owner: None,
            })
        })
        .collect()
}

/// For each socket inode in `wanted`: the process and fd holding it, from
/// the `socket:[INODE]` links in /proc/PID/fd (what lsof does).
fn owners(wanted: &[u64]) -> std::collections::HashMap<u64, (u32, String, i32)> {
    let mut found = std::collections::HashMap::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if wanted.contains(&inode) && !found.contains_key(&inode) {
                let comm = fs::read_to_string(entry.path().join("comm"))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default();
                let n = fd
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(-1);
                found.insert(inode, (pid, comm, n));
            }
        }
    }
    found
}

/// TCP sockets with a local or remote port in `ports`; `None` where the
/// kernel's table cannot be read (not Linux).
pub fn snapshot(ports: &[u16]) -> Option<Vec<SocketRow>> {
    let mut rows = Vec::new();
    let mut any = false;
    for (path, proto) in [
        ("/proc/net/tcp", "tcp"),
        ("/proc/net/tcp6", "tcp"),
        ("/proc/net/udp", "udp"),
        ("/proc/net/udp6", "udp"),
    ] {
        if let Ok(text) = fs::read_to_string(path) {
            any = true;
            rows.extend(parse_table(&text, proto));
        }
    }
    if !any {
        return None;
    }
    rows.retain(|r| ports.contains(&r.local.port()) || ports.contains(&r.remote.port()));
    // /proc/net/tcp has no backlog for a listener (its tx_queue is 0): ask
    // the kernel as ss does, through sock_diag.
    let listening = KernelState::Tcp(TcpState::Listen);
    if rows.iter().any(|r| r.state == listening) {
        let backlogs = listen_backlogs();
        for r in rows.iter_mut().filter(|r| r.state == listening) {
            r.send_q = backlogs.get(&r.local).copied();
        }
    }
    let inodes: Vec<u64> = rows.iter().map(|r| r.inode).filter(|&i| i != 0).collect();
    let owners = owners(&inodes);
    for r in &mut rows {
        r.owner = owners.get(&r.inode).cloned();
    }
    rows.sort_by_key(|r| (r.proto, r.local, r.remote));
    Some(rows)
}

/// The backlog of every listening TCP socket (IPv4 and IPv6), by local
/// address: sock_diag's idiag_wqueue for a listener is sk_max_ack_backlog,
/// what `ss -lt` shows as Send-Q. Empty when the kernel cannot be asked.
fn listen_backlogs() -> std::collections::HashMap<SocketAddr, u64> {
    use netlink_packet_core::{
        NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
    };
    use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
    use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
    use netlink_packet_sock_diag::SockDiagMessage;
    use netlink_sys::protocols::NETLINK_SOCK_DIAG;

    let mut found = std::collections::HashMap::new();
    for family in [AF_INET, AF_INET6] {
        let Ok(mut socket) = netlink_sys::Socket::new(NETLINK_SOCK_DIAG) else {
            return found;
        };
        if socket.bind_auto().is_err()
            || socket.connect(&netlink_sys::SocketAddr::new(0, 0)).is_err()
        {
            return found;
        }
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut request = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states: StateFlags::LISTEN,
                socket_id: if family == AF_INET {
                    SocketId::new_v4()
                } else {
                    SocketId::new_v6()
                },
            })
            .into(),
        );
        request.finalize();
        let mut buf = vec![0; request.buffer_len()];
        request.serialize(&mut buf);
        if socket.send(&buf, 0).is_err() {
            return found;
        }
        let mut reply = vec![0; 65536];
        'dump: while let Ok(size) = socket.recv(&mut &mut reply[..], 0) {
            let mut offset = 0;
            while offset < size {
                let Ok(msg) = NetlinkMessage::<SockDiagMessage>::deserialize(&reply[offset..size])
                else {
                    break 'dump;
                };
                let len = msg.header.length as usize;
                match msg.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        let id = &r.header.socket_id;
                        found.insert(
                            SocketAddr::new(id.source_address, id.source_port),
                            u64::from(r.header.send_queue),
                        );
                    }
                    NetlinkPayload::InnerMessage(_) | NetlinkPayload::Noop => {}
                    _ => break 'dump,
                }
                if len == 0 {
                    break 'dump;
                }
                offset += len;
            }
        }
    }
    found
}

/// Whether a TCP socket listens on `addr` (its port on that address or on
/// the wildcard), in this network namespace. False where /proc/net/tcp
/// cannot be read.
pub fn is_listening(addr: SocketAddr) -> bool {
    let listening = KernelState::Tcp(TcpState::Listen);
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|path| {
        fs::read_to_string(path).is_ok_and(|text| {
            parse_table(&text, "tcp").iter().any(|r| {
                r.state == listening
                    && r.local.port() == addr.port()
                    && (r.local.ip() == addr.ip() || r.local.ip().is_unspecified())
            })
        })
    })
}

/// Sockets whose local port is `port`, whatever the protocol; for showing
/// when a UDP socket gets its port.
pub fn by_local_port(port: u16) -> Vec<SocketRow> {
    snapshot(&[port])
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.local.port() == port)
        .collect()
}

impl std::fmt::Display for SocketRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:<11} Recv-Q {:<3} Send-Q {:<3} {} <-> {}",
            self.proto,
            self.state,
            self.recv_q,
            self.send_q
                .map_or_else(|| "?".to_string(), |q| q.to_string()),
            self.local,
            self.remote
        )?;
        if self.state == KernelState::Tcp(TcpState::Listen) {
            // As ss shows a listener: the queue of finished connections and its limit.
            write!(
                f,
                "  (Recv-Q: connections waiting for accept(); Send-Q: the backlog)"
            )?;
        }
        // Recv-Q is rcv_nxt - copied_seq, and the peer's FIN takes one
        // sequence number that recv() never copies: once it has arrived,
        // Recv-Q is one more than the bytes left to read.
        let fin_received = matches!(
            self.state,
            KernelState::Tcp(TcpState::CloseWait | TcpState::LastAck | TcpState::Closing)
        );
        if fin_received && self.recv_q > 0 {
            write!(
                f,
                "  (Recv-Q counts the peer's FIN as 1: {} unread)",
                self.recv_q - 1
            )?;
        }
        match &self.owner {
            Some((pid, comm, fd)) => write!(f, "  pid {pid} ({comm}) fd {fd}"),
            None if self.state == KernelState::Tcp(TcpState::TimeWait) => {
                write!(f, "  no process: the kernel keeps it")
            }
            None if self.inode == 0 => write!(f, "  no process yet: waiting for accept()"),
            None => write!(f, "  owner unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_table, KernelState};
    use crate::track::state::TcpState;

    #[test]
    fn reads_proc_net_tcp_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:302D 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n";
        let rows = parse_table(text, "tcp");
        assert_eq!(rows[0].state, KernelState::Tcp(TcpState::Listen));
        assert_eq!(rows[0].local.to_string(), "127.0.0.1:12333");
        assert_eq!(rows[0].recv_q, 2);
    }
}

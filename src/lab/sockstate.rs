//! Socket states as the kernel keeps them, like `ss -tan`: read from
//! /proc/net/tcp and /proc/net/tcp6 (Linux). Elsewhere there is nothing to
//! read, and the demo says so.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One TCP socket: state, queues, endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRow {
    pub state: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// For LISTEN: connections waiting for accept(); else bytes not yet read.
    pub recv_q: u64,
    /// For LISTEN: the backlog; else bytes not yet acknowledged.
    pub send_q: u64,
}

fn state_name(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN-SENT",
        0x03 => "SYN-RECV",
        0x04 => "FIN-WAIT-1",
        0x05 => "FIN-WAIT-2",
        0x06 => "TIME-WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE-WAIT",
        0x09 => "LAST-ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => "UNKNOWN",
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

fn parse_table(text: &str) -> Vec<SocketRow> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (tx, rx) = f.get(4)?.split_once(':')?;
            Some(SocketRow {
                local: parse_addr(f.get(1)?)?,
                remote: parse_addr(f.get(2)?)?,
                state: state_name(u8::from_str_radix(f.get(3)?, 16).ok()?),
                send_q: u64::from_str_radix(tx, 16).ok()?,
                recv_q: u64::from_str_radix(rx, 16).ok()?,
            })
        })
        .collect()
}

/// TCP sockets with a local or remote port in `ports`; `None` where the
/// kernel's table cannot be read (not Linux).
pub fn snapshot(ports: &[u16]) -> Option<Vec<SocketRow>> {
    let mut rows = Vec::new();
    let mut any = false;
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(path) {
            any = true;
            rows.extend(parse_table(&text));
        }
    }
    if !any {
        return None;
    }
    rows.retain(|r| ports.contains(&r.local.port()) || ports.contains(&r.remote.port()));
    rows.sort_by_key(|r| (r.local, r.remote));
    Some(rows)
}

impl std::fmt::Display for SocketRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<11} Recv-Q {:<3} Send-Q {:<3} {} <-> {}",
            self.state, self.recv_q, self.send_q, self.local, self.remote
        )
    }
}

#[cfg(test)]
mod tests {
    use super::parse_table;

    #[test]
    fn reads_proc_net_tcp_lines() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:302D 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n";
        let rows = parse_table(text);
        assert_eq!(rows[0].state, "LISTEN");
        assert_eq!(rows[0].local.to_string(), "127.0.0.1:12333");
        assert_eq!(rows[0].recv_q, 2);
    }
}

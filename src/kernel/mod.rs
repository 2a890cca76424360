//! The kernel's own record of TCP, read from its tracepoints while a live
//! capture runs (Linux, root): every state change of every socket, why it
//! sent each RST, the resets it received, its retransmissions and the
//! errors it handed to sockets.
//!
//! Packets alone cannot say which state a socket is in or why a RST was
//! sent: tcpdump, Wireshark and our tracker infer both. These events are
//! what the kernel did, so the timeline shows them beside the packets,
//! marked as the kernel's. [`tracefs`] runs a private trace instance; this
//! file turns its text lines into [`KernelEvent`]s.
//!
//! Fields are read by name from each line (`sport=39201`), as the event's
//! `format` file declares them, so a kernel without a field (the RST
//! `reason` before Linux 6.10) gives an event without it.

pub mod tracefs;

use std::net::{IpAddr, SocketAddr};

use crate::track::state::TcpState;

/// Why the kernel sent a RST (`enum sk_rst_reason`, include/net/rstreason.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    NotSpecified,
    /// No socket for the segment: nothing listens, or the connection is gone.
    NoSocket,
    /// close() with received data still unread (LINUX_MIB_TCPABORTONCLOSE).
    AbortOnClose,
    /// close() with TCP_LINGER2 below 0: the kernel does not wait in
    /// FIN-WAIT-2 for the peer's FIN (LINUX_MIB_TCPABORTONLINGER).
    AbortOnLinger,
    /// "Abort on TCP state": the connection was torn down at once
    /// (tcp_disconnect: close() with SO_LINGER {1, 0}, a listener closed
    /// with connections in its accept queue, connect(AF_UNSPEC)) in a state
    /// where the peer has to be told. Measured here: both the SO_LINGER 0
    /// close (abort lab) and the closed listener (backlog lab) give it.
    AbortOnState,
    /// Data arrived for a socket its program had closed.
    AbortOnData,
    /// Out of memory for orphaned sockets.
    AbortOnMemory,
    /// Keep-alive probes went unanswered.
    KeepaliveTimeout,
    /// A TIME-WAIT socket answered a segment that did not fit.
    TimewaitSocket,
    /// The segment acknowledged data never sent, or too old.
    BadAck,
    /// The segment's flags were invalid, or a SYN came inside the window.
    BadSegment,
    /// Another reason (PAWS, MPTCP's, ERROR).
    Other,
}

impl ResetReason {
    fn from_name(name: &str) -> ResetReason {
        match name {
            "NOT_SPECIFIED" => ResetReason::NotSpecified,
            "NO_SOCKET" => ResetReason::NoSocket,
            "TCP_ABORT_ON_CLOSE" => ResetReason::AbortOnClose,
            "TCP_ABORT_ON_LINGER" => ResetReason::AbortOnLinger,
            "TCP_ABORT_ON_DATA" => ResetReason::AbortOnData,
            "TCP_ABORT_ON_MEMORY" => ResetReason::AbortOnMemory,
            "TCP_KEEPALIVE_TIMEOUT" => ResetReason::KeepaliveTimeout,
            "TCP_STATE" => ResetReason::AbortOnState,
            "TCP_TIMEWAIT_SOCKET" => ResetReason::TimewaitSocket,
            "TCP_INVALID_ACK_SEQUENCE"
            | "TCP_TOO_OLD_ACK"
            | "TCP_ACK_UNSENT_DATA"
            | "TCP_OLD_ACK" => ResetReason::BadAck,
            "TCP_FLAGS" | "INVALID_SYN" => ResetReason::BadSegment,
            _ => ResetReason::Other,
        }
    }

    /// Its name in JSON.
    pub fn code(self) -> &'static str {
        match self {
            ResetReason::NotSpecified => "not_specified",
            ResetReason::NoSocket => "no_socket",
            ResetReason::AbortOnClose => "abort_on_close",
            ResetReason::AbortOnLinger => "abort_on_linger",
            ResetReason::AbortOnData => "abort_on_data",
            ResetReason::AbortOnMemory => "abort_on_memory",
            ResetReason::KeepaliveTimeout => "keepalive_timeout",
            ResetReason::AbortOnState => "abort_on_state",
            ResetReason::TimewaitSocket => "timewait_socket",
            ResetReason::BadAck => "bad_ack",
            ResetReason::BadSegment => "bad_segment",
            ResetReason::Other => "other",
        }
    }
}

/// One thing the kernel reported about a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// `inet_sock_set_state`: a TCP socket changed state. `local` has port
    /// 0 for a socket in connect() before its port is chosen; `remote` is
    /// `None` for a listener.
    State {
        local: SocketAddr,
        remote: Option<SocketAddr>,
        old: TcpState,
        new: TcpState,
    },
    /// `tcp_send_reset`: the kernel sent a RST from `local` to `remote`.
    SentReset {
        local: SocketAddr,
        remote: SocketAddr,
        /// The socket's state (none without a socket).
        state: Option<TcpState>,
        /// None on kernels before about 6.10.
        reason: Option<ResetReason>,
    },
    /// `tcp_receive_reset`: the socket `local` received a RST.
    ReceivedReset {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// `tcp_retransmit_skb`: the kernel sent a segment again.
    Retransmit {
        local: SocketAddr,
        remote: SocketAddr,
        state: Option<TcpState>,
    },
    /// `tcp_retransmit_synack`.
    SynAckRetransmit {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// `tcp_probe` (with `-v`): the socket's window and congestion figures
    /// as a segment arrived.
    Probe {
        local: SocketAddr,
        remote: SocketAddr,
        figures: ProbeFigures,
    },
    /// `inet_sk_error_report`: an error handed to a socket; its next call
    /// returns it (ECONNREFUSED after ICMP port unreachable, ECONNRESET).
    SocketError {
        local: SocketAddr,
        remote: Option<SocketAddr>,
        udp: bool,
        errno: i32,
    },
}

impl KernelEvent {
    /// The event's name in JSON.
    pub fn code(&self) -> &'static str {
        match self {
            KernelEvent::State { .. } => "state",
            KernelEvent::SentReset { .. } => "sent_reset",
            KernelEvent::ReceivedReset { .. } => "received_reset",
            KernelEvent::Retransmit { .. } => "retransmit",
            KernelEvent::SynAckRetransmit { .. } => "synack_retransmit",
            KernelEvent::SocketError { .. } => "socket_error",
            KernelEvent::Probe { .. } => "probe",
        }
    }

    /// The socket the event is about: its own address and its peer's.
    pub fn ends(&self) -> (SocketAddr, Option<SocketAddr>) {
        match *self {
            KernelEvent::State { local, remote, .. }
            | KernelEvent::SocketError { local, remote, .. } => (local, remote),
            KernelEvent::SentReset { local, remote, .. }
            | KernelEvent::ReceivedReset { local, remote }
            | KernelEvent::Retransmit { local, remote, .. }
            | KernelEvent::SynAckRetransmit { local, remote }
            | KernelEvent::Probe { local, remote, .. } => (local, Some(remote)),
        }
    }
}

/// A kernel state name (`TCP_FIN_WAIT1`) as ours.
fn state(name: &str) -> Option<TcpState> {
    Some(match name {
        "TCP_ESTABLISHED" => TcpState::Established,
        "TCP_SYN_SENT" => TcpState::SynSent,
        "TCP_SYN_RECV" | "TCP_NEW_SYN_RECV" => TcpState::SynReceived,
        "TCP_FIN_WAIT1" => TcpState::FinWait1,
        "TCP_FIN_WAIT2" => TcpState::FinWait2,
        "TCP_TIME_WAIT" => TcpState::TimeWait,
        "TCP_CLOSE" => TcpState::Closed,
        "TCP_CLOSE_WAIT" => TcpState::CloseWait,
        "TCP_LAST_ACK" => TcpState::LastAck,
        "TCP_LISTEN" => TcpState::Listen,
        "TCP_CLOSING" => TcpState::Closing,
        _ => return None,
    })
}

/// The events read, by their tracepoint names (`tcp_probe`, the last, only
/// with `-v`: it fires on every segment).
pub const EVENTS: [(&str, &str); 7] = [
    ("sock", "inet_sock_set_state"),
    ("tcp", "tcp_send_reset"),
    ("tcp", "tcp_receive_reset"),
    ("tcp", "tcp_retransmit_skb"),
    ("tcp", "tcp_retransmit_synack"),
    ("sock", "inet_sk_error_report"),
    ("tcp", "tcp_probe"),
];

/// The `key=value` fields of a trace line's event text.
struct Fields<'l>(&'l str);

impl<'l> Fields<'l> {
    fn get(&self, key: &str) -> Option<&'l str> {
        self.0.split(' ').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    fn port(&self, key: &str) -> Option<u16> {
        self.get(key)?.parse().ok()
    }

    /// `sport`/`saddr` (or `saddrv6` for AF_INET6) as an address.
    fn addr(&self, side: char) -> Option<SocketAddr> {
        let port = self.port(&format!("{side}port"))?;
        let ip: IpAddr = if self.get("family") == Some("AF_INET6") {
            self.get(&format!("{side}addrv6"))?.parse().ok()?
        } else {
            self.get(&format!("{side}addr"))?.parse().ok()?
        };
        Some(SocketAddr::new(ip, port))
    }
}

/// One line of `trace_pipe`, with the offset that turns its clock into
/// the packets' (ns since the epoch), as (time, event). Lines of other
/// events, and events without what a timeline needs, give `None`.
///
/// ```text
/// python3-6861 [001] ..s2. 10863.406547: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=23456 ...
/// ```
pub fn parse_line(line: &str, offset_ns: i64) -> Option<(i64, KernelEvent)> {
    let (name, at) = EVENTS
        .iter()
        .find_map(|(_, name)| line.find(&format!(" {name}: ")).map(|at| (*name, at)))?;
    // The timestamp is the last word before the event name: `10863.406547:`.
    let ts_text = line[..at].rsplit(' ').next()?.trim_end_matches(':');
    let (secs, frac) = ts_text.split_once('.')?;
    let frac_ns: i64 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let ts = secs
        .parse::<i64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns)?
        .checked_add(offset_ns)?;
    let f = Fields(&line[at + name.len() + 3..]);
    let event = match name {
        "inet_sock_set_state" => {
            if f.get("protocol") != Some("IPPROTO_TCP") {
                return None;
            }
            let remote = f.addr('d').filter(|a| a.port() != 0);
            KernelEvent::State {
                local: f.addr('s')?,
                remote,
                old: state(f.get("oldstate")?)?,
                new: state(f.get("newstate")?)?,
            }
        }
        "tcp_send_reset" => KernelEvent::SentReset {
            local: f.get("src")?.parse().ok()?,
            remote: f.get("dest")?.parse().ok()?,
            state: f.get("state").and_then(state),
            reason: f.get("reason").map(ResetReason::from_name),
        },
        "tcp_receive_reset" => KernelEvent::ReceivedReset {
            local: f.addr('s')?,
            remote: f.addr('d')?,
        },
        "tcp_retransmit_skb" => KernelEvent::Retransmit {
            local: f.addr('s')?,
            remote: f.addr('d')?,
            state: f.get("state").and_then(state),
        },
        "tcp_retransmit_synack" => KernelEvent::SynAckRetransmit {
            local: f.addr('s')?,
            remote: f.addr('d')?,
        },
        "inet_sk_error_report" => {
            let errno: i32 = f.get("error")?.parse().ok()?;
            // A report of "no error" (it follows the real one) says nothing.
            if errno == 0 {
                return None;
            }
            KernelEvent::SocketError {
                local: f.addr('s')?,
                remote: f.addr('d').filter(|a| a.port() != 0),
                udp: f.get("protocol") == Some("IPPROTO_UDP"),
                errno,
            }
        }
        "tcp_probe" => {
            let num = |key: &str| f.get(key).and_then(|v| v.parse::<u32>().ok());
            // Linux's "infinite" ssthresh (not set yet) is 0x7fffffff.
            let ssthresh = num("ssthresh").filter(|&s| s < 0x7fff_ffff);
            KernelEvent::Probe {
                local: f.get("src")?.parse().ok()?,
                remote: f.get("dest")?.parse().ok()?,
                figures: ProbeFigures {
                    data_len: num("data_len")?,
                    cwnd: num("snd_cwnd")?,
                    ssthresh,
                    snd_wnd: num("snd_wnd")?,
                    srtt_us: num("srtt")?,
                    rcv_wnd: num("rcv_wnd")?,
                },
            }
        }
        _ => return None,
    };
    Some((ts, event))
}

/// `tcp_probe`'s figures, as JSON `probe` carries them too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProbeFigures {
    /// Payload bytes of the segment that arrived.
    pub data_len: u32,
    /// Congestion window, in segments.
    pub cwnd: u32,
    /// Slow-start threshold, in segments (`None`: not set yet).
    pub ssthresh: Option<u32>,
    /// The peer's advertised window, bytes.
    pub snd_wnd: u32,
    /// Smoothed round-trip time, µs.
    pub srtt_us: u32,
    /// The window this socket advertises, bytes.
    pub rcv_wnd: u32,
}

#[cfg(test)]
mod tests {
    use super::{parse_line, KernelEvent, ResetReason};
    use crate::track::state::TcpState;

    // Lines as Linux 6.18 wrote them (../shared/KERNEL.md, measured here).
    #[test]
    fn state_change_reset_and_error_lines() {
        let (ts, e) = parse_line("         python3-6861    [001] ..s2. 10863.406547: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=23456 dport=52962 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV", 1_000).unwrap();
        assert_eq!(ts, 10_863_406_547_000 + 1_000);
        assert_eq!(
            e,
            KernelEvent::State {
                local: "127.0.0.1:23456".parse().unwrap(),
                remote: "127.0.0.1:52962".parse().ok(),
                old: TcpState::Listen,
                new: TcpState::SynReceived,
            }
        );
        let (_, e) = parse_line("python3-6861 [001] ..... 10863.405060: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=23456 dport=0 saddr=127.0.0.1 daddr=0.0.0.0 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:0.0.0.0 oldstate=TCP_CLOSE newstate=TCP_LISTEN", 0).unwrap();
        assert!(matches!(
            e,
            KernelEvent::State {
                remote: None,
                new: TcpState::Listen,
                ..
            }
        ));
        let (_, e) = parse_line("python3-6861 [001] .N... 10863.456883: tcp_send_reset: skbaddr=0000000000000000 skaddr=000000008f008817 src=127.0.0.1:23456 dest=127.0.0.1:52962 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE", 0).unwrap();
        assert_eq!(
            e,
            KernelEvent::SentReset {
                local: "127.0.0.1:23456".parse().unwrap(),
                remote: "127.0.0.1:52962".parse().unwrap(),
                state: Some(TcpState::Closed),
                reason: Some(ResetReason::AbortOnClose),
            }
        );
        // No socket: state UNKNOWN; an older kernel has no reason at all.
        let (_, e) = parse_line("x-1 [001] .Ns1. 1.5: tcp_send_reset: skbaddr=1 skaddr=0 src=127.0.0.1:23457 dest=127.0.0.1:51386 state=UNKNOWN", 0).unwrap();
        assert!(matches!(
            e,
            KernelEvent::SentReset {
                state: None,
                reason: None,
                ..
            }
        ));
        let (_, e) = parse_line("x-1 [001] .N... 1.5: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=51386 dport=23457 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 error=111", 0).unwrap();
        assert!(matches!(
            e,
            KernelEvent::SocketError {
                errno: 111,
                udp: false,
                ..
            }
        ));
        assert!(parse_line("x-1 [001] .N... 1.5: inet_sk_error_report: family=AF_INET protocol=IPPROTO_TCP sport=51386 dport=0 saddr=0.0.0.0 daddr=127.0.0.1 saddrv6=::ffff:0.0.0.0 daddrv6=::ffff:127.0.0.1 error=0", 0).is_none());
        assert!(parse_line("garbage", 0).is_none());
    }
}

//! `wirelab trace -- COMMAND`: the student's own program, its socket calls
//! and its packets in one timeline.
//!
//! The program runs under strace from the distribution while wirelab
//! captures loopback. strace was chosen over a ptrace crate or seccomp user
//! notification because it already decodes every socket call on every
//! architecture (addresses, flags, option names, errno names), follows
//! threads and forked workers (`-f`), and names each socket by its 4-tuple
//! (`-yy`), which is exactly the join key with the packets. Its output is
//! parsed strictly (`strace.rs`); the bytes come hex-encoded (`-xx`).
//!
//! When the program ends (or Ctrl-C), the capture is drained and the
//! packets are replayed with the calls merged in by time: a call that sends
//! is placed at its entry (the segment follows it), a call that waits for
//! the network (recv, accept, connect, poll) at its return (after the
//! packet that woke it).

pub mod strace;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use self::strace::{Ret, Syscall};
use crate::sockets::describe_chunk;

/// The system calls traced: all socket calls, plus the generic ones that
/// programs use on sockets too, waits, and new processes and threads.
pub const TRACED: &str = "%network,read,write,readv,writev,close,poll,ppoll,select,pselect6,\
epoll_wait,epoll_pwait,clone,clone3,fork,vfork";

/// Where a call belongs relative to the packets of its socket. strace's
/// clock and the capture's agree only to a few hundred microseconds on a
/// busy machine (ptrace stops, softirq delays), so a call is tied to the
/// packet it caused or consumed, found by addresses and bytes; its own
/// time is the fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// Just before the first segment `from -> to` that starts with `data`.
    BeforeData {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// Just after the last segment `from -> to` that carries `data`'s start.
    AfterData {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// Just after the server's answer to a connect: SYN-ACK or RST from `server`.
    AfterAnswer { server: SocketAddr },
    /// Just after the handshake's last ACK `client -> server` (accept).
    AfterHandshake {
        client: SocketAddr,
        server: SocketAddr,
    },
    /// Just before the first FIN or RST `from -> to` (close, shutdown).
    BeforeFin { from: SocketAddr, to: SocketAddr },
    /// Just after the FIN `from -> to` that a recv returning 0 reported.
    AfterFin { from: SocketAddr, to: SocketAddr },
    /// Its own time.
    Time,
}

/// What placing needs of each captured packet.
#[derive(Debug, Clone)]
pub struct Indexed {
    pub ts_ns: i64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub syn: bool,
    pub ack: bool,
    pub fin_or_rst: bool,
    pub rst: bool,
    /// The first bytes of the payload.
    pub payload: Vec<u8>,
}

/// How far (ns) a packet may seem to precede the call that caused it.
const SKEW_NS: i64 = 5_000_000;

/// The time to show a call at: next to its packet if one matches.
pub fn place(ts: i64, anchor: &Anchor, packets: &[Indexed]) -> i64 {
    let near = |p: &&Indexed| p.ts_ns >= ts - SKEW_NS;
    let starts = |p: &Indexed, data: &[u8]| {
        let n = data.len().min(p.payload.len()).min(16);
        n > 0 && p.payload[..n] == data[..n]
    };
    match anchor {
        Anchor::Time => ts,
        Anchor::BeforeData { from, to, data } => packets
            .iter()
            .filter(near)
            .find(|p| p.src == *from && p.dst == *to && starts(p, data))
            .map_or(ts, |p| p.ts_ns - 1),
        Anchor::AfterData { from, to, data } => packets
            .iter()
            .rev()
            .filter(|p| p.ts_ns <= ts + SKEW_NS)
            .find(|p| p.src == *from && p.dst == *to && starts(p, data))
            .map_or(ts, |p| ts.max(p.ts_ns + 1)),
        Anchor::AfterAnswer { server } => packets
            .iter()
            .filter(near)
            .find(|p| p.src == *server && ((p.syn && p.ack) || p.rst))
            .map_or(ts, |p| ts.max(p.ts_ns + 1)),
        Anchor::AfterHandshake { client, server } => packets
            .iter()
            .filter(|p| p.src == *client && p.dst == *server && p.ack && !p.syn)
            .find(|p| p.ts_ns >= ts - SKEW_NS)
            .map_or(ts, |p| ts.max(p.ts_ns + 1)),
        Anchor::AfterFin { from, to } => packets
            .iter()
            .rev()
            .filter(|p| p.ts_ns <= ts + SKEW_NS)
            .find(|p| p.src == *from && p.dst == *to && p.fin_or_rst)
            .map_or(ts, |p| ts.max(p.ts_ns + 1)),
        Anchor::BeforeFin { from, to } => packets
            .iter()
            .filter(near)
            .find(|p| p.src == *from && p.dst == *to && p.fin_or_rst)
            .map_or(ts, |p| ts.min(p.ts_ns - 1)),
    }
}

/// `127.0.0.1:1->127.0.0.1:2` (or `[::1]:1->[::1]:2`) as (local, remote).
fn pair(decoration: Option<&str>) -> Option<(SocketAddr, SocketAddr)> {
    let (local, remote) = addresses(decoration?).split_once("->")?;
    Some((local.parse().ok()?, remote.parse().ok()?))
}

/// Turns system calls into timeline lines; keeps, per socket, the start of
/// a UTF-8 character that one recv cut off, so the next can complete it.
#[derive(Debug, Default)]
pub struct Describer {
    carries: HashMap<String, Vec<u8>>,
    ports: std::collections::HashSet<u16>,
}

/// The call's first argument is a UDP socket.
fn on_udp(call: &Syscall) -> bool {
    call.fd()
        .and_then(|(_, d)| d)
        .is_some_and(|d| d.starts_with("UDP"))
}

/// " (first N of M bytes shown)" when strace showed fewer bytes than the
/// call moved; nothing otherwise.
fn shown_cut(shown: usize, total: u64) -> String {
    if (shown as u64) < total {
        format!(" (first {shown} of {total} bytes shown)")
    } else {
        String::new()
    }
}

fn is_inet(decoration: Option<&str>) -> bool {
    decoration.is_some_and(|d| d.starts_with("TCP") || d.starts_with("UDP"))
}

/// `TCP:[127.0.0.1:1->127.0.0.1:2]` as `127.0.0.1:1->127.0.0.1:2`.
fn addresses(decoration: &str) -> &str {
    decoration
        .split_once(":[")
        .map(|(_, a)| a.trim_end_matches(']'))
        .unwrap_or(decoration)
}

/// `fd 4 127.0.0.1:1->127.0.0.1:2` (the inode only while it has no address).
fn socket_label(fd: i32, decoration: Option<&str>) -> String {
    match decoration.map(addresses) {
        Some(a) if a.contains(':') => format!("fd {fd} {a}"),
        _ => format!("fd {fd}"),
    }
}

fn result(ret: &Ret) -> String {
    match ret {
        Ret::Value(v, Some(d)) => format!("{v} ({})", addresses(d)),
        Ret::Value(0, None) => "ok".to_string(),
        Ret::Value(v, None) => v.to_string(),
        Ret::Error { errno, text } => format!("{errno} ({text})"),
        Ret::Unknown => "? (the process ended)".to_string(),
        Ret::Interrupted { errno } => format!("interrupted by a signal ({errno})"),
    }
}

impl Describer {
    /// The line for one call and its place in time, or `None` for calls
    /// that are not about an internet socket.
    /// The ports the program's sockets used (local and remote, from their
    /// addresses and from bind/connect), to keep only its traffic.
    pub fn ports(&self) -> std::collections::HashSet<u16> {
        self.ports.clone()
    }

    pub fn describe(&mut self, call: &Syscall) -> Option<(i64, String, Anchor)> {
        let (ts, text) = self.text(call)?;
        let ends = pair(call.fd().and_then(|(_, d)| d));
        for (a, b) in ends.into_iter().chain(match &call.ret {
            Ret::Value(_, Some(d)) => pair(Some(d)),
            _ => None,
        }) {
            self.ports.extend([a.port(), b.port()]);
        }
        if let Some(port) = call
            .sockaddr()
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .map(|a| a.port())
        {
            self.ports.insert(port);
        }
        // A listening or bound socket shows only its local address.
        if let Some(local) = call
            .fd()
            .and_then(|(_, d)| d)
            .map(addresses)
            .filter(|a| !a.contains("->"))
            .and_then(|a| a.parse::<SocketAddr>().ok())
        {
            self.ports.insert(local.port());
        }
        let name = call.name.as_str();
        let data = || call.buffers().into_iter().take(16).collect::<Vec<u8>>();
        let anchor = match (name, ends, &call.ret) {
            (
                "sendto" | "sendmsg" | "sendmmsg" | "write" | "writev",
                Some((l, r)),
                Ret::Value(n, _),
            ) if *n > 0 => Anchor::BeforeData {
                from: l,
                to: r,
                data: data(),
            },
            (
                "recvfrom" | "recvmsg" | "recvmmsg" | "read" | "readv",
                Some((l, r)),
                Ret::Value(n, _),
            ) if *n > 0 => Anchor::AfterData {
                from: r,
                to: l,
                data: data(),
            },
            // 0 from a TCP socket is EOF, the peer's FIN; from UDP it is an
            // empty datagram, tied by time only.
            ("recvfrom" | "recvmsg" | "read" | "readv", Some((l, r)), Ret::Value(0, _))
                if !on_udp(call) =>
            {
                Anchor::AfterFin { from: r, to: l }
            }
            ("connect", _, _) => match call.sockaddr().and_then(|a| a.parse().ok()) {
                Some(server) => Anchor::AfterAnswer { server },
                None => Anchor::Time,
            },
            ("accept" | "accept4", _, Ret::Value(_, Some(d))) => match pair(Some(d)) {
                Some((server, client)) => Anchor::AfterHandshake { client, server },
                None => Anchor::Time,
            },
            ("close" | "shutdown", Some((l, r)), _) => Anchor::BeforeFin { from: l, to: r },
            _ => Anchor::Time,
        };
        Some((ts, text, anchor))
    }

    fn text(&mut self, call: &Syscall) -> Option<(i64, String)> {
        let fd = call.fd();
        let on_socket = fd.is_some_and(|(_, d)| is_inet(d));
        let label = fd.map(|(n, d)| socket_label(n, d)).unwrap_or_default();
        let name = call.name.as_str();
        let mut text = format!("[pid {}] ", call.pid);
        let ts = match name {
            "socket" => {
                if !(call.args.starts_with("AF_INET,") || call.args.starts_with("AF_INET6,")) {
                    return None;
                }
                let kind = call.args.split(", ").take(2).collect::<Vec<_>>().join(", ");
                let kind = kind
                    .replace("|SOCK_CLOEXEC", "")
                    .replace("|SOCK_NONBLOCK", " nonblocking");
                let _ = match &call.ret {
                    Ret::Value(v, _) => write!(text, "socket({kind}) -> fd {v}"),
                    other => write!(text, "socket({kind}) -> {}", result(other)),
                };
                call.exit_ns()
            }
            "bind" | "connect" if on_socket => {
                let to = call.sockaddr().unwrap_or_else(|| "?".to_string());
                let _ = write!(text, "{name}({label}, {to}) -> {}", result(&call.ret));
                // connect returns once the handshake is done (or refused).
                if name == "connect" {
                    call.exit_ns()
                } else {
                    call.entry_ns
                }
            }
            "listen" if on_socket => {
                let backlog = call.args.rsplit(", ").next().unwrap_or("?");
                let _ = write!(
                    text,
                    "listen({label}, backlog {backlog}) -> {}",
                    result(&call.ret)
                );
                call.entry_ns
            }
            "accept" | "accept4" if on_socket => {
                let _ = match &call.ret {
                    Ret::Value(v, d) => write!(
                        text,
                        "accept({label}) -> fd {v}{}",
                        d.as_deref()
                            .map(|d| format!(" {}", addresses(d)))
                            .unwrap_or_default()
                    ),
                    other => write!(text, "accept({label}) -> {}", result(other)),
                };
                call.exit_ns()
            }
            "sendto" | "sendmsg" | "sendmmsg" | "write" | "writev" if on_socket => {
                let data = call.buffers();
                let short = if name == "sendto" || name == "sendmsg" {
                    "send"
                } else {
                    name
                };
                // The count is the program's (the length argument), not
                // the length of what strace showed.
                let len = call.length().unwrap_or(data.len() as u64);
                let shown = format!(
                    "\"{}\"{}",
                    crate::render::escape::preview(&[], &data, 200),
                    shown_cut(data.len(), len)
                );
                let to = match name {
                    "sendto" => call.sockaddr().map(|a| format!(" to {a}")),
                    _ => None,
                }
                .unwrap_or_default();
                let _ = match &call.ret {
                    Ret::Value(v, _) => {
                        write!(text, "{short}({label}, {len} bytes {shown}{to}) -> {v}")
                    }
                    other => write!(
                        text,
                        "{short}({label}, {len} bytes {shown}{to}) -> {}",
                        result(other)
                    ),
                };
                call.entry_ns
            }
            "recvfrom" | "recvmsg" | "recvmmsg" | "read" | "readv" if on_socket => {
                let short = if name == "recvfrom" || name == "recvmsg" {
                    "recv"
                } else {
                    name
                };
                // The buffer size: the third argument of recvfrom and read
                // (the buffer itself is a hex string without commas).
                let max = call
                    .args
                    .split(", ")
                    .nth(2)
                    .filter(|a| a.parse::<u64>().is_ok())
                    .unwrap_or("?")
                    .to_string();
                let key = fd.and_then(|(_, d)| d).unwrap_or_default().to_string();
                let _ = match &call.ret {
                    Ret::Value(0, _) if on_udp(call) => write!(
                        text,
                        "{short}({label}, {max}) -> 0 bytes: an empty datagram (UDP has no FIN)"
                    ),
                    Ret::Value(0, _) => write!(
                        text,
                        "{short}({label}, {max}) -> 0 bytes: the peer closed its side (FIN)"
                    ),
                    Ret::Value(v, _) => {
                        let data = call.buffers();
                        let carry = self.carries.entry(key).or_default();
                        let shown = describe_chunk(carry, &data);
                        let cut =
                            u64::try_from(*v).map_or(String::new(), |n| shown_cut(data.len(), n));
                        // recvfrom on UDP: the sender's address.
                        let from = match name {
                            "recvfrom" => call.sockaddr().map(|a| format!(" from {a}")),
                            _ => None,
                        }
                        .unwrap_or_default();
                        write!(
                            text,
                            "{short}({label}, {max}) -> {v} bytes {shown}{cut}{from}"
                        )
                    }
                    other => write!(text, "{short}({label}, {max}) -> {}", result(other)),
                };
                call.exit_ns()
            }
            "shutdown" if on_socket => {
                let how = call.args.rsplit(", ").next().unwrap_or("?");
                let _ = write!(text, "shutdown({label}, {how}) -> {}", result(&call.ret));
                call.entry_ns
            }
            "close" if on_socket => {
                if let Some((_, Some(d))) = fd {
                    self.carries.remove(d);
                }
                let _ = write!(text, "close({label}) -> {}", result(&call.ret));
                call.entry_ns
            }
            "setsockopt" if on_socket => {
                let rest: Vec<&str> = call.args.split(", ").skip(1).take(3).collect();
                let _ = write!(
                    text,
                    "setsockopt({label}, {}) -> {}",
                    rest.join(", "),
                    result(&call.ret)
                );
                call.entry_ns
            }
            "poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait" => {
                let _ = match &call.ret {
                    Ret::Value(v, _) => write!(text, "{name}() -> {v} ready"),
                    other => write!(text, "{name}() -> {}", result(other)),
                };
                call.exit_ns()
            }
            "clone" | "clone3" | "fork" | "vfork" => {
                let Ret::Value(child, _) = call.ret else {
                    return None;
                };
                let what = if call.args.contains("CLONE_THREAD") {
                    "thread"
                } else {
                    "process"
                };
                let _ = write!(text, "{name}() -> new {what} {child}");
                call.exit_ns()
            }
            _ => return None,
        };
        Some((ts, text))
    }
}

#[cfg(test)]
mod tests {
    use super::strace::Parser;
    use super::Describer;

    fn one(d: &mut Describer, line: &str) -> Option<(i64, String)> {
        let call = Parser::default().line(line).expect("parses");
        d.describe(&call).map(|(ts, text, _)| (ts, text))
    }

    #[test]
    fn send_is_placed_at_entry_recv_at_return_with_the_cut_character() {
        let mut d = Describer::default();
        let (ts, text) = one(&mut d, r#"1 10.0 sendto(5<TCP:[127.0.0.1:40000->127.0.0.1:12333]>, "\xce\xb3\xce\xb5", 4, 0, NULL, 0) = 4 <0.5>"#).unwrap();
        assert_eq!(ts, 10_000_000_000);
        assert_eq!(
            text,
            r#"[pid 1] send(fd 5 127.0.0.1:40000->127.0.0.1:12333, 4 bytes "γε") -> 4"#
        );
        let (ts, text) = one(&mut d, r#"2 10.0 recvfrom(4<TCP:[127.0.0.1:12333->127.0.0.1:40000]>, "\xce\xb3\xce", 3, 0, NULL, NULL) = 3 <0.25>"#).unwrap();
        assert_eq!(ts, 10_250_000_000);
        assert!(
            text.starts_with(
                r#"[pid 2] recv(fd 4 127.0.0.1:12333->127.0.0.1:40000, 3) -> 3 bytes "γ"#
            ),
            "{text}"
        );
        assert!(text.contains("ce"), "the cut byte is named: {text}");
        let (_, text) = one(&mut d, r#"2 10.5 recvfrom(4<TCP:[127.0.0.1:12333->127.0.0.1:40000]>, "\xb5", 3, 0, NULL, NULL) = 1 <0.1>"#).unwrap();
        assert!(text.contains("completes a character"), "{text}");
    }

    // See: issue 16. The address argument of sendto/recvfrom is not data;
    // counts are the call's, not the length of what strace showed; a
    // zero-length UDP datagram is not a FIN. (Lines from strace 6 on a
    // Python UDP and TCP program.)
    #[test]
    fn udp_sendto_recvfrom_and_large_sends_are_counted_by_the_call() {
        let mut d = Describer::default();
        let (_, text) = one(&mut d, r#"7 1.0 sendto(4<UDP:[5811928]>, "hi", 2, 0, {sa_family=AF_INET, sin_port=htons(60244), sin_addr=inet_addr("127.0.0.1")}, 16) = 2 <0.002767>"#).unwrap();
        assert_eq!(
            text,
            r#"[pid 7] send(fd 4, 2 bytes "hi" to 127.0.0.1:60244) -> 2"#
        );
        let (_, text) = one(&mut d, r#"7 1.1 recvfrom(3<UDP:[127.0.0.1:60244]>, "hi", 100, 0, {sa_family=AF_INET, sin_port=htons(56773), sin_addr=inet_addr("127.0.0.1")}, [16]) = 2 <0.000085>"#).unwrap();
        assert!(
            text.ends_with(r#"-> 2 bytes "hi" from 127.0.0.1:56773"#),
            "{text}"
        );
        let call = Parser::default().line(r#"7 1.2 recvfrom(3<UDP:[127.0.0.1:60244]>, "", 100, 0, {sa_family=AF_INET, sin_port=htons(56773), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0 <0.000027>"#).unwrap();
        let (_, text, anchor) = d.describe(&call).unwrap();
        assert!(text.contains("an empty datagram"), "{text}");
        assert!(!text.contains("peer closed"), "{text}");
        assert!(
            matches!(anchor, super::Anchor::Time),
            "an empty datagram is placed by time, not tied to a FIN"
        );
        // 100,000 bytes sent, 4 shown (strace's -s cut them): the count is the call's.
        let (_, text) = one(&mut d, r#"7 1.3 sendto(6<TCP:[127.0.0.1:52906->127.0.0.1:42535]>, "xxxx"..., 100000, 0, NULL, 0) = 100000 <0.000275>"#).unwrap();
        assert!(
            text.contains(r#"100000 bytes "xxxx" (first 4 of 100000 bytes shown)) -> 100000"#),
            "{text}"
        );
    }

    // See: issue 16: Ctrl-C during accept() interrupts it; the process goes on.
    #[test]
    fn a_call_interrupted_by_a_signal_is_not_the_process_ending() {
        let mut d = Describer::default();
        let (_, text) = one(&mut d, "9 1.0 accept4(3<TCP:[127.0.0.1:45853]>, 0x7ffc1e18bd20, [16], SOCK_CLOEXEC) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.130230>").unwrap();
        assert_eq!(
            text,
            "[pid 9] accept(fd 3 127.0.0.1:45853) -> interrupted by a signal (ERESTARTSYS)"
        );
    }

    #[test]
    fn files_and_unix_sockets_are_left_out() {
        let mut d = Describer::default();
        assert!(one(
            &mut d,
            r#"1 1.0 read(3<\x2f\x65\x74\x63>, "\x23", 4096) = 1 <0.1>"#
        )
        .is_none());
        assert!(one(
            &mut d,
            "1 1.0 socket(AF_UNIX, SOCK_STREAM, 0) = 3<UNIX:[1]> <0.1>"
        )
        .is_none());
    }

    #[test]
    fn refused_connect_and_new_thread() {
        let mut d = Describer::default();
        let (_, text) = one(&mut d, r#"1 1.0 connect(4<TCP:[33198570]>, {sa_family=AF_INET, sin_port=htons(23778), sin_addr=inet_addr("\x31\x32\x37\x2e\x30\x2e\x30\x2e\x31")}, 16) = -1 ECONNREFUSED (Connection refused) <0.000032>"#).unwrap();
        assert_eq!(
            text,
            "[pid 1] connect(fd 4, 127.0.0.1:23778) -> ECONNREFUSED (Connection refused)"
        );
        let (_, text) = one(
            &mut d,
            "1 1.0 clone3({flags=CLONE_VM|CLONE_FS|CLONE_THREAD, exit_signal=0}, 88) = 77 <0.1>",
        )
        .unwrap();
        assert_eq!(text, "[pid 1] clone3() -> new thread 77");
    }
}

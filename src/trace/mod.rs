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

mod processes;
pub mod strace;

use std::collections::HashMap;
use std::net::SocketAddr;

use self::strace::{Ret, Syscall};
use crate::call::{Bytes, Call, Child, ChildKind, Op, Outcome, Returned, SocketKind};

/// The system calls traced: all socket calls, plus the generic ones that
/// programs use on sockets too, waits, and new processes and threads.
pub const TRACED: &str = "%network,read,write,readv,writev,close,poll,ppoll,select,pselect6,\
epoll_wait,epoll_pwait,clone,clone3,fork,vfork,execve";

/// Whether this strace (from `strace -V`'s first line, `strace -- version
/// 6.1`) has `--seccomp-bpf`, which stops the program only at the traced
/// calls: strace 5.3 and later.
pub fn seccomp_bpf(version: &str) -> bool {
    let Some(number) = version
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().last())
    else {
        return false;
    };
    let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 3)
}

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
            .map_or(ts, |p| crate::time::before(p.ts_ns, 1)),
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
            .map_or(ts, |p| ts.min(crate::time::before(p.ts_ns, 1))),
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
    actor: String,
    carries: HashMap<String, Vec<u8>>,
    ports: std::collections::HashSet<u16>,
    processes: processes::Processes,
}

/// The call's first argument is a UDP socket.
fn on_udp(call: &Syscall) -> bool {
    call.fd()
        .and_then(|(_, d)| d)
        .is_some_and(|d| d.starts_with("UDP"))
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

/// The socket's own address and its peer's, from its `-yy` decoration (a
/// bound socket has only its own; a new one only an inode number).
fn ends(decoration: Option<&str>) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let Some(a) = decoration.map(addresses) else {
        return (None, None);
    };
    match a.split_once("->") {
        Some((l, r)) => (l.parse().ok(), r.parse().ok()),
        None => (a.parse().ok(), None),
    }
}

fn outcome(ret: &Ret) -> Outcome {
    match ret {
        Ret::Value(v, _) => Outcome::Ok(Returned {
            value: Some(*v),
            ..Returned::default()
        }),
        Ret::Error { errno, text } => Outcome::Error {
            errno: errno.clone(),
            text: text.clone(),
        },
        Ret::Unknown => Outcome::ProcessEnded,
        Ret::Interrupted { errno } => Outcome::Interrupted {
            errno: errno.clone(),
        },
    }
}

impl Describer {
    /// Calls of the processes of `actor` (the traced command).
    pub fn new(actor: &str) -> Describer {
        Describer {
            actor: actor.to_string(),
            ..Describer::default()
        }
    }

    /// The ports the program's sockets used (local and remote, from their
    /// addresses and from bind/connect), to keep only its traffic.
    pub fn ports(&self) -> std::collections::HashSet<u16> {
        self.ports.clone()
    }

    /// The call as data, with where it belongs among the packets; `None`
    /// for calls that are not about an internet socket. Its `ts_ns` is
    /// strace's time for it, before [`place`].
    pub fn describe(&mut self, call: &Syscall) -> Option<(Call, Anchor)> {
        let mut described = self.call(call)?;
        self.processes.saw(&mut described);
        if let Some(name) = self.processes.name(call.pid) {
            described.actor = name.to_string();
        }
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
        Some((described, anchor))
    }

    /// Process `pid` ended: the sockets it left open, which the kernel
    /// closes, each placed before the FIN or RST that follows.
    pub fn ended(&mut self, pid: u32, ts_ns: i64, how: &strace::Ending) -> Vec<(Call, Anchor)> {
        let (status, signal) = match how {
            strace::Ending::Exited(code) => (Some(*code), None),
            strace::Ending::Killed(signal) => (None, Some(signal.as_str())),
        };
        let actor = self
            .processes
            .name(pid)
            .map_or_else(|| self.actor.clone(), str::to_string);
        self.processes
            .ended(pid, ts_ns, status, signal)
            .into_iter()
            .map(|mut call| {
                call.actor.clone_from(&actor);
                let anchor = match (call.local, call.remote) {
                    (Some(from), Some(to)) if call.socket == Some(SocketKind::Tcp) => {
                        Anchor::BeforeFin { from, to }
                    }
                    _ => Anchor::Time,
                };
                (call, anchor)
            })
            .collect()
    }

    /// The calls to show: process and thread creation only on the way to
    /// the processes that use sockets, and a program start (execve) only
    /// for those; how many processes and threads were left out.
    pub fn finish(&self, calls: Vec<(Call, Anchor)>) -> (Vec<(Call, Anchor)>, u64, u64) {
        let plain: Vec<Call> = calls.iter().map(|(c, _)| c.clone()).collect();
        let keep = self.processes.with_sockets(&plain);
        let (mut processes, mut threads) = (0, 0);
        let mut last_execve: HashMap<u32, i64> = HashMap::new();
        for (c, _) in &calls {
            if let (Op::Execve, Some(pid)) = (c.op, c.pid) {
                last_execve.insert(pid, c.ts_ns);
            }
        }
        let shown = calls
            .into_iter()
            .filter(|(c, _)| {
                let child = c.returned().and_then(|r| r.child);
                match (c.op, child) {
                    (op, Some(child)) if op.spawns() => {
                        let shown = keep.contains(&child.pid);
                        if !shown {
                            match child.kind {
                                ChildKind::Process => processes += 1,
                                ChildKind::Thread => threads += 1,
                            }
                        }
                        shown
                    }
                    (Op::Execve, _) => c.pid.is_some_and(|pid| {
                        keep.contains(&pid) && last_execve.get(&pid) == Some(&c.ts_ns)
                    }),
                    _ => true,
                }
            })
            .collect();
        (shown, processes, threads)
    }

    /// One strace line as a [`Call`]: its socket, arguments and result as
    /// fields (strace's text is parsed once, here).
    fn call(&mut self, call: &Syscall) -> Option<Call> {
        let op = Op::from_syscall(&call.name)?;
        let fd = call.fd();
        let decoration = fd.and_then(|(_, d)| d);
        let on_socket = is_inet(decoration);
        let mut out = Call::new(op);
        out.actor.clone_from(&self.actor);
        out.pid = Some(call.pid);
        out.outcome = outcome(&call.ret);
        if let Some((n, d)) = fd.filter(|_| on_socket) {
            let (local, remote) = ends(d);
            out = out.fd(n).ends(local, remote);
            out.socket = Some(if on_udp(call) {
                SocketKind::Udp
            } else {
                SocketKind::Tcp
            });
        }
        let sockaddr = || call.sockaddr().and_then(|a| a.parse::<SocketAddr>().ok());
        // A send is seen when it starts (its segment follows); everything
        // else when it returns (after the packet that woke it).
        out.ts_ns = if op.sends()
            || matches!(
                op,
                Op::Bind | Op::Listen | Op::Shutdown | Op::Close | Op::Setsockopt
            ) {
            call.entry_ns
        } else {
            call.exit_ns()
        };
        match op {
            Op::Socket => {
                let family = if call.args.starts_with("AF_INET6,") {
                    "AF_INET6"
                } else if call.args.starts_with("AF_INET,") {
                    "AF_INET"
                } else {
                    return None;
                };
                let kind = call.args.split(", ").nth(1).unwrap_or("");
                out.args.family = Some(family);
                out.args.kind = Some(if kind.starts_with("SOCK_DGRAM") {
                    "SOCK_DGRAM"
                } else if kind.starts_with("SOCK_STREAM") {
                    "SOCK_STREAM"
                } else {
                    "SOCK_RAW"
                });
                out.args.nonblocking = kind.contains("SOCK_NONBLOCK");
                if let Outcome::Ok(r) = &mut out.outcome {
                    r.fd = r.value.and_then(|v| i32::try_from(v).ok());
                }
            }
            _ if op.waits() => {}
            _ if op.spawns() => {
                let Ret::Value(child, _) = call.ret else {
                    return None;
                };
                let kind = if call.args.contains("CLONE_THREAD") {
                    ChildKind::Thread
                } else {
                    ChildKind::Process
                };
                if let Outcome::Ok(r) = &mut out.outcome {
                    r.child = u32::try_from(child).ok().map(|pid| Child { pid, kind });
                }
            }
            Op::Execve => {
                // A label, not a shell line: paths shortened to their last
                // part ("python3 server.py 8080").
                let argv: Vec<String> = call
                    .argv()
                    .into_iter()
                    .map(|a| match a.rsplit_once('/') {
                        Some((_, last)) if !a.starts_with('-') && !last.is_empty() => {
                            last.to_string()
                        }
                        _ => a,
                    })
                    .collect();
                let mut command = argv.join(" ");
                if command.chars().count() > 80 {
                    command = command.chars().take(79).collect::<String>() + "…";
                }
                out.args.command = Some(command);
            }
            _ if !on_socket => return None,
            Op::Bind | Op::Connect => out.args.addr = sockaddr(),
            Op::Listen => {
                out.args.backlog = call.args.rsplit(", ").next().and_then(|b| b.parse().ok());
            }
            Op::Accept | Op::Accept4 => {
                if let (Outcome::Ok(r), Ret::Value(v, d)) = (&mut out.outcome, &call.ret) {
                    r.fd = i32::try_from(*v).ok();
                    (r.local, r.peer) = ends(d.as_deref());
                }
            }
            _ if op.sends() => {
                let shown = call.buffers();
                // The count is the program's (the length argument), not
                // the length of what strace showed.
                let len = call.length().unwrap_or(shown.len() as u64);
                out.args.data = Some(Bytes::plain(&shown, len));
                if op == Op::Sendto {
                    out.args.addr = sockaddr();
                }
            }
            _ if op.receives() => {
                // The buffer size: the third argument of recvfrom and read
                // (the buffer itself is a hex string without commas).
                out.args.size = call.args.split(", ").nth(2).and_then(|a| a.parse().ok());
                let key = decoration.unwrap_or_default().to_string();
                if let (Outcome::Ok(r), Ret::Value(v, _)) = (&mut out.outcome, &call.ret) {
                    if *v > 0 {
                        let carry = self.carries.entry(key).or_default();
                        let total = u64::try_from(*v).unwrap_or(0);
                        r.data = Some(Bytes::received(carry, &call.buffers(), total));
                        if op == Op::Recvfrom {
                            r.peer = sockaddr();
                        }
                    }
                }
            }
            Op::Shutdown => {
                out.args.how = match call.args.rsplit(", ").next() {
                    Some("SHUT_RD") => Some("SHUT_RD"),
                    Some("SHUT_WR") => Some("SHUT_WR"),
                    Some("SHUT_RDWR") => Some("SHUT_RDWR"),
                    _ => None,
                };
            }
            Op::Close => {
                if let Some(d) = decoration {
                    self.carries.remove(d);
                }
            }
            Op::Setsockopt => {
                // setsockopt(fd, LEVEL, NAME, VALUE, LEN): name and value.
                let rest: Vec<&str> = call.args.splitn(4, ", ").skip(2).collect();
                if let [name, value_len] = rest.as_slice() {
                    let value = value_len.rsplit_once(", ").map_or(*value_len, |(v, _)| v);
                    let value = value.trim_start_matches('[').trim_end_matches(']');
                    out.args.option = Some((name.to_string(), value.to_string()));
                }
            }
            _ => {}
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::strace::Parser;
    use super::{Anchor, Describer};
    use crate::call::{Call, ChildKind, Op, Outcome, SocketKind};

    fn one(d: &mut Describer, line: &str) -> Option<Call> {
        let call = Parser::default().line(line).expect("parses");
        d.describe(&call).map(|(call, _)| call)
    }

    fn addr(text: &str) -> Option<std::net::SocketAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn send_is_placed_at_entry_recv_at_return_with_the_cut_character() {
        let mut d = Describer::new("python3");
        let c = one(&mut d, r#"1 10.0 sendto(5<TCP:[127.0.0.1:40000->127.0.0.1:12333]>, "\xce\xb3\xce\xb5", 4, 0, NULL, 0) = 4 <0.5>"#).unwrap();
        assert_eq!(c.ts_ns, 10_000_000_000);
        assert_eq!((c.op, c.pid, c.fd), (Op::Sendto, Some(1), Some(5)));
        assert_eq!(c.actor, "python3");
        assert_eq!(
            (c.local, c.remote),
            (addr("127.0.0.1:40000"), addr("127.0.0.1:12333"))
        );
        let data = c.args.data.as_ref().unwrap();
        assert_eq!((data.shown.as_slice(), data.total), ("γε".as_bytes(), 4));
        assert_eq!(c.returned().unwrap().value, Some(4));
        let c = one(&mut d, r#"2 10.0 recvfrom(4<TCP:[127.0.0.1:12333->127.0.0.1:40000]>, "\xce\xb3\xce", 3, 0, NULL, NULL) = 3 <0.25>"#).unwrap();
        assert_eq!(c.ts_ns, 10_250_000_000);
        assert_eq!(c.args.size, Some(3));
        let got = c.returned().unwrap().data.clone().unwrap();
        assert_eq!(got.shown, "γ".as_bytes());
        assert_eq!(
            got.cut.as_slice(),
            [0xce],
            "the cut byte is kept for the next recv"
        );
        let c = one(&mut d, r#"2 10.5 recvfrom(4<TCP:[127.0.0.1:12333->127.0.0.1:40000]>, "\xb5", 3, 0, NULL, NULL) = 1 <0.1>"#).unwrap();
        let got = c.returned().unwrap().data.clone().unwrap();
        assert_eq!((got.carried_in, got.shown.as_slice()), (1, "ε".as_bytes()));
    }

    // See: issue 16. The address argument of sendto/recvfrom is not data;
    // counts are the call's, not the length of what strace showed; a
    // zero-length UDP datagram is not a FIN. (Lines from strace 6 on a
    // Python UDP and TCP program.)
    #[test]
    fn udp_sendto_recvfrom_and_large_sends_are_counted_by_the_call() {
        let mut d = Describer::new("python3");
        let c = one(&mut d, r#"7 1.0 sendto(4<UDP:[5811928]>, "hi", 2, 0, {sa_family=AF_INET, sin_port=htons(60244), sin_addr=inet_addr("127.0.0.1")}, 16) = 2 <0.002767>"#).unwrap();
        assert_eq!(c.socket, Some(SocketKind::Udp));
        assert_eq!(c.args.data.as_ref().unwrap().shown, b"hi");
        assert_eq!(c.args.addr, addr("127.0.0.1:60244"));
        assert_eq!((c.local, c.remote), (None, None), "an inode is no address");
        let c = one(&mut d, r#"7 1.1 recvfrom(3<UDP:[127.0.0.1:60244]>, "hi", 100, 0, {sa_family=AF_INET, sin_port=htons(56773), sin_addr=inet_addr("127.0.0.1")}, [16]) = 2 <0.000085>"#).unwrap();
        assert_eq!(c.local, addr("127.0.0.1:60244"));
        let r = c.returned().unwrap();
        assert_eq!(r.data.as_ref().unwrap().shown, b"hi");
        assert_eq!(r.peer, addr("127.0.0.1:56773"));
        let call = Parser::default().line(r#"7 1.2 recvfrom(3<UDP:[127.0.0.1:60244]>, "", 100, 0, {sa_family=AF_INET, sin_port=htons(56773), sin_addr=inet_addr("127.0.0.1")}, [16]) = 0 <0.000027>"#).unwrap();
        let (c, anchor) = d.describe(&call).unwrap();
        assert_eq!(c.returned().unwrap().value, Some(0));
        assert_eq!(c.socket, Some(SocketKind::Udp));
        assert!(
            matches!(anchor, Anchor::Time),
            "an empty datagram is placed by time, not tied to a FIN"
        );
        // 100,000 bytes sent, 4 shown (strace's -s cut them): the count is the call's.
        let c = one(&mut d, r#"7 1.3 sendto(6<TCP:[127.0.0.1:52906->127.0.0.1:42535]>, "xxxx"..., 100000, 0, NULL, 0) = 100000 <0.000275>"#).unwrap();
        let data = c.args.data.as_ref().unwrap();
        assert_eq!((data.shown.len(), data.total), (4, 100_000));
        assert_eq!(c.returned().unwrap().value, Some(100_000));
    }

    // See: issue 16: Ctrl-C during accept() interrupts it; the process goes on.
    #[test]
    fn a_call_interrupted_by_a_signal_is_not_the_process_ending() {
        let mut d = Describer::default();
        let c = one(&mut d, "9 1.0 accept4(3<TCP:[127.0.0.1:45853]>, 0x7ffc1e18bd20, [16], SOCK_CLOEXEC) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.130230>").unwrap();
        assert_eq!(c.op, Op::Accept4);
        assert_eq!(
            c.outcome,
            Outcome::Interrupted {
                errno: "ERESTARTSYS".into()
            }
        );
    }

    #[test]
    fn seccomp_bpf_from_strace_5_3() {
        assert!(super::seccomp_bpf("strace -- version 6.1\nCopyright"));
        assert!(super::seccomp_bpf("strace -- version 5.3"));
        assert!(!super::seccomp_bpf("strace -- version 4.26"));
        assert!(!super::seccomp_bpf(""));
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
    fn refused_connect_new_thread_and_socket_options() {
        let mut d = Describer::default();
        let c = one(&mut d, r#"1 1.0 connect(4<TCP:[33198570]>, {sa_family=AF_INET, sin_port=htons(23778), sin_addr=inet_addr("\x31\x32\x37\x2e\x30\x2e\x30\x2e\x31")}, 16) = -1 ECONNREFUSED (Connection refused) <0.000032>"#).unwrap();
        assert_eq!(c.args.addr, addr("127.0.0.1:23778"));
        assert_eq!(c.errno(), Some("ECONNREFUSED"));
        let c = one(
            &mut d,
            "1 1.0 clone3({flags=CLONE_VM|CLONE_FS|CLONE_THREAD, exit_signal=0}, 88) = 77 <0.1>",
        )
        .unwrap();
        let child = c.returned().unwrap().child.unwrap();
        assert_eq!((child.pid, child.kind), (77, ChildKind::Thread));
        let c = one(&mut d, "1 1.0 setsockopt(3<TCP:[127.0.0.1:5000->127.0.0.1:6000]>, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0 <0.1>").unwrap();
        assert_eq!(
            c.args.option,
            Some(("SO_LINGER".into(), "{l_onoff=1, l_linger=0}".into()))
        );
        let c = one(&mut d, "1 1.0 socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_TCP) = 3<TCPv6:[9]> <0.1>").unwrap();
        assert_eq!(
            (c.args.family, c.args.kind, c.args.nonblocking),
            (Some("AF_INET6"), Some("SOCK_STREAM"), true)
        );
        assert_eq!(c.returned().unwrap().fd, Some(3));
    }
}

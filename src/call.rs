//! Socket calls as data, from both recorders: wirelab's own programs
//! ([`crate::sockets::Calls`]) and a traced program ([`crate::trace`], from
//! strace). A timeline merges them with the packets by time; the tracker
//! takes causes from them (a FIN after the close() that sent it);
//! [`crate::render::explain::call_text`] writes them as text and JSON
//! `kind:"call"` rows carry the fields (docs/json-schema.md).

use std::net::SocketAddr;

use serde::Serialize;

use crate::timeline::Utf8Carry;

/// The call, by the name a man page gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Socket,
    Setsockopt,
    Getsockopt,
    Getsockname,
    Bind,
    Listen,
    Accept,
    Accept4,
    Connect,
    Send,
    Sendto,
    Sendmsg,
    Sendmmsg,
    Write,
    Writev,
    Recv,
    Recvfrom,
    Recvmsg,
    Recvmmsg,
    Read,
    Readv,
    Shutdown,
    Close,
    Poll,
    Ppoll,
    Select,
    Pselect6,
    EpollWait,
    EpollPwait,
    Clone,
    Clone3,
    Fork,
    Vfork,
    /// Name resolution (a library call, not a system call).
    Getaddrinfo,
    /// The process runs a new program (trace).
    Execve,
    /// Not a call: the process ended with this socket open, and the
    /// kernel closes it (trace).
    ProcessExit,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Socket => "socket",
            Op::Setsockopt => "setsockopt",
            Op::Getsockopt => "getsockopt",
            Op::Getsockname => "getsockname",
            Op::Bind => "bind",
            Op::Listen => "listen",
            Op::Accept => "accept",
            Op::Accept4 => "accept4",
            Op::Connect => "connect",
            Op::Send => "send",
            Op::Sendto => "sendto",
            Op::Sendmsg => "sendmsg",
            Op::Sendmmsg => "sendmmsg",
            Op::Write => "write",
            Op::Writev => "writev",
            Op::Recv => "recv",
            Op::Recvfrom => "recvfrom",
            Op::Recvmsg => "recvmsg",
            Op::Recvmmsg => "recvmmsg",
            Op::Read => "read",
            Op::Readv => "readv",
            Op::Shutdown => "shutdown",
            Op::Close => "close",
            Op::Poll => "poll",
            Op::Ppoll => "ppoll",
            Op::Select => "select",
            Op::Pselect6 => "pselect6",
            Op::EpollWait => "epoll_wait",
            Op::EpollPwait => "epoll_pwait",
            Op::Clone => "clone",
            Op::Clone3 => "clone3",
            Op::Fork => "fork",
            Op::Vfork => "vfork",
            Op::Getaddrinfo => "getaddrinfo",
            Op::Execve => "execve",
            Op::ProcessExit => "exit",
        }
    }

    /// The system call strace names `name`, if it is one a timeline shows.
    pub fn from_syscall(name: &str) -> Option<Op> {
        Some(match name {
            "socket" => Op::Socket,
            "setsockopt" => Op::Setsockopt,
            "getsockopt" => Op::Getsockopt,
            "getsockname" => Op::Getsockname,
            "bind" => Op::Bind,
            "listen" => Op::Listen,
            "accept" => Op::Accept,
            "accept4" => Op::Accept4,
            "connect" => Op::Connect,
            "send" => Op::Send,
            "sendto" => Op::Sendto,
            "sendmsg" => Op::Sendmsg,
            "sendmmsg" => Op::Sendmmsg,
            "write" => Op::Write,
            "writev" => Op::Writev,
            "recv" => Op::Recv,
            "recvfrom" => Op::Recvfrom,
            "recvmsg" => Op::Recvmsg,
            "recvmmsg" => Op::Recvmmsg,
            "read" => Op::Read,
            "readv" => Op::Readv,
            "shutdown" => Op::Shutdown,
            "close" => Op::Close,
            "poll" => Op::Poll,
            "ppoll" => Op::Ppoll,
            "select" => Op::Select,
            "pselect6" => Op::Pselect6,
            "epoll_wait" => Op::EpollWait,
            "epoll_pwait" => Op::EpollPwait,
            "clone" => Op::Clone,
            "clone3" => Op::Clone3,
            "fork" => Op::Fork,
            "vfork" => Op::Vfork,
            "execve" => Op::Execve,
            _ => return None,
        })
    }

    /// Hands bytes to the kernel to send.
    pub fn sends(self) -> bool {
        matches!(
            self,
            Op::Send | Op::Sendto | Op::Sendmsg | Op::Sendmmsg | Op::Write | Op::Writev
        )
    }

    /// Takes received bytes from the kernel.
    pub fn receives(self) -> bool {
        matches!(
            self,
            Op::Recv | Op::Recvfrom | Op::Recvmsg | Op::Recvmmsg | Op::Read | Op::Readv
        )
    }

    /// Waits for one of several sockets to be ready.
    pub fn waits(self) -> bool {
        matches!(
            self,
            Op::Poll | Op::Ppoll | Op::Select | Op::Pselect6 | Op::EpollWait | Op::EpollPwait
        )
    }

    /// Creates a process or a thread.
    pub fn spawns(self) -> bool {
        matches!(self, Op::Clone | Op::Clone3 | Op::Fork | Op::Vfork)
    }
}

/// Bytes a call moved: as many as were shown (strace cuts long strings),
/// out of how many, and where a multi-byte UTF-8 character was cut by the
/// call's boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bytes {
    /// The bytes, less the start of a character cut at the end (`cut`),
    /// plus, in front, the start carried over from the previous call.
    pub shown: Vec<u8>,
    /// How many bytes the call moved.
    pub total: u64,
    /// How many bytes in front of `shown` a previous call received (the
    /// start of a character it cut, which this call completes).
    pub carried_in: u8,
    /// The start of a character whose other bytes come with the next call.
    pub cut: Utf8Carry,
}

impl Bytes {
    /// Bytes with no character carried in or out (what a send hands over).
    pub fn plain(shown: &[u8], total: u64) -> Bytes {
        Bytes {
            shown: shown.to_vec(),
            total,
            carried_in: 0,
            cut: Utf8Carry::default(),
        }
    }

    /// How many of the shown bytes this call itself moved.
    pub fn shown_in_call(&self) -> usize {
        (self.shown.len() + usize::from(self.cut.len)).saturating_sub(usize::from(self.carried_in))
    }

    /// Received bytes, read against `carry` (the start of a character the
    /// previous read on this socket cut), which is updated for the next.
    pub fn received(carry: &mut Vec<u8>, chunk: &[u8], total: u64) -> Bytes {
        let mut bytes = std::mem::take(carry);
        let carried_in = bytes.len() as u8;
        bytes.extend_from_slice(chunk);
        let cut = Utf8Carry::trailing(&bytes);
        bytes.truncate(bytes.len() - usize::from(cut.len));
        carry.extend_from_slice(cut.as_slice());
        Bytes {
            shown: bytes,
            total,
            carried_in,
            cut,
        }
    }
}

/// What a call was given, beyond its socket. Each field is there only for
/// the calls that take it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// socket(): `AF_INET`, `AF_INET6`.
    pub family: Option<&'static str>,
    /// socket(): `SOCK_STREAM`, `SOCK_DGRAM`.
    pub kind: Option<&'static str>,
    /// socket(): SOCK_NONBLOCK.
    pub nonblocking: bool,
    /// bind, connect: the address; sendto: the destination.
    pub addr: Option<SocketAddr>,
    /// send: the bytes handed over (`total` is the length argument).
    pub data: Option<Bytes>,
    /// recv: the buffer size.
    pub size: Option<u64>,
    pub backlog: Option<i64>,
    /// shutdown: `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`.
    pub how: Option<&'static str>,
    /// setsockopt: the option's name and value as the man page writes
    /// them (`SO_LINGER`, `{l_onoff=1, l_linger=0}`).
    pub option: Option<(String, String)>,
    /// getaddrinfo: the name and port looked up.
    pub host: Option<(String, u16)>,
    /// execve: the program and its arguments.
    pub command: Option<String>,
    /// The process's end (for `ProcessExit`): its exit status, or the
    /// signal that killed it.
    pub exit_status: Option<i32>,
    pub signal: Option<String>,
}

/// What a call returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Returned {
    /// The return value (bytes moved, ready descriptors, 0 for ok).
    pub value: Option<i64>,
    /// socket, accept: the new descriptor.
    pub fd: Option<i32>,
    /// accept: the peer; recvfrom: the sender.
    pub peer: Option<SocketAddr>,
    /// connect, accept, bind to port 0: the local address the kernel chose.
    pub local: Option<SocketAddr>,
    /// recv: the bytes received.
    pub data: Option<Bytes>,
    /// recvfrom on UDP: the datagram's whole length when the buffer was
    /// smaller (the rest was discarded).
    pub datagram_len: Option<u64>,
    /// clone/fork: the new process or thread.
    pub child: Option<Child>,
    /// getaddrinfo: the addresses found.
    pub addrs: Vec<SocketAddr>,
    /// recv on TCP: how many of the peer's send() calls its bytes came
    /// from, when the peer's calls are known too (set by the tracker).
    pub from_sends: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    Process,
    Thread,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub pid: u32,
    pub kind: ChildKind,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(Returned),
    /// It failed: the errno's symbolic name (`ECONNREFUSED`) and the
    /// system's text for it.
    Error {
        errno: String,
        text: String,
    },
    /// A signal interrupted it (strace's `ERESTARTSYS`): the kernel
    /// restarts it or it fails with EINTR.
    Interrupted {
        errno: String,
    },
    /// The process ended inside the call.
    ProcessEnded,
}

/// The kind of socket the call was made on, when the recorder knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketKind {
    Tcp,
    Udp,
}

/// One socket call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When the call's effect was visible, ns since the epoch (the packet
    /// clock): a send at entry, a recv or connect at return.
    pub ts_ns: i64,
    /// Who made it: `client`, `server`, `client 2`; under trace, the
    /// traced command.
    pub actor: String,
    /// The process, under trace.
    pub pid: Option<u32>,
    pub op: Op,
    /// The socket's descriptor, when the recorder knows it.
    pub fd: Option<i32>,
    pub socket: Option<SocketKind>,
    /// The socket's own address and its peer's when the call was made.
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub args: Args,
    pub outcome: Outcome,
    /// What a lab adds about this call, in its own words, shown after the
    /// result ("ACKed though nobody accepted").
    pub comment: Option<String>,
    /// close (or the process's end) of a TCP socket whose recv() had
    /// returned 0 this long before: it sat in CLOSE-WAIT meanwhile (trace).
    pub eof_since_ns: Option<i64>,
}

impl Call {
    /// A call about to be made by `op`, to be filled in and reported.
    pub fn new(op: Op) -> Call {
        Call {
            ts_ns: 0,
            actor: String::new(),
            pid: None,
            op,
            fd: None,
            socket: None,
            local: None,
            remote: None,
            args: Args::default(),
            outcome: Outcome::Ok(Returned::default()),
            comment: None,
            eof_since_ns: None,
        }
    }

    pub fn comment(mut self, text: impl Into<String>) -> Call {
        self.comment = Some(text.into());
        self
    }

    pub fn fd(mut self, fd: i32) -> Call {
        self.fd = Some(fd);
        self
    }

    pub fn on(mut self, kind: SocketKind) -> Call {
        self.socket = Some(kind);
        self
    }

    /// The socket's own address and its peer's.
    pub fn ends(mut self, local: Option<SocketAddr>, remote: Option<SocketAddr>) -> Call {
        self.local = local;
        self.remote = remote;
        self
    }

    pub fn addr(mut self, addr: SocketAddr) -> Call {
        self.args.addr = Some(addr);
        self
    }

    pub fn size(mut self, size: usize) -> Call {
        self.args.size = Some(size as u64);
        self
    }

    pub fn data(mut self, data: &[u8]) -> Call {
        self.args.data = Some(Bytes::plain(data, data.len() as u64));
        self
    }

    pub fn option(mut self, name: &str, value: impl Into<String>) -> Call {
        self.args.option = Some((name.to_string(), value.into()));
        self
    }

    /// The errno's symbolic name, if the call failed.
    pub fn errno(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Error { errno, .. } => Some(errno),
            _ => None,
        }
    }

    /// What it returned, if it succeeded.
    pub fn returned(&self) -> Option<&Returned> {
        match &self.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }

    pub fn returned_mut(&mut self) -> Option<&mut Returned> {
        match &mut self.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }
}

/// An event from the kernel's own record, placed among the packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLine {
    pub ts_ns: i64,
    pub event: crate::kernel::KernelEvent,
    /// The packet it is about, when the tracker found it (the RST a
    /// `sent_reset` explains).
    pub frame: Option<u64>,
    /// The conversation, and whether the socket is its client's.
    pub conn: Option<u64>,
    pub client_side: Option<bool>,
    /// For a state change: the state the tracker inferred for this socket
    /// from the packets so far, and the kernel's, put in the same terms
    /// (Linux reports a socket entering TIME-WAIT, or an orphan left in
    /// FIN-WAIT-2, as CLOSED).
    pub inferred: Option<crate::track::state::TcpState>,
    pub kernel_view: Option<crate::track::state::TcpState>,
    /// False for a state the kernel left again before the next packet:
    /// it is not compared with the packets.
    pub settled: bool,
}

/// Anything beside the packets: a program's calls, a lab's steps, other
/// lines (a socket-table snapshot, a server's note), the kernel's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Call(Box<Call>),
    Kernel(Box<KernelLine>),
    /// A lab's step, as the lab words it.
    Step {
        ts_ns: i64,
        text: String,
    },
    /// A line from a program or the lab (`ss` rows).
    Note {
        ts_ns: i64,
        actor: String,
        text: String,
    },
}

impl Line {
    pub fn ts_ns(&self) -> i64 {
        match self {
            Line::Call(c) => c.ts_ns,
            Line::Kernel(k) => k.ts_ns,
            Line::Step { ts_ns, .. } | Line::Note { ts_ns, .. } => *ts_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bytes;

    #[test]
    fn recv_of_three_bytes_splits_greek_letters() {
        // κ is ce ba, α is ce b1.
        let bytes = "καλημέρα".as_bytes();
        let mut carry = Vec::new();
        let first = Bytes::received(&mut carry, &bytes[..3], 3);
        assert_eq!(first.shown, "κ".as_bytes());
        assert_eq!(first.cut.as_slice(), [0xce]);
        assert_eq!(first.carried_in, 0);
        assert_eq!(first.shown_in_call(), 3);
        let second = Bytes::received(&mut carry, &bytes[3..6], 3);
        assert_eq!(second.carried_in, 1);
        assert_eq!(second.shown, "αλ".as_bytes()[..4].to_vec());
        assert_eq!(second.cut.len, 0);
        assert_eq!(second.shown_in_call(), 3);
    }
}

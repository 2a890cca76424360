//! The labs' echo programs (`wirelab serve`, `wirelab client`), built so
//! that every socket call shows itself: `bind(0.0.0.0:12333) -> EADDRINUSE
//! (Address already in use)`.
//!
//! Each call goes through [`Calls::run`], which prints the call and its
//! result and hands back a [`CallError`] carrying the errno, so tests assert
//! on what the kernel said, not on printed prose.

pub mod client;
pub mod proxy;
pub mod server;
pub mod shutdown;

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crate::call::{Call, Line, Op, Outcome, Returned, SocketKind};

/// The symbolic name of an errno value, as `errno(3)` lists it.
pub fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::EPIPE => "EPIPE",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EINVAL => "EINVAL",
        libc::EAGAIN => "EAGAIN",
        libc::EINTR => "EINTR",
        libc::ENOTCONN => "ENOTCONN",
        libc::EISCONN => "EISCONN",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EBADF => "EBADF",
        libc::EINPROGRESS => "EINPROGRESS",
        _ => "E?",
    }
}

/// The echo programs' tokio runtime: one thread, connections as tasks. Its
/// own descriptors (epoll, an eventfd) are made to sit above the first few,
/// which are held open meanwhile, so a program's first socket is still
/// fd 3, as in the students' own programs.
pub fn runtime() -> Result<tokio::runtime::Runtime, CallError> {
    let held: Vec<std::fs::File> = (0..16)
        .filter_map(|_| std::fs::File::open("/dev/null").ok())
        .collect();
    let built = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build();
    drop(held);
    built.map_err(|source| CallError {
        call: Box::new(Call::new(Op::Socket)),
        errno: source.raw_os_error(),
        source,
    })
}

/// A socket call that failed, with the errno the kernel returned.
#[derive(Debug)]
pub struct CallError {
    /// The call, its outcome the error.
    pub call: Box<Call>,
    pub errno: Option<i32>,
    pub source: io::Error,
}

impl CallError {
    pub fn errno_name(&self) -> &'static str {
        self.errno.map(errno_name).unwrap_or("error")
    }
}

/// The call itself was shown with the others; this is the one line on
/// stderr that says why the program stopped, not the call again.
impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::explain::failed_call_text(&self.call))
    }
}

impl std::error::Error for CallError {}

/// The OS's own text for an error, without Rust's " (os error N)" suffix.
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Socket calls and other lines waiting to be merged into a captured
/// timeline, in the order they happened.
pub type CallQueue = Arc<Mutex<Pending>>;

/// How long a packet may wait for a call that started before it and has
/// not returned yet (see [`Pending::waits_for`]).
const WAIT_FOR_CALL_NS: i64 = 20_000_000;

/// The lines not yet merged, and the calls still running.
#[derive(Debug, Default)]
pub struct Pending {
    pub lines: std::collections::VecDeque<Line>,
    /// Start times of running calls that make the kernel send (close,
    /// send, shutdown): their packet can reach the capture before the
    /// call returns and is reported.
    running: Vec<i64>,
    /// How long (ns) after its time a live packet waits for lines that
    /// arrive late (the kernel's events); 0 without them.
    pub hold_ns: i64,
    /// The kernel's events come for every port: show only those of
    /// captured conversations.
    pub kernel_unfiltered: bool,
}

impl Pending {
    /// Lines known already (trace: all of them).
    pub fn of(lines: Vec<Line>) -> Pending {
        Pending {
            lines: lines.into(),
            running: Vec::new(),
            hold_ns: 0,
            kernel_unfiltered: false,
        }
    }

    /// Add a line at its place in time: a call stamped when it started
    /// can be reported after one that returned later, and kernel events
    /// come from their own reader.
    pub fn push(&mut self, line: Line) {
        let at = self
            .lines
            .iter()
            .rposition(|l| l.ts_ns() <= line.ts_ns())
            .map_or(0, |i| i + 1);
        self.lines.insert(at, line);
    }

    /// Whether a packet at `ts_ns` should wait: a call that started before
    /// it may have sent it and will be reported shortly. A call running
    /// longer than 20 ms (a send blocked on a full buffer) is not waited for.
    pub fn waits_for(&self, ts_ns: i64) -> bool {
        let now = now_ns();
        self.running
            .iter()
            .any(|&t| t <= ts_ns && crate::time::since(now, t) < WAIT_FOR_CALL_NS)
    }
}

#[derive(Clone)]
enum Sink {
    Writer(Arc<Mutex<Box<dyn Write + Send>>>),
    Queue(CallQueue),
}

/// Where socket calls are reported: one line each, prefixed with who made it.
#[derive(Clone)]
pub struct Calls {
    who: String,
    sink: Sink,
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Calls {
    pub fn stdout(who: &str) -> Calls {
        Calls {
            who: who.to_string(),
            sink: Sink::Writer(Arc::new(Mutex::new(Box::new(io::stdout())))),
        }
    }

    /// Reports nowhere (library use, tests).
    pub fn quiet(who: &str) -> Calls {
        Calls {
            who: who.to_string(),
            sink: Sink::Writer(Arc::new(Mutex::new(Box::new(io::sink())))),
        }
    }

    /// Reports into a queue that a live capture merges with its packets by time.
    pub fn queued(who: &str, queue: CallQueue) -> Calls {
        Calls {
            who: who.to_string(),
            sink: Sink::Queue(queue),
        }
    }

    /// The same output, reported under another name (a worker).
    pub fn named(&self, who: String) -> Calls {
        Calls {
            who,
            sink: self.sink.clone(),
        }
    }

    fn report(&self, line: Line) {
        match &self.sink {
            Sink::Writer(out) => {
                if let Ok(mut out) = out.lock() {
                    let _ = writeln!(out, "{}", crate::render::explain::line_text(&line));
                    let _ = out.flush();
                }
            }
            Sink::Queue(queue) => {
                if let Ok(mut q) = queue.lock() {
                    q.push(line);
                }
            }
        }
    }

    /// Mark a call as running from `entry` until the guard is done with.
    fn running(&self, entry: i64) -> Running<'_> {
        if let Sink::Queue(queue) = &self.sink {
            if let Ok(mut q) = queue.lock() {
                q.running.push(entry);
            }
        }
        Running { calls: self, entry }
    }

    /// A line that is not a call (a program's note, a socket-table row).
    pub fn say(&self, text: &str) {
        self.report(Line::Note {
            ts_ns: now_ns(),
            actor: self.who.clone(),
            text: text.to_string(),
        });
    }

    /// Wait (at most `limit`) until every line reported so far has been
    /// shown: a `--step` prompt comes after the rows of the step before it.
    pub fn wait_shown(&self, limit: std::time::Duration) {
        let Sink::Queue(queue) = &self.sink else {
            return; // written at once
        };
        let deadline = std::time::Instant::now() + limit;
        while queue.lock().is_ok_and(|q| !q.lines.is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// A lab's step.
    pub fn step(&self, text: &str) {
        self.report(Line::Step {
            ts_ns: now_ns(),
            text: text.to_string(),
        });
    }

    /// A call made without [`Calls::run`] (one whose result is known already).
    pub fn call(&self, call: Call) {
        self.call_at(now_ns(), call);
    }

    fn call_at(&self, ts_ns: i64, mut call: Call) {
        call.ts_ns = ts_ns;
        call.actor.clone_from(&self.who);
        self.report(Line::Call(Box::new(call)));
    }

    /// Run one call, report it with what it returned (`result` reads the
    /// value), and turn a failure into a [`CallError`].
    pub fn run<T>(
        &self,
        call: Call,
        f: impl FnOnce() -> io::Result<T>,
        result: impl FnOnce(&T) -> Returned,
    ) -> Result<T, CallError> {
        self.run_reading(call, || {
            let v = f()?;
            let r = result(&v);
            Ok((v, r))
        })
    }

    /// [`Calls::run`] for a call whose result reads the buffer it filled:
    /// `f` returns the value and what to report.
    pub fn run_reading<T>(
        &self,
        call: Call,
        f: impl FnOnce() -> io::Result<(T, Returned)>,
    ) -> Result<T, CallError> {
        let started = self.begin(&call);
        let outcome = f();
        self.finish(call, &started, outcome)
    }

    /// [`Calls::run`] for a call awaited on tokio: stamped and marked
    /// running before the await, as a blocking call is before it blocks,
    /// so a send()'s packet still finds its call.
    pub async fn run_async<T>(
        &self,
        call: Call,
        op: impl std::future::Future<Output = io::Result<T>>,
        result: impl FnOnce(&T) -> Returned,
    ) -> Result<T, CallError> {
        let started = self.begin(&call);
        let outcome = op.await.map(|v| {
            let r = result(&v);
            (v, r)
        });
        self.finish(call, &started, outcome)
    }

    /// A call starts. One that makes the kernel send (send, close,
    /// shutdown) is stamped when it starts, before its packet, and marked
    /// running until it is reported; one that waits for the network when
    /// it returns: connect() -> ok lands after the SYN-ACK that completed
    /// it, recv() after the data.
    fn begin(&self, call: &Call) -> Started<'_> {
        let entry = now_ns();
        let at_entry = call.op.sends()
            || matches!(
                call.op,
                Op::Close | Op::Shutdown | Op::Setsockopt | Op::Bind | Op::Listen
            );
        Started {
            entry,
            at_entry,
            _running: at_entry.then(|| self.running(entry)),
        }
    }

    /// A call has returned: report it (the running mark goes after).
    fn finish<T>(
        &self,
        mut call: Call,
        started: &Started<'_>,
        outcome: io::Result<(T, Returned)>,
    ) -> Result<T, CallError> {
        let stamp = if started.at_entry {
            started.entry
        } else {
            now_ns()
        }
        .max(call.ts_ns);
        match outcome {
            Ok((v, returned)) => {
                call.outcome = Outcome::Ok(returned);
                self.call_at(stamp, call);
                Ok(v)
            }
            Err(source) => {
                let errno = source.raw_os_error();
                call.outcome = Outcome::Error {
                    errno: errno.map_or("error", errno_name).to_string(),
                    text: os_text(&source),
                };
                self.call_at(stamp, call.clone());
                if call.actor.is_empty() {
                    call.actor.clone_from(&self.who);
                }
                Err(CallError {
                    call: Box::new(call),
                    errno,
                    source,
                })
            }
        }
    }
}

/// When a call started, and its running mark (dropped after the call is
/// reported).
struct Started<'c> {
    entry: i64,
    at_entry: bool,
    _running: Option<Running<'c>>,
}

/// A call marked running until dropped (after it is reported: the queue
/// then holds its line, so a waiting packet finds it).
struct Running<'c> {
    calls: &'c Calls,
    entry: i64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Sink::Queue(queue) = &self.calls.sink {
            if let Ok(mut q) = queue.lock() {
                if let Some(i) = q.running.iter().position(|&t| t == self.entry) {
                    q.running.swap_remove(i);
                }
            }
        }
    }
}

/// `call` made on `socket`: its descriptor, kind and addresses as they are
/// when the call is made.
pub fn on<S: std::os::fd::AsFd>(call: Call, socket: &S) -> Call {
    use std::os::fd::AsRawFd;
    let fd = socket.as_fd().as_raw_fd();
    let s = socket2::SockRef::from(socket);
    let kind = match s.r#type() {
        Ok(socket2::Type::STREAM) => Some(SocketKind::Tcp),
        Ok(socket2::Type::DGRAM) => Some(SocketKind::Udp),
        _ => None,
    };
    // Port 0: not bound yet (the address means nothing).
    let local = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .filter(|a| a.port() != 0);
    let remote = s.peer_addr().ok().and_then(|a| a.as_socket());
    let mut call = call.fd(fd).ends(local, remote);
    call.socket = kind;
    call
}

/// SO_LINGER's value that makes close() abort with RST.
pub const LINGER_0: &str = "{l_onoff=1, l_linger=0}";

/// setsockopt(SO_LINGER, {1, 0}) on `socket`, reported: its close() will
/// send RST instead of FIN.
pub fn set_linger0<S: std::os::fd::AsFd>(calls: &Calls, socket: &S) -> Result<(), CallError> {
    let sock = socket2::SockRef::from(socket);
    calls.run(
        on(Call::new(Op::Setsockopt), socket).option("SO_LINGER", LINGER_0),
        || sock.set_linger(Some(std::time::Duration::ZERO)),
        ok,
    )
}

/// close() on a socket, reported as a call: in Rust, dropping the socket
/// is the close.
pub fn close<S: std::os::fd::AsFd>(calls: &Calls, socket: S) -> Result<(), CallError> {
    let call = on(Call::new(Op::Close), &socket);
    calls.run(
        call,
        || {
            drop(socket);
            Ok(())
        },
        ok,
    )
}

/// `Returned` for a call that returns 0 or nothing of interest.
pub fn ok<T>(_: &T) -> Returned {
    Returned {
        value: Some(0),
        ..Returned::default()
    }
}

/// What a recv() on a stream returned, read against the character the
/// previous recv on the socket cut (`carry`).
pub fn received(carry: &mut Vec<u8>, data: &[u8]) -> Returned {
    Returned {
        data: Some(crate::call::Bytes::received(carry, data, data.len() as u64)),
        ..moved(data.len())
    }
}

/// What a recvfrom() returned: a datagram and who sent it.
pub fn received_from(data: &[u8], peer: std::net::SocketAddr) -> Returned {
    Returned {
        peer: Some(peer),
        data: Some(crate::call::Bytes::plain(data, data.len() as u64)),
        ..moved(data.len())
    }
}

/// `Returned` for a call that moved `n` bytes.
pub fn moved(n: usize) -> Returned {
    Returned {
        value: Some(n as i64),
        ..Returned::default()
    }
}

/// How text is turned into bytes, as the lab programs choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Ascii,
    /// Send the message's bytes as given.
    Bytes,
}

/// Encode a message, failing before anything is sent when ASCII cannot
/// hold it (Python's `'γειά'.encode('ascii')` raises the same way).
pub fn encode(message: &str, encoding: Encoding) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Utf8 | Encoding::Bytes => Ok(message.as_bytes().to_vec()),
        Encoding::Ascii => match message.char_indices().find(|(_, c)| !c.is_ascii()) {
            None => Ok(message.as_bytes().to_vec()),
            Some((i, c)) => Err(format!(
                "UnicodeEncodeError: 'ascii' codec can't encode character '{c}' (U+{:04X}) in position {}: \
                 ordinal not in range(128); nothing was sent",
                c as u32,
                message[..i].chars().count()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{encode, errno_name, Encoding};

    #[test]
    fn ascii_refuses_greek_before_sending() {
        let err = encode("γειά", Encoding::Ascii).unwrap_err();
        assert!(err.contains("can't encode character 'γ'"), "{err}");
        assert_eq!(encode("hi", Encoding::Ascii).unwrap(), b"hi");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EADDRINUSE), "EADDRINUSE");
    }
}

//! `wirelab serve`: the labs' echo server, with every knob they turn.
//!
//! All modes share one accept loop; they differ in who serves an accepted
//! connection: the loop itself (`single`), a new thread (`thread`), a
//! forked child process (`process`), or one poll() loop over every socket,
//! as a `select()` server does (`event`). Every wait (accept, recv) also
//! waits for the stop ([`Shutdown`]): Ctrl-C, SIGTERM or `--duration`
//! reaches every thread and process at once, and each closes its
//! connection visibly (its close() is printed) before the server ends.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use rustix::event::{poll, PollFd, PollFlags};

use super::shutdown::{Shutdown, Woken};
use super::{moved, ok, on, received, received_from, CallError, Calls};
use crate::call::{Call, Op, Returned};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Mode {
    /// One connection at a time, in the accepting loop
    #[default]
    Single,
    /// A thread per connection
    Thread,
    /// A forked process per connection (Unix)
    Process,
    /// One poll() loop serving every connection, like a select() server
    Event,
    /// Tokio tasks on one thread: a task per connection, no thread per connection
    Async,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Single => "single",
            Mode::Thread => "thread-per-connection",
            Mode::Process => "process-per-connection",
            Mode::Event => "event-loop (poll)",
            Mode::Async => "async (tokio tasks on one thread)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub udp: bool,
    pub addr: SocketAddr,
    /// SO_REUSEADDR; `None` leaves the OS default (off).
    pub reuseaddr: Option<bool>,
    pub reuseport: bool,
    pub backlog: i32,
    /// SO_LINGER {1, 0} on accepted sockets: close() sends RST.
    pub linger0: bool,
    /// Bytes asked for per recv() call.
    pub recv_buf: usize,
    /// One recv() per connection (the OneRecv lab), else loop until EOF.
    pub recv_once: bool,
    pub delay: Duration,
    /// listen() but never accept() (the backlog lab).
    pub no_accept: bool,
    /// IPV6_V6ONLY for an IPv6 address; `None` leaves the OS default.
    pub v6only: Option<bool>,
    pub mode: Mode,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            udp: false,
            addr: SocketAddr::from(([127, 0, 0, 1], 12333)),
            reuseaddr: None,
            reuseport: false,
            backlog: 5,
            linger0: false,
            recv_buf: 1024,
            recv_once: false,
            delay: Duration::ZERO,
            no_accept: false,
            v6only: None,
            mode: Mode::Single,
        }
    }
}

/// What a server saw, for tests and for the closing lines.
#[derive(Debug, Default)]
pub struct ServerLog {
    /// Peers as accept() (or recvfrom()) returned them.
    pub peers: Vec<SocketAddr>,
    pub echoed_bytes: u64,
    /// What each recv() returned, as received (the first [`ServerLog::KEEP`]).
    pub chunks: Vec<Vec<u8>>,
}

impl ServerLog {
    pub const KEEP: usize = 64;

    fn received(&mut self, chunk: &[u8]) {
        self.echoed_bytes += chunk.len() as u64;
        if self.chunks.len() < Self::KEEP {
            self.chunks.push(chunk.to_vec());
        }
    }
}

pub type SharedLog = Arc<Mutex<ServerLog>>;

/// socket(), the options, bind() and, for TCP, listen().
pub fn open(opts: &ServeOptions, calls: &Calls) -> Result<Socket, CallError> {
    let domain = if opts.addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let (ty, proto, name) = if opts.udp {
        (Type::DGRAM, Protocol::UDP, "SOCK_DGRAM")
    } else {
        (Type::STREAM, Protocol::TCP, "SOCK_STREAM")
    };
    let family = if opts.addr.is_ipv6() {
        "AF_INET6"
    } else {
        "AF_INET"
    };
    let mut call = Call::new(Op::Socket);
    call.args.family = Some(family);
    call.args.kind = Some(name);
    let socket = calls.run(
        call,
        || Socket::new(domain, ty, Some(proto)),
        |s| Returned {
            fd: Some(s.as_raw_fd()),
            ..Returned::default()
        },
    )?;
    let setsockopt = |name: &str, value: bool| {
        on(Call::new(Op::Setsockopt), &socket).option(name, u8::from(value).to_string())
    };
    if let Some(yes) = opts.reuseaddr {
        calls.run(
            setsockopt("SO_REUSEADDR", yes),
            || socket.set_reuse_address(yes),
            ok,
        )?;
    }
    if opts.reuseport {
        calls.run(
            setsockopt("SO_REUSEPORT", true),
            || socket.set_reuse_port(true),
            ok,
        )?;
    }
    if let (Some(v6only), true) = (opts.v6only, opts.addr.is_ipv6()) {
        calls.run(
            setsockopt("IPV6_V6ONLY", v6only),
            || socket.set_only_v6(v6only),
            ok,
        )?;
    }
    // With port 0 the kernel picks one: say which (the client needs it).
    calls.run(
        on(Call::new(Op::Bind), &socket).addr(opts.addr),
        || {
            socket.bind(&SockAddr::from(opts.addr))?;
            socket.local_addr()
        },
        |local| Returned {
            value: Some(0),
            local: local.as_socket(),
            ..Returned::default()
        },
    )?;
    if !opts.udp {
        let mut call = on(Call::new(Op::Listen), &socket);
        call.args.backlog = Some(i64::from(opts.backlog));
        calls.run(call, || socket.listen(opts.backlog), ok)?;
    }
    Ok(socket)
}

/// Wait until `fd` is readable, up to 100 ms; false on timeout.
/// Serve until the stop. Socket-call failures while serving one client are
/// reported and do not end the server.
pub fn serve(
    socket: Socket,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &Shutdown,
    log: &SharedLog,
) -> Result<(), CallError> {
    if opts.udp {
        return serve_udp(socket.into(), opts, calls, stop, log);
    }
    let listener: TcpListener = socket.into();
    if opts.no_accept {
        calls.say("listening and never calling accept(): completed connections wait in the queue");
        stop.wait();
        return closing(calls, listener);
    }
    if opts.mode == Mode::Event {
        serve_event(&listener, opts, calls, stop, log);
        return closing(calls, listener);
    }
    if opts.mode == Mode::Async {
        let listener = serve_async(listener, opts, calls, stop, log)?;
        return closing(calls, listener);
    }
    let mut workers = Vec::new();
    let mut children: Vec<libc::pid_t> = Vec::new();
    while stop.wait_readable(&listener) == Woken::Readable {
        reap(&mut children);
        let Ok((stream, peer)) = calls.run(
            on(Call::new(Op::Accept), &listener),
            || listener.accept(),
            accepted,
        ) else {
            continue;
        };
        if let Ok(mut l) = log.lock() {
            l.peers.push(peer);
        }
        match opts.mode {
            Mode::Single | Mode::Event | Mode::Async => {
                handle(stream, peer, opts, calls, log, stop)
            }
            Mode::Thread => {
                let (opts, log, stop) = (opts.clone(), Arc::clone(log), stop.clone());
                let worker = calls.named(String::new());
                // Numbered in accept order: Rust's ThreadId has no stable number to print.
                let number = workers.len() + 1;
                workers.push(thread::spawn(move || {
                    let name = format!("server thread {number}");
                    let calls = worker.named(name);
                    calls.say(&format!("serving {peer}"));
                    handle(stream, peer, &opts, &calls, &log, &stop);
                }));
            }
            Mode::Process => {
                // SAFETY: fork() in a process whose other threads (the Ctrl-C
                // handler) hold no locks the child needs; the child only does
                // socket I/O and exits with _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    Shutdown::in_forked_child();
                    drop(listener);
                    let calls = calls.named(format!("server process {}", std::process::id()));
                    calls.say(&format!("serving {peer}"));
                    handle(stream, peer, opts, &calls, log, stop);
                    // SAFETY: end the child without running the parent's exit handlers.
                    unsafe { libc::_exit(0) };
                } else if pid > 0 {
                    let mut call = Call::new(Op::Fork).comment(format!("it serves {peer}"));
                    call.outcome = crate::call::Outcome::Ok(Returned {
                        value: Some(i64::from(pid)),
                        child: Some(crate::call::Child {
                            pid: pid.unsigned_abs(),
                            kind: crate::call::ChildKind::Process,
                        }),
                        ..Returned::default()
                    });
                    calls.call(call);
                    children.push(pid);
                    drop(stream); // the child has its own copy
                } else {
                    calls.say("fork() failed; serving in this process");
                    handle(stream, peer, opts, calls, log, stop);
                }
            }
        }
    }
    // Each thread and process heard the stop too, and closes its connection.
    for w in workers {
        let _ = w.join();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !children.is_empty() && std::time::Instant::now() < deadline {
        reap(&mut children);
        thread::sleep(Duration::from_millis(5));
    }
    closing(calls, listener)
}

/// The listening socket's close(), printed as the last call of a server.
fn closing(calls: &Calls, listener: TcpListener) -> Result<(), CallError> {
    super::close(calls, listener)
}

/// Collect finished child processes.
fn reap(children: &mut Vec<libc::pid_t>) {
    children.retain(|&pid| {
        let mut status = 0;
        // SAFETY: waitpid on our own child with WNOHANG.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 }
    });
}

/// Echo on one connection: recv, (delay), send back; until EOF, or once,
/// or the stop.
fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    opts: &ServeOptions,
    calls: &Calls,
    log: &SharedLog,
    stop: &Shutdown,
) {
    if opts.linger0 {
        let _ = super::set_linger0(calls, &stream);
    }
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    let mut carry = Vec::new();
    loop {
        if stop.wait_readable(&stream) == Woken::Stop {
            calls.say(&format!("stopping: closing the connection from {peer}"));
            break;
        }
        let call = on(Call::new(Op::Recv), &stream).size(buf.len());
        let n = match calls.run_reading(call, || {
            let n = stream.read(&mut buf)?;
            Ok((n, received(&mut carry, &buf[..n])))
        }) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !opts.delay.is_zero() {
            thread::sleep(opts.delay);
        }
        if calls
            .run(
                on(Call::new(Op::Send), &stream).data(&buf[..n]),
                || stream.write_all(&buf[..n]).map(|()| n),
                |&n| moved(n),
            )
            .is_err()
        {
            break;
        }
        if let Ok(mut l) = log.lock() {
            l.received(&buf[..n]);
        }
        if opts.recv_once {
            break;
        }
    }
    let _ = super::close(calls, stream);
}

/// What accept() returned: the new descriptor, its peer and local address.
pub fn accepted(&(ref s, peer): &(TcpStream, SocketAddr)) -> Returned {
    accepted_as(s, peer, s.local_addr().ok())
}

/// [`accepted`] for a tokio socket (the same fields, another type).
pub fn accepted_tokio(&(ref s, peer): &(tokio::net::TcpStream, SocketAddr)) -> Returned {
    accepted_as(s, peer, s.local_addr().ok())
}

fn accepted_as(s: &impl AsRawFd, peer: SocketAddr, local: Option<SocketAddr>) -> Returned {
    Returned {
        fd: Some(s.as_raw_fd()),
        peer: Some(peer),
        local,
        ..Returned::default()
    }
}

/// One poll() loop over the listener and every connection (and the stop).
fn serve_event(
    listener: &TcpListener,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &Shutdown,
    log: &SharedLog,
) {
    listener.set_nonblocking(true).ok();
    let mut conns: Vec<(TcpStream, SocketAddr, Vec<u8>)> = Vec::new();
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    loop {
        // The stop's descriptor is polled last, with the sockets: the loop
        // wakes for whichever comes first.
        let mut fds: Vec<PollFd<'_>> = std::iter::once(listener.as_fd())
            .chain(conns.iter().map(|(s, _, _)| s.as_fd()))
            .chain(std::iter::once(stop.as_fd()))
            .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
            .collect();
        if poll(&mut fds, None).is_err() {
            continue; // EINTR
        }
        let ready: Vec<bool> = fds.iter().map(|p| !p.revents().is_empty()).collect();
        drop(fds);
        if ready.last() == Some(&true) || stop.is_triggered() {
            calls.say(&format!("stopping: closing {} connection(s)", conns.len()));
            for (stream, _, _) in conns.drain(..) {
                let _ = super::close(calls, stream);
            }
            return;
        }
        let ready = &ready[..ready.len() - 1];
        if ready[0] {
            loop {
                // The loop accepts until the queue is empty (EAGAIN).
                let call = on(Call::new(Op::Accept), &listener)
                    .comment(format!("event loop, {} open", conns.len() + 1));
                match calls.run(call, || listener.accept(), accepted) {
                    Ok((s, peer)) => {
                        if let Ok(mut l) = log.lock() {
                            l.peers.push(peer);
                        }
                        conns.push((s, peer, Vec::new()));
                    }
                    Err(e) if e.source.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
        let mut closed = Vec::new();
        for (i, &woken) in ready.iter().enumerate().skip(1) {
            if !woken {
                continue;
            }
            let (stream, _, carry) = &mut conns[i - 1];
            let call = on(Call::new(Op::Recv), &*stream).size(buf.len());
            match calls.run_reading(call, || {
                let n = stream.read(&mut buf)?;
                Ok((n, received(carry, &buf[..n])))
            }) {
                Ok(0) | Err(_) => closed.push(i - 1),
                Ok(n) => {
                    if !opts.delay.is_zero() {
                        // One loop serves everyone: while it waits here,
                        // every other connection waits too.
                        thread::sleep(opts.delay);
                    }
                    let call = on(Call::new(Op::Send), &*stream).data(&buf[..n]);
                    let sent = calls.run(
                        call,
                        || stream.write_all(&buf[..n]).map(|()| n),
                        |&n| moved(n),
                    );
                    if sent.is_ok() {
                        if let Ok(mut l) = log.lock() {
                            l.received(&buf[..n]);
                        }
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            let (stream, _, _) = conns.swap_remove(i);
            let _ = super::close(calls, stream);
        }
    }
}

/// Tokio tasks on one thread (a current-thread runtime): the accept loop
/// and each connection's task wait on their socket and on the stop with
/// `select!`, as mini-redis does. No thread per connection: while one task
/// waits in recv(), the thread runs the others.
fn serve_async(
    listener: TcpListener,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &Shutdown,
    log: &SharedLog,
) -> Result<TcpListener, CallError> {
    let mut number = 0;
    let (listener, _) = accept_tasks(listener, calls, stop, |stream, peer| {
        if let Ok(mut l) = log.lock() {
            l.peers.push(peer);
        }
        number += 1;
        let calls = calls.named(format!("server task {number}"));
        let (opts, log, stop) = (opts.clone(), Arc::clone(log), stop.clone());
        std::future::ready(Some(async move {
            handle_async(stream, peer, &opts, &calls, &log, &stop).await;
        }))
    })?;
    Ok(listener)
}

/// The tokio accept loop of the async server and the proxy, on one thread:
/// accept (each call reported) until the stop; `start` turns a connection
/// into its task, or declines it (`None`); then wait for every task, each
/// of which hears the stop too. Returns the listener, to be closed, and how
/// many tasks ran.
pub fn accept_tasks<Start, Starting, Task>(
    listener: TcpListener,
    calls: &Calls,
    stop: &Shutdown,
    mut start: Start,
) -> Result<(TcpListener, u64), CallError>
where
    Start: FnMut(tokio::net::TcpStream, SocketAddr) -> Starting,
    Starting: std::future::Future<Output = Option<Task>>,
    Task: std::future::Future<Output = ()> + Send + 'static,
{
    let failed = |source: std::io::Error| CallError {
        call: Box::new(Call::new(Op::Accept)),
        errno: source.raw_os_error(),
        source,
    };
    let runtime = super::runtime()?;
    listener.set_nonblocking(true).map_err(failed)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(failed)?;
        let mut tasks = tokio::task::JoinSet::new();
        let mut started = 0;
        // One wait for the stop, polled again at each turn (not one per turn).
        let stopped = stop.stopped();
        tokio::pin!(stopped);
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut stopped => break,
                accepted = listener.accept() => accepted,
            };
            let call = on(Call::new(Op::Accept), &listener);
            let Ok((stream, peer)) = calls.run(call, || accepted, accepted_tokio) else {
                continue;
            };
            if let Some(task) = start(stream, peer).await {
                started += 1;
                tasks.spawn(task);
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok((listener.into_std().map_err(failed)?, started))
    })
}

/// [`handle`] as a task: recv and send are awaited, and the stop is one of
/// the things a recv waits for.
async fn handle_async(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    opts: &ServeOptions,
    calls: &Calls,
    log: &SharedLog,
    stop: &Shutdown,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    calls.say(&format!("serving {peer}"));
    if opts.linger0 {
        let _ = super::set_linger0(calls, &stream);
    }
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    let mut carry = Vec::new();
    // One wait for the stop, polled again at each turn (not one per turn).
    let stopped = stop.stopped();
    tokio::pin!(stopped);
    loop {
        let read = tokio::select! {
            biased;
            () = &mut stopped => {
                calls.say(&format!("stopping: closing the connection from {peer}"));
                break;
            }
            read = stream.read(&mut buf) => read,
        };
        let call = on(Call::new(Op::Recv), &stream).size(buf.len());
        let n = match calls.run_reading(call, || {
            let n = read?;
            Ok((n, received(&mut carry, &buf[..n])))
        }) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !opts.delay.is_zero() {
            tokio::time::sleep(opts.delay).await;
        }
        let call = on(Call::new(Op::Send), &stream).data(&buf[..n]);
        if calls
            .run_async(call, stream.write_all(&buf[..n]), |()| moved(n))
            .await
            .is_err()
        {
            break;
        }
        if let Ok(mut l) = log.lock() {
            l.received(&buf[..n]);
        }
        if opts.recv_once {
            break;
        }
    }
    if let Ok(stream) = stream.into_std() {
        let _ = super::close(calls, stream);
    }
}

fn serve_udp(
    socket: UdpSocket,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &Shutdown,
    log: &SharedLog,
) -> Result<(), CallError> {
    let mut big = vec![0u8; 65536];
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    while stop.wait_readable(&socket) == Woken::Readable {
        // Peek first to learn the datagram's real size: recvfrom() with a
        // smaller buffer silently discards the rest.
        let whole = socket.peek_from(&mut big).map(|(n, _)| n).unwrap_or(0);
        let call = on(Call::new(Op::Recvfrom), &socket).size(buf.len());
        let Ok((n, peer)) = calls.run_reading(call, || {
            let (n, p) = socket.recv_from(&mut buf)?;
            Ok((
                (n, p),
                Returned {
                    datagram_len: Some(whole as u64),
                    ..received_from(&buf[..n], p)
                },
            ))
        }) else {
            continue;
        };
        if let Ok(mut l) = log.lock() {
            l.peers.push(peer);
            l.received(&buf[..n]);
        }
        if !opts.delay.is_zero() {
            thread::sleep(opts.delay);
        }
        let _ = calls.run(
            on(Call::new(Op::Sendto), &socket)
                .data(&buf[..n])
                .addr(peer),
            || socket.send_to(&buf[..n], peer),
            |&n| moved(n),
        );
    }
    super::close(calls, socket)
}

/// Addresses getaddrinfo gives for a name (all of them are shown).
pub fn resolve(host: &str, port: u16, calls: &Calls) -> Result<Vec<SocketAddr>, CallError> {
    if let Ok(ip) = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut call = Call::new(Op::Getaddrinfo);
    call.args.host = Some((host.to_string(), port));
    calls.run(
        call,
        || std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map(|a| a.collect::<Vec<_>>()),
        |addrs| Returned {
            addrs: addrs.clone(),
            ..Returned::default()
        },
    )
}

//! `wirelab serve`: the labs' echo server, with every knob they turn.
//!
//! All modes share one accept loop that polls the listener (so a stop flag
//! or Ctrl-C is noticed within 100 ms); they differ in who serves an
//! accepted connection: the loop itself (`single`), a new thread
//! (`thread`), a forked child process (`process`), or one poll() loop over
//! every socket, as a `select()` server does (`event`).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{describe_chunk, CallError, Calls};

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
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Single => "single",
            Mode::Thread => "thread-per-connection",
            Mode::Process => "process-per-connection",
            Mode::Event => "event-loop (poll)",
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

fn show(addr: &SocketAddr) -> String {
    addr.to_string()
}

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
    let socket = calls.run(
        format!("socket({family}, {name})"),
        || Socket::new(domain, ty, Some(proto)),
        |s| format!("fd {}", s.as_raw_fd()),
    )?;
    if let Some(on) = opts.reuseaddr {
        calls.run(
            format!("setsockopt(SO_REUSEADDR, {})", u8::from(on)),
            || socket.set_reuse_address(on),
            |_| "ok".into(),
        )?;
    }
    if opts.reuseport {
        calls.run(
            "setsockopt(SO_REUSEPORT, 1)",
            || socket.set_reuse_port(true),
            |_| "ok".into(),
        )?;
    }
    if let (Some(v6only), true) = (opts.v6only, opts.addr.is_ipv6()) {
        calls.run(
            format!("setsockopt(IPV6_V6ONLY, {})", u8::from(v6only)),
            || socket.set_only_v6(v6only),
            |_| "ok".into(),
        )?;
    }
    // With port 0 the kernel picks one: say which (the client needs it).
    calls.run(
        format!("bind({})", show(&opts.addr)),
        || {
            socket.bind(&SockAddr::from(opts.addr))?;
            socket.local_addr()
        },
        |local| match local.as_socket() {
            Some(a) if opts.addr.port() == 0 => format!("ok: the kernel chose port {}", a.port()),
            _ => "ok".into(),
        },
    )?;
    if !opts.udp {
        calls.run(
            format!("listen({})", opts.backlog),
            || socket.listen(opts.backlog),
            |_| "ok".into(),
        )?;
    }
    Ok(socket)
}

/// Wait until `fd` is readable, up to 100 ms; false on timeout.
fn readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 100) > 0 }
}

/// Serve until `stop` is set. Socket-call failures while serving one
/// client are reported and do not end the server.
pub fn serve(
    socket: Socket,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &AtomicBool,
    log: &SharedLog,
) -> Result<(), CallError> {
    if opts.udp {
        return serve_udp(socket.into(), opts, calls, stop, log);
    }
    let listener: TcpListener = socket.into();
    if opts.no_accept {
        calls.say("listening and never calling accept(): completed connections wait in the queue");
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(100));
        }
        return Ok(());
    }
    if opts.mode == Mode::Event {
        return serve_event(listener, opts, calls, stop, log);
    }
    let mut workers = Vec::new();
    let mut children: Vec<libc::pid_t> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        reap(&mut children);
        if !readable(listener.as_raw_fd()) {
            continue;
        }
        let Ok((stream, peer)) = calls.run(
            "accept()",
            || listener.accept(),
            |(s, p)| format!("fd {}, peer {p}", s.as_raw_fd()),
        ) else {
            continue;
        };
        if let Ok(mut l) = log.lock() {
            l.peers.push(peer);
        }
        match opts.mode {
            Mode::Single | Mode::Event => handle(stream, peer, opts, calls, log),
            Mode::Thread => {
                let (opts, log) = (opts.clone(), Arc::clone(log));
                let worker = calls.named(String::new());
                // Numbered in accept order: Rust's ThreadId has no stable number to print.
                let number = workers.len() + 1;
                workers.push(thread::spawn(move || {
                    let name = format!("server thread {number}");
                    let calls = worker.named(name);
                    calls.say(&format!("serving {peer}"));
                    handle(stream, peer, &opts, &calls, &log);
                }));
            }
            Mode::Process => {
                // SAFETY: fork() in a process whose other threads (the Ctrl-C
                // handler) hold no locks the child needs; the child only does
                // socket I/O and exits with _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    drop(listener);
                    let calls = calls.named(format!("server process {}", std::process::id()));
                    calls.say(&format!("serving {peer}"));
                    handle(stream, peer, opts, &calls, log);
                    // SAFETY: end the child without running the parent's exit handlers.
                    unsafe { libc::_exit(0) };
                } else if pid > 0 {
                    calls.say(&format!("fork() -> child {pid} serves {peer}"));
                    children.push(pid);
                    drop(stream); // the child has its own copy
                } else {
                    calls.say("fork() failed; serving in this process");
                    handle(stream, peer, opts, calls, log);
                }
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
    while !children.is_empty() {
        reap(&mut children);
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Collect finished child processes.
fn reap(children: &mut Vec<libc::pid_t>) {
    children.retain(|&pid| {
        let mut status = 0;
        // SAFETY: waitpid on our own child with WNOHANG.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 }
    });
}

/// Echo on one connection: recv, (delay), send back; until EOF, or once.
fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    opts: &ServeOptions,
    calls: &Calls,
    log: &SharedLog,
) {
    if opts.linger0 {
        let sock = socket2::SockRef::from(&stream);
        let _ = calls.run(
            "setsockopt(SO_LINGER, {on 1, linger 0})",
            || sock.set_linger(Some(Duration::ZERO)),
            |_| "ok: close() will send RST".into(),
        );
    }
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    let mut carry = Vec::new();
    loop {
        let n = match calls.run(
            format!("recv({})", buf.len()),
            || stream.read(&mut buf),
            |n| {
                if *n == 0 {
                    "0 bytes: the peer closed its side (FIN)".to_string()
                } else {
                    format!("{n} bytes")
                }
            },
        ) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        calls.say(&format!(
            "  received {}",
            describe_chunk(&mut carry, &buf[..n])
        ));
        if !opts.delay.is_zero() {
            thread::sleep(opts.delay);
        }
        if calls
            .run(
                format!("send({n})"),
                || stream.write_all(&buf[..n]).map(|()| n),
                |n| format!("{n} bytes"),
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
    let _ = calls.run(
        format!("close() [{peer}]"),
        || {
            drop(stream);
            Ok(())
        },
        |()| "ok".into(),
    );
}

/// One poll() loop over the listener and every connection.
fn serve_event(
    listener: TcpListener,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &AtomicBool,
    log: &SharedLog,
) -> Result<(), CallError> {
    listener.set_nonblocking(true).ok();
    let mut conns: Vec<(TcpStream, SocketAddr)> = Vec::new();
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    while !stop.load(Ordering::Relaxed) {
        let mut fds: Vec<libc::pollfd> = std::iter::once(listener.as_raw_fd())
            .chain(conns.iter().map(|(s, _)| s.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if ready <= 0 {
            continue;
        }
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((s, peer)) => {
                        calls.say(&format!(
                            "accept() -> fd {}, peer {peer} (event loop, {} open)",
                            s.as_raw_fd(),
                            conns.len() + 1
                        ));
                        if let Ok(mut l) = log.lock() {
                            l.peers.push(peer);
                        }
                        conns.push((s, peer));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        calls.say(&format!("accept() -> {e}"));
                        break;
                    }
                }
            }
        }
        let mut closed = Vec::new();
        for (i, p) in fds.iter().enumerate().skip(1) {
            if p.revents == 0 {
                continue;
            }
            let (stream, peer) = &mut conns[i - 1];
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => {
                    calls.say(&format!(
                        "recv({}) [{peer}] -> 0 bytes: the peer closed; close()",
                        buf.len()
                    ));
                    closed.push(i - 1);
                }
                Ok(n) => {
                    calls.say(&format!("recv({}) [{peer}] -> {n} bytes", buf.len()));
                    if stream.write_all(&buf[..n]).is_ok() {
                        if let Ok(mut l) = log.lock() {
                            l.received(&buf[..n]);
                        }
                    }
                }
            }
        }
        for i in closed.into_iter().rev() {
            conns.swap_remove(i);
        }
    }
    Ok(())
}

fn serve_udp(
    socket: UdpSocket,
    opts: &ServeOptions,
    calls: &Calls,
    stop: &AtomicBool,
    log: &SharedLog,
) -> Result<(), CallError> {
    let mut big = vec![0u8; 65536];
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    while !stop.load(Ordering::Relaxed) {
        if !readable(socket.as_raw_fd()) {
            continue;
        }
        // Peek first to learn the datagram's real size: recvfrom() with a
        // smaller buffer silently discards the rest.
        let whole = socket.peek_from(&mut big).map(|(n, _)| n).unwrap_or(0);
        let Ok((n, peer)) = calls.run(format!("recvfrom({})", buf.len()), || socket.recv_from(&mut buf), |(n, p)| {
            if *n < whole {
                format!("{n} bytes from {p} (the datagram had {whole}: {} bytes silently discarded)", whole - n)
            } else {
                format!("{n} bytes from {p}")
            }
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
            format!("sendto({n}, {peer})"),
            || socket.send_to(&buf[..n], peer),
            |n| format!("{n} bytes"),
        );
    }
    Ok(())
}

/// Addresses getaddrinfo gives for a name (all of them are shown).
pub fn resolve(host: &str, port: u16, calls: &Calls) -> Result<Vec<SocketAddr>, CallError> {
    if let Ok(ip) = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    calls.run(
        format!("getaddrinfo({host}, {port})"),
        || std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map(|a| a.collect::<Vec<_>>()),
        |addrs| {
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
}

//! What several labs share: addresses, an echo server that stops when
//! dropped, UDP helpers, and how a check's detail shows values.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::call::{Bytes, Call, Op, Returned, SocketKind};
use crate::lab::LabCtx;
pub use crate::sockets::close;
use crate::sockets::server::accepted;
use crate::sockets::server::{self, ServeOptions, SharedLog};
use crate::sockets::shutdown::Shutdown;
use crate::sockets::{moved, ok, on as on_socket, received_from, CallError, Calls};

/// The client's connect() to 127.0.0.1:`port` and the server's accept() on
/// `listener`, each reported by its own recorder: the connected pair.
pub fn tcp_pair(
    client: &Calls,
    server: &Calls,
    listener: &TcpListener,
    port: u16,
) -> Result<(TcpStream, TcpStream), CallError> {
    let c = connect(client, port, None)?;
    let (s, _) = server.run(
        on_socket(Call::new(Op::Accept), listener),
        || listener.accept(),
        accepted,
    )?;
    Ok((c, s))
}

/// close() with a lab's comment on what it does.
pub fn close_saying<S: AsFd>(calls: &Calls, socket: S, comment: &str) -> Result<(), CallError> {
    let call = on_socket(Call::new(Op::Close), &socket).comment(comment);
    calls.run(
        call,
        || {
            drop(socket);
            Ok(())
        },
        ok,
    )
}

/// connect() to 127.0.0.1:`port`, with a timeout when given.
pub fn connect(
    calls: &Calls,
    port: u16,
    timeout: Option<Duration>,
) -> Result<TcpStream, CallError> {
    let mut call = Call::new(Op::Connect).addr(local(port)).on(SocketKind::Tcp);
    if let Some(t) = timeout {
        call = call.comment(format!("with a {} ms timeout", t.as_millis()));
    }
    calls.run(
        call,
        || match timeout {
            Some(t) => TcpStream::connect_timeout(&local(port), t),
            None => TcpStream::connect(local(port)),
        },
        |s| Returned {
            value: Some(0),
            local: s.local_addr().ok(),
            ..Returned::default()
        },
    )
}

/// send() of `data` on a connected socket (one write).
pub fn send<S: AsFd + Write>(
    calls: &Calls,
    socket: &mut S,
    data: &[u8],
    comment: Option<&str>,
) -> Result<usize, CallError> {
    let mut call = on_socket(Call::new(Op::Send), &*socket).data(data);
    call.comment = comment.map(str::to_string);
    calls.run(call, || socket.write(data), |&n| moved(n))
}

/// recv() on a connected socket; `until_eof` reads until 0 (read_to_end).
pub fn recv<S: AsFd + Read>(
    calls: &Calls,
    socket: &mut S,
    size: usize,
    until_eof: bool,
) -> Result<Vec<u8>, CallError> {
    let mut call = on_socket(Call::new(Op::Recv), &*socket).size(size);
    let mut buf = vec![0u8; size];
    if until_eof {
        call = call.comment("read until it returns 0 (EOF)");
        let mut all = Vec::new();
        calls.run_reading(call, || {
            let n = socket.read_to_end(&mut all)?;
            Ok((
                n,
                Returned {
                    data: Some(Bytes::plain(&all, n as u64)),
                    ..moved(n)
                },
            ))
        })?;
        return Ok(all);
    }
    let n = calls.run_reading(call, || {
        let n = socket.read(&mut buf)?;
        Ok((
            n,
            Returned {
                data: Some(Bytes::plain(&buf[..n], n as u64)),
                ..moved(n)
            },
        ))
    })?;
    buf.truncate(n);
    Ok(buf)
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A library echo server on its own thread, stopped when dropped.
pub struct Server {
    stop: Shutdown,
    pub log: SharedLog,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(opts: ServeOptions, calls: &Calls) -> anyhow::Result<Server> {
        let calls = calls.named("server".into());
        let socket = server::open(&opts, &calls)?;
        let stop = Shutdown::new()?;
        let log = SharedLog::default();
        let (s, l) = (stop.clone(), Arc::clone(&log));
        let handle = thread::spawn(move || {
            let _ = server::serve(socket, &opts, &calls, &s, &l);
        });
        Ok(Server {
            stop,
            log,
            handle: Some(handle),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Received bytes as escaped text, for a check's detail.
pub fn shown(chunks: &[Vec<u8>]) -> String {
    let parts: Vec<String> = chunks
        .iter()
        .map(|c| format!("\"{}\"", crate::render::escape::preview(&[], c, 40)))
        .collect();
    format!("got {}", parts.join(", "))
}

/// A plain echo server on 127.0.0.1:`port`, the most common lab setup.
pub fn echo_server(ctx: &LabCtx, port: u16) -> anyhow::Result<Server> {
    Server::start(
        ServeOptions {
            addr: local(port),
            ..ServeOptions::default()
        },
        &ctx.calls,
    )
}

/// A delay that is itself the lesson (say why where it is called): "the
/// client waits, then closes", clients arriving 100 ms apart.
pub fn pause(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

/// Wait until `ready()` holds, at most `WAIT_LIMIT`: a lab waits for what
/// it waits for (a state in the kernel's table, a call returned), so it
/// takes as long as the machine needs and no longer. Returns whether it
/// held (the checks that follow say what was seen either way).
pub fn wait_until(mut ready: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WAIT_LIMIT;
    loop {
        if ready() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `socket` has an error waiting to be reported (an ICMP error
/// that arrived for a connected UDP socket).
fn error_pending(socket: &impl std::os::fd::AsFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(socket, PollFlags::empty())];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0) && fds[0].revents().contains(PollFlags::ERR)
}

/// How long [`wait_until`] waits before the lab goes on regardless.
const WAIT_LIMIT: Duration = Duration::from_secs(2);

/// Wait until the kernel's socket table has a TCP socket on local port
/// `port` in `state` (`ss -tan sport = :PORT`).
pub fn kernel_has(port: u16, state: crate::track::state::TcpState) -> bool {
    use crate::lab::sockstate::{snapshot, KernelState};
    wait_until(|| {
        snapshot(&[port]).is_some_and(|rows| {
            rows.iter()
                .any(|r| r.local.port() == port && r.state == KernelState::Tcp(state))
        })
    })
}

/// Wait until nothing in the kernel's table is on local port `port` in
/// `state` any more.
pub fn kernel_left(port: u16, state: crate::track::state::TcpState) -> bool {
    use crate::lab::sockstate::{snapshot, KernelState};
    wait_until(|| {
        snapshot(&[port]).is_some_and(|rows| {
            !rows
                .iter()
                .any(|r| r.local.port() == port && r.state == KernelState::Tcp(state))
        })
    })
}

/// The kernel's row for the connection `stream` (by its two addresses).
fn row_of(stream: &TcpStream) -> Option<crate::lab::sockstate::SocketRow> {
    let (local, peer) = (stream.local_addr().ok()?, stream.peer_addr().ok()?);
    crate::lab::sockstate::snapshot(&[local.port()])?
        .into_iter()
        .find(|r| r.local == local && r.remote == peer)
}

/// Whether `stream`'s connection is still ESTABLISHED in the kernel (a RST
/// takes it out of the table).
pub fn conn_established(stream: &TcpStream) -> bool {
    use crate::lab::sockstate::KernelState;
    row_of(stream)
        .is_some_and(|r| r.state == KernelState::Tcp(crate::track::state::TcpState::Established))
}

/// Bytes received on `stream` and not read yet (`ss` Recv-Q).
pub fn bytes_queued(stream: &TcpStream) -> u64 {
    row_of(stream).map_or(0, |r| r.recv_q)
}

/// Wait until `port` accepts connections (a server started elsewhere).
pub fn listening(port: u16) -> bool {
    kernel_has(port, crate::track::state::TcpState::Listen)
}

/// Wait until the library server has served `n` connections and echoed
/// `bytes` bytes (its recv() and send() calls returned).
pub fn served(log: &SharedLog, n: usize, bytes: u64) -> bool {
    wait_until(|| {
        log.lock()
            .is_ok_and(|l| l.peers.len() >= n && l.echoed_bytes >= bytes)
    })
}

pub fn on(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// sendto() of `data` to `to` on a UDP socket.
pub fn sendto(
    calls: &Calls,
    socket: &UdpSocket,
    data: &[u8],
    to: SocketAddr,
    comment: Option<&str>,
) -> Result<usize, CallError> {
    let mut call = on_socket(Call::new(Op::Sendto), socket).data(data).addr(to);
    call.comment = comment.map(str::to_string);
    calls.run(call, || socket.send_to(data, to), |&n| moved(n))
}

/// recvfrom() on a UDP socket: the datagram and who sent it.
pub fn recvfrom(
    calls: &Calls,
    socket: &UdpSocket,
    size: usize,
) -> Result<(Vec<u8>, SocketAddr), CallError> {
    let mut buf = vec![0u8; size];
    let call = on_socket(Call::new(Op::Recvfrom), socket).size(size);
    let (n, from) = calls.run_reading(call, || {
        let (n, p) = socket.recv_from(&mut buf)?;
        Ok(((n, p), received_from(&buf[..n], p)))
    })?;
    buf.truncate(n);
    Ok((buf, from))
}

/// A UDP client socket on 127.0.0.1, its port chosen by bind().
pub fn udp_client(calls: &Calls) -> anyhow::Result<UdpSocket> {
    udp_bound(calls, local(0))
}

/// A UDP socket bound to `addr` (port 0: the kernel chooses one).
pub fn udp_bound(calls: &Calls, addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let call = Call::new(Op::Bind)
        .addr(addr)
        .on(SocketKind::Udp)
        .comment("on a new socket(AF_INET, SOCK_DGRAM)");
    Ok(calls.run(
        call,
        || UdpSocket::bind(addr),
        |s| Returned {
            value: Some(0),
            local: s.local_addr().ok(),
            ..Returned::default()
        },
    )?)
}

/// recvfrom() on a socket that will get nothing: true if it timed out
/// (after 300 ms; without a timeout it would wait forever).
pub fn recv_times_out(calls: &Calls, s: &UdpSocket) -> anyhow::Result<bool> {
    s.set_read_timeout(Some(Duration::from_millis(300)))?;
    let mut buf = [0u8; 64];
    let call = on_socket(Call::new(Op::Recvfrom), s)
        .size(buf.len())
        .comment("with a 300 ms timeout; without one it waits forever");
    let r = calls.run_reading(call, || {
        let (n, p) = s.recv_from(&mut buf)?;
        Ok(((n, p), received_from(&buf[..n], p)))
    });
    Ok(matches!(&r, Err(e) if e.errno == Some(libc::EAGAIN)))
}

/// A connected UDP socket sends to `target` twice: true if the second
/// send() reports the ICMP error of the first as ECONNREFUSED.
pub fn connected_send_refused(calls: &Calls, target: SocketAddr) -> anyhow::Result<bool> {
    let c = udp_client(calls)?;
    calls.run(
        on_socket(Call::new(Op::Connect), &c)
            .addr(target)
            .comment("no packet: UDP has no handshake"),
        || c.connect(target),
        ok,
    )?;
    let send = || {
        calls.run(
            on_socket(Call::new(Op::Send), &c).data(b"hello"),
            || c.send(b"hello"),
            |&n| moved(n),
        )
    };
    send()?;
    // The ICMP port unreachable comes back as an error pending on the
    // socket (poll() shows POLLERR without taking it).
    wait_until(|| error_pending(&c));
    let again = send();
    Ok(matches!(&again, Err(e) if e.errno == Some(libc::ECONNREFUSED)))
}

/// A value for a check's detail line, "none" when absent (never Rust's `Some(..)`).
pub fn or_none<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// Values for a check's detail line: "10, 4" (never Rust's `[10, 4]`).
pub fn list<T: std::fmt::Display>(values: &[T]) -> String {
    if values.is_empty() {
        return "none".to_string();
    }
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `wirelab serve` as a child process (process mode forks per connection,
/// which wants a process of its own); killed and reaped when dropped.
pub struct ChildServer(std::process::Child);

impl ChildServer {
    pub fn start(args: &[&str]) -> anyhow::Result<ChildServer> {
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let server = ChildServer(child);
        if let Some(port) = args
            .windows(2)
            .find(|w| w[0] == "--port")
            .and_then(|w| w[1].parse().ok())
        {
            listening(port);
        }
        Ok(server)
    }

    pub fn kill(&mut self, signal: i32) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.0.id() as libc::pid_t, signal) };
        let _ = self.0.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.kill(libc::SIGINT);
        }
    }
}

//! What several labs share: addresses, an echo server that stops when
//! dropped, UDP helpers, and how a check's detail shows values.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::lab::LabCtx;
use crate::sockets::server::{self, ServeOptions, SharedLog};
use crate::sockets::{CallError, Calls};

/// The client's connect() to 127.0.0.1:`port` and the server's accept() on
/// `listener`, each reported by its own recorder: the connected pair.
pub fn tcp_pair(
    client: &Calls,
    server: &Calls,
    listener: &TcpListener,
    port: u16,
) -> Result<(TcpStream, TcpStream), CallError> {
    let c = client.run(
        format!("connect(127.0.0.1:{port})"),
        || TcpStream::connect(local(port)),
        |_| "ok".into(),
    )?;
    let (s, _) = server.run(
        "accept()",
        || listener.accept(),
        |(_, p)| format!("peer {p}"),
    )?;
    Ok((c, s))
}

/// close() on a socket, reported as a call: in Rust, dropping the socket
/// is the close.
pub fn close<S>(calls: &Calls, call: &str, socket: S, result: &str) -> Result<(), CallError> {
    calls.run(
        call,
        || {
            drop(socket);
            Ok(())
        },
        |()| result.into(),
    )
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A library echo server on its own thread, stopped when dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    pub log: SharedLog,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(opts: ServeOptions, calls: &Calls) -> anyhow::Result<Server> {
        let calls = calls.named("server".into());
        let socket = server::open(&opts, &calls)?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = SharedLog::default();
        let (s, l) = (Arc::clone(&stop), Arc::clone(&log));
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
        self.stop.store(true, Ordering::Relaxed);
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

pub fn pause(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

pub fn on(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// A UDP client socket on 127.0.0.1, its port chosen by bind().
pub fn udp_client(calls: &Calls) -> anyhow::Result<UdpSocket> {
    Ok(calls.run(
        "socket(AF_INET, SOCK_DGRAM) + bind(127.0.0.1:0)",
        || UdpSocket::bind("127.0.0.1:0"),
        |_| "ok".into(),
    )?)
}

/// recvfrom() on a socket that will get nothing: true if it timed out
/// (after 300 ms; without a timeout it would wait forever).
pub fn recv_times_out(calls: &Calls, s: &UdpSocket) -> anyhow::Result<bool> {
    s.set_read_timeout(Some(Duration::from_millis(300)))?;
    let mut buf = [0u8; 64];
    let r = calls.run(
        "recvfrom(64) [300 ms timeout; without one it waits forever]",
        || s.recv_from(&mut buf),
        |(n, _)| format!("{n} bytes"),
    );
    Ok(matches!(&r, Err(e) if e.errno == Some(libc::EAGAIN)))
}

/// A connected UDP socket sends to `target` twice: true if the second
/// send() reports the ICMP error of the first as ECONNREFUSED.
pub fn connected_send_refused(calls: &Calls, target: SocketAddr) -> anyhow::Result<bool> {
    let c = udp_client(calls)?;
    calls.run(
        format!("connect({target})"),
        || c.connect(target),
        |_| "ok (no packet: UDP has no handshake)".into(),
    )?;
    calls.run("send(5)", || c.send(b"hello"), |n| format!("{n} bytes"))?;
    pause(100);
    let again = calls.run("send(5)", || c.send(b"hello"), |n| format!("{n} bytes"));
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
        pause(300);
        Ok(ChildServer(child))
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

//! The labs. Each body is the program a student would write, with the
//! facts from ../shared/LABS.md as checks.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::{packet_check, Check, Lab, LabCtx, RowRecord, ACK, FIN, RST, SYN};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::{self, ServeOptions, SharedLog};
use crate::sockets::Calls;

pub const LABS: &[Lab] = &[
    Lab {
        name: "tcp-echo",
        question: "What does a TCP echo exchange look like, and who ends up in TIME-WAIT?",
        seconds: 1.5,
        ports: 1,
        run: tcp_echo,
        packets: tcp_echo_packets,
    },
    Lab {
        name: "refused",
        question: "What happens when you connect to a port nobody listens on?",
        seconds: 1.0,
        ports: 1,
        run: refused,
        packets: refused_packets,
    },
    Lab {
        name: "udp-echo",
        question: "Does UDP keep message boundaries? What if the buffer is too small?",
        seconds: 1.0,
        ports: 1,
        run: udp_echo,
        packets: udp_echo_packets,
    },
    Lab {
        name: "udp-no-server",
        question: "What happens to a UDP datagram sent to a port with no socket?",
        seconds: 1.5,
        ports: 1,
        run: udp_no_server,
        packets: udp_no_server_packets,
    },
    Lab {
        name: "half-close",
        question: "What does shutdown(SHUT_WR) do, and can the other side still send?",
        seconds: 1.5,
        ports: 1,
        run: half_close,
        packets: half_close_packets,
    },
    Lab {
        name: "abort",
        question: "What does close() with SO_LINGER 0 send instead of FIN?",
        seconds: 1.0,
        ports: 1,
        run: abort,
        packets: abort_packets,
    },
];

pub fn find(name: &str) -> Option<&'static Lab> {
    LABS.iter().find(|l| l.name == name)
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A library echo server on its own thread, stopped when dropped.
struct Server {
    stop: Arc<AtomicBool>,
    pub log: SharedLog,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(opts: ServeOptions, calls: &Calls) -> anyhow::Result<Server> {
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
fn shown(chunks: &[Vec<u8>]) -> String {
    let parts: Vec<String> = chunks
        .iter()
        .map(|c| format!("\"{}\"", crate::render::escape::preview(&[], c, 40)))
        .collect();
    format!("got {}", parts.join(", "))
}

fn pause(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

// ---- tcp-echo ----

fn tcp_echo(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!("start an echo server on 127.0.0.1:{port}"));
    let _server = Server::start(
        ServeOptions {
            addr: local(port),
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    ctx.states("after listen()");
    let mut client_ports = Vec::new();
    for i in 1..=2 {
        ctx.step(&format!(
            "client {i} connects, sends \"hello\", reads the echo and closes first"
        ));
        let opts = ClientOptions {
            server: local(port),
            ..ClientOptions::default()
        };
        let ex = client::run(&opts, &ctx.calls.named(format!("client {i}")))?;
        let reply_ok = ex[0].replies == vec![b"hello".to_vec()];
        ctx.check(
            &format!("client {i} gets its 5 bytes back"),
            reply_ok,
            shown(&ex[0].replies),
        );
        if let Some(local) = ex[0].local {
            client_ports.push(local.port());
        }
        pause(100);
    }
    let rows = ctx.states("after both clients closed");
    ctx.check(
        "each client gets a new ephemeral port",
        client_ports.len() == 2 && client_ports[0] != client_ports[1],
        format!("ports {client_ports:?}"),
    );
    let tw_on_client = client_ports.iter().all(|p| {
        rows.iter()
            .any(|r| r.state == "TIME-WAIT" && r.local.port() == *p)
    });
    ctx.check(
        "TIME-WAIT is on the client's side (it closed first)",
        tw_on_client,
        "kernel socket table (/proc/net/tcp)",
    );
    Ok(())
}

fn tcp_echo_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let conns: Vec<u64> = {
        let mut c: Vec<u64> = rows.iter().filter_map(|r| r.conn).collect();
        c.dedup();
        c
    };
    let handshakes = rows
        .iter()
        .filter(|r| r.note.starts_with("handshake 3/3"))
        .count();
    let first_fin_by_client = conns.iter().all(|c| {
        rows.iter()
            .find(|r| r.conn == Some(*c) && r.has(FIN))
            .is_some_and(|r| r.from_client)
    });
    let last_states: Vec<_> = conns
        .iter()
        .filter_map(|c| {
            rows.iter()
                .rev()
                .find(|r| r.conn == Some(*c))
                .and_then(|r| r.states)
        })
        .collect();
    vec![
        packet_check(
            "two connections, each with handshake 1/3, 2/3, 3/3",
            handshakes == 2,
            format!("{handshakes} completed handshakes"),
        ),
        packet_check(
            "the client sends the first FIN in each connection",
            first_fin_by_client,
            "",
        ),
        packet_check(
            "each connection ends with the client in TIME-WAIT and the server CLOSED",
            last_states.len() == 2 && last_states.iter().all(|s| *s == ("TIME-WAIT", "CLOSED")),
            format!("{last_states:?}"),
        ),
    ]
}

// ---- refused ----

fn refused(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!(
        "connect to 127.0.0.1:{port}, where nothing listens"
    ));
    let opts = ClientOptions {
        server: local(port),
        ..ClientOptions::default()
    };
    let result = client::run(&opts, &ctx.calls.named("client".into()));
    let errno = match &result {
        Err(client::ClientError::Call(e)) => e.errno,
        _ => None,
    };
    ctx.check(
        "connect() fails at once with ECONNREFUSED",
        errno == Some(libc::ECONNREFUSED),
        format!("{errno:?}"),
    );
    Ok(())
}

fn refused_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let port = ctx.port(0);
    let syn = rows
        .iter()
        .position(|r| r.dport == port && r.has(SYN) && !r.has(ACK));
    let rst = rows
        .iter()
        .position(|r| r.sport == port && r.has(RST | ACK));
    vec![packet_check(
        "the SYN is answered by RST-ACK (nothing listens, so the kernel refuses)",
        matches!((syn, rst), (Some(s), Some(r)) if s < r),
        format!("SYN at row {syn:?}, RST at row {rst:?}"),
    )]
}

// ---- udp-echo ----

fn udp_echo(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!(
        "UDP echo server on 127.0.0.1:{port} reading with recvfrom(4)"
    ));
    let server = Server::start(
        ServeOptions {
            addr: local(port),
            udp: true,
            recv_buf: 4,
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    ctx.step("the client sends one 10-byte datagram");
    let opts = ClientOptions {
        server: local(port),
        udp: true,
        messages: vec!["0123456789".into()],
        ..ClientOptions::default()
    };
    let ex = client::run(&opts, &ctx.calls.named("client".into()))?;
    let got = server
        .log
        .lock()
        .map(|l| l.chunks.first().cloned().unwrap_or_default())
        .unwrap_or_default();
    ctx.check(
        "recvfrom(4) returns 4 bytes; the other 6 are discarded",
        got == b"0123",
        shown(std::slice::from_ref(&got)),
    );
    ctx.check(
        "the echo is one 4-byte datagram",
        ex[0].replies == vec![b"0123".to_vec()],
        shown(&ex[0].replies),
    );
    Ok(())
}

fn udp_echo_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let lens: Vec<u32> = rows.iter().filter(|r| r.udp).map(|r| r.len).collect();
    vec![packet_check(
        "one datagram each way: 10 bytes, then 4",
        lens == [10, 4],
        format!("{lens:?}"),
    )]
}

// ---- udp-no-server ----

fn udp_no_server(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let target = local(port);
    let calls = ctx.calls.named("client".into());
    ctx.step(&format!(
        "unconnected UDP socket: sendto(127.0.0.1:{port}), where nothing is bound, then recvfrom()"
    ));
    let s = calls.run(
        "socket(AF_INET, SOCK_DGRAM) + bind(127.0.0.1:0)",
        || UdpSocket::bind("127.0.0.1:0"),
        |_| "ok".into(),
    )?;
    s.set_read_timeout(Some(Duration::from_millis(300)))?;
    calls.run(
        format!("sendto(5, {target})"),
        || s.send_to(b"hello", target),
        |n| format!("{n} bytes"),
    )?;
    let mut buf = [0u8; 64];
    let r = calls.run(
        "recvfrom(64) [300 ms timeout]",
        || s.recv_from(&mut buf),
        |(n, _)| format!("{n} bytes"),
    );
    let timed_out = matches!(&r, Err(e) if e.errno == Some(libc::EAGAIN));
    ctx.check(
        "an unconnected socket never hears of the error: recvfrom just times out",
        timed_out,
        "",
    );
    ctx.step("connected UDP socket: connect(), send(), then send() again");
    let c = calls.run(
        "socket(AF_INET, SOCK_DGRAM) + bind(127.0.0.1:0)",
        || UdpSocket::bind("127.0.0.1:0"),
        |_| "ok".into(),
    )?;
    calls.run(
        format!("connect({target})"),
        || c.connect(target),
        |_| "ok (no packet: UDP has no handshake)".into(),
    )?;
    calls.run("send(5)", || c.send(b"hello"), |n| format!("{n} bytes"))?;
    pause(100);
    let again = calls.run("send(5)", || c.send(b"hello"), |n| format!("{n} bytes"));
    let refused = matches!(&again, Err(e) if e.errno == Some(libc::ECONNREFUSED));
    ctx.check(
        "the connected socket's next call fails with ECONNREFUSED",
        refused,
        "",
    );
    Ok(())
}

fn udp_no_server_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let datagrams = rows.iter().filter(|r| r.udp).count();
    let unreachable = rows.iter().filter(|r| r.icmp == Some((3, 3))).count();
    vec![
        packet_check(
            "the datagrams go out anyway (no handshake)",
            datagrams >= 2,
            format!("{datagrams} datagrams"),
        ),
        packet_check(
            "each is answered by ICMP port unreachable (3/3)",
            unreachable >= 2
                && rows
                    .iter()
                    .any(|r| r.icmp == Some((3, 3)) && r.note.contains("answers datagram #")),
            format!("{unreachable} ICMP errors"),
        ),
    ]
}

// ---- half-close ----

fn half_close(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let calls = ctx.calls.clone();
    let srv_calls = calls.named("server".into());
    let listener = server::open(
        &ServeOptions {
            addr: local(port),
            ..ServeOptions::default()
        },
        &srv_calls,
    )?;
    let listener: std::net::TcpListener = listener.into();
    let cl = calls.named("client".into());
    ctx.step("the client connects, sends a request and calls shutdown(SHUT_WR)");
    let mut client = cl.run(
        format!("connect(127.0.0.1:{port})"),
        || TcpStream::connect(local(port)),
        |_| "ok".into(),
    )?;
    let (mut conn, _) = srv_calls.run(
        "accept()",
        || listener.accept(),
        |(_, p)| format!("peer {p}"),
    )?;
    cl.run(
        "send(18)",
        || client.write_all(b"GET / HTTP/1.0\r\n\r\n"),
        |_| "18 bytes".into(),
    )?;
    cl.run(
        "shutdown(SHUT_WR)",
        || client.shutdown(Shutdown::Write),
        |_| "ok: FIN sent".into(),
    )?;
    pause(100);
    let rows = ctx.states("after the client's shutdown(SHUT_WR)");
    let server_close_wait = rows
        .iter()
        .any(|r| r.local.port() == port && r.state == "CLOSE-WAIT");
    let client_fin_wait2 = rows
        .iter()
        .any(|r| r.remote.port() == port && r.state == "FIN-WAIT-2");
    ctx.check(
        "server in CLOSE-WAIT, client in FIN-WAIT-2",
        server_close_wait && client_fin_wait2,
        "",
    );
    ctx.step("the server reads to EOF, still sends its reply, then closes");
    let mut req = Vec::new();
    srv_calls.run(
        "recv() until 0 bytes",
        || conn.read_to_end(&mut req),
        |n| format!("{n} bytes, then EOF"),
    )?;
    srv_calls.run(
        "send(12)",
        || conn.write_all(b"HTTP/1.0 200"),
        |_| "12 bytes: a half-closed peer can still receive".into(),
    )?;
    srv_calls.run(
        "close()",
        || {
            drop(conn);
            Ok(())
        },
        |()| "ok".into(),
    )?;
    let mut reply = Vec::new();
    cl.run(
        "recv() until 0 bytes",
        || client.read_to_end(&mut reply),
        |n| format!("{n} bytes, then EOF"),
    )?;
    ctx.check(
        "the client still receives the reply after its FIN",
        reply == b"HTTP/1.0 200",
        shown(std::slice::from_ref(&reply)),
    );
    drop(client);
    pause(50);
    ctx.states("after both closed");
    Ok(())
}

fn half_close_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let client_fin = rows.iter().position(|r| r.from_client && r.has(FIN));
    let server_data_after =
        client_fin.is_some_and(|f| rows[f..].iter().any(|r| !r.from_client && r.len > 0));
    vec![packet_check(
        "the server sends data after the client's FIN (a FIN only means \"I will send no more\")",
        server_data_after,
        format!("client FIN at row {client_fin:?}"),
    )]
}

// ---- abort ----

fn abort(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let calls = ctx.calls.clone();
    let srv = calls.named("server".into());
    let listener: std::net::TcpListener = server::open(
        &ServeOptions {
            addr: local(port),
            ..ServeOptions::default()
        },
        &srv,
    )?
    .into();
    let cl = calls.named("client".into());
    let client = cl.run(
        format!("connect(127.0.0.1:{port})"),
        || TcpStream::connect(local(port)),
        |_| "ok".into(),
    )?;
    let (mut conn, _) = srv.run(
        "accept()",
        || listener.accept(),
        |(_, p)| format!("peer {p}"),
    )?;
    ctx.step("the client sets SO_LINGER {1, 0} and closes");
    let sock = socket2::SockRef::from(&client);
    cl.run(
        "setsockopt(SO_LINGER, {1, 0})",
        || sock.set_linger(Some(Duration::ZERO)),
        |_| "ok".into(),
    )?;
    cl.run(
        "close()",
        || {
            drop(client);
            Ok(())
        },
        |()| "ok: RST instead of FIN".into(),
    )?;
    pause(50);
    let mut buf = [0u8; 16];
    let r = srv.run("recv(16)", || conn.read(&mut buf), |n| format!("{n} bytes"));
    ctx.check(
        "the server's recv() fails with ECONNRESET",
        matches!(&r, Err(e) if e.errno == Some(libc::ECONNRESET)),
        "",
    );
    let rows = ctx.states("after the RST");
    ctx.check(
        "no TIME-WAIT is left",
        !rows.iter().any(|r| r.state == "TIME-WAIT"),
        "",
    );
    Ok(())
}

fn abort_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let rst = rows.iter().any(|r| r.from_client && r.has(RST | ACK));
    let fin = rows.iter().any(|r| r.has(FIN));
    vec![packet_check(
        "the client's close sends RST-ACK and no FIN is seen",
        rst && !fin,
        "",
    )]
}

//! The `send-buffer` lab: the program a student would write, and the checks.

use std::io::{Read, Write};
use std::time::Duration;

use crate::lab::kit::{local, pause};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::track::event::Event;
use crate::track::state::TcpState;

pub fn send_buffer(ctx: &mut LabCtx) -> anyhow::Result<()> {
    use socket2::{Domain, Socket, Type};
    let port = ctx.port(0);
    let srv = ctx.calls.named("server".into());
    let cl = ctx.calls.named("client".into());
    ctx.step(&format!(
        "a receiver on 127.0.0.1:{port} with a 4 KiB receive buffer, which accepts but does not read yet"
    ));
    let listener = srv.run(
        "socket(AF_INET, SOCK_STREAM) + setsockopt(SO_RCVBUF, 4096)",
        || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_reuse_address(true)?;
            s.set_recv_buffer_size(4096)?;
            Ok::<Socket, std::io::Error>(s)
        },
        |_| "ok".into(),
    )?;
    // Linux doubles the size set (the other half is for its bookkeeping,
    // socket(7)): getsockopt returns 8192 for 4096.
    let rcvbuf = srv.run(
        "getsockopt(SO_RCVBUF)",
        || listener.recv_buffer_size(),
        |n| format!("{n}: Linux doubles the value set, keeping half for its own bookkeeping"),
    )?;
    ctx.check(
        "getsockopt(SO_RCVBUF) returns twice the 4096 set (Linux doubles it)",
        rcvbuf == 8192,
        format!("{rcvbuf}"),
    );
    srv.run(
        format!("bind(127.0.0.1:{port}) + listen(1)"),
        || {
            listener
                .bind(&local(port).into())
                .and_then(|_| listener.listen(1))
        },
        |_| "ok".into(),
    )?;
    ctx.step(
        "the sender: a 4 KiB send buffer, non-blocking, sends 1 KiB at a time until send() refuses",
    );
    let sender = cl.run(
        "socket(AF_INET, SOCK_STREAM) + setsockopt(SO_SNDBUF, 4096) + connect()",
        || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            s.set_send_buffer_size(4096)?;
            s.connect(&local(port).into())?;
            s.set_nonblocking(true)?;
            Ok::<Socket, std::io::Error>(s)
        },
        |_| "ok".into(),
    )?;
    let (conn, _) = srv.run(
        "accept()",
        || listener.accept(),
        |_| "ok (and no recv() yet)".into(),
    )?;
    let chunk = [b'x'; 1024];
    let mut copied = 0usize;
    let mut would_block = false;
    for _ in 0..256 {
        match (&sender).write(&chunk) {
            Ok(n) => copied += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                would_block = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    cl.say(&format!(
        "send(1024) x {}: {copied} bytes copied into the kernel, then send() -> EAGAIN (Resource temporarily unavailable): both buffers are full; a blocking socket would wait here",
        copied.div_ceil(1024)
    ));
    ctx.check(
        "send() returns only once the bytes are copied into the kernel; when the buffers are full a non-blocking send() fails with EAGAIN",
        would_block && copied > 0,
        format!("{copied} bytes accepted"),
    );
    // Long enough for the zero window to be advertised and probed.
    pause(400);
    let rows = ctx.states("the receiver has not read");
    let recv_q = rows
        .iter()
        .find(|r| r.local.port() == port && r.state == KernelState::Tcp(TcpState::Established))
        .map_or(0, |r| r.recv_q);
    let send_q = rows
        .iter()
        .find(|r| r.remote.port() == port && r.state == KernelState::Tcp(TcpState::Established))
        .and_then(|r| r.send_q)
        .unwrap_or(0);
    ctx.check(
        "the receiver's Recv-Q holds what it did not read, the sender's Send-Q the bytes not yet acknowledged (queued or in flight)",
        recv_q > 0 && send_q > 0,
        format!("Recv-Q {recv_q}, Send-Q {send_q}"),
    );
    ctx.step("the receiver reads everything: the window opens, the rest flows");
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut got = 0usize;
    let mut buf = [0u8; 8192];
    while got < copied {
        match (&conn).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => break,
        }
    }
    srv.say(&format!("recv() until all arrived -> {got} bytes"));
    ctx.check(
        "every byte send() accepted arrives, once the receiver reads",
        got == copied,
        format!("{got} of {copied} bytes"),
    );
    drop(sender);
    drop(conn);
    Ok(())
}

pub fn send_buffer_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let port = ctx.port(0);
    let zero = rows
        .iter()
        .position(|r| r.sport == port && r.shows(|e| *e == Event::ZeroWindow));
    let update = zero.and_then(|z| {
        rows[z..]
            .iter()
            .position(|r| r.sport == port && r.shows(|e| matches!(e, Event::WindowUpdate { .. })))
    });
    vec![
        packet_check(
            "the receiver advertises a zero window (its buffer is full)",
            zero.is_some(),
            "",
        ),
        packet_check(
            "after it reads, a window update opens the window again",
            update.is_some(),
            "",
        ),
    ]
}

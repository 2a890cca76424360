//! The `send-buffer` lab: the program a student would write, and the checks.

use std::io::{Read, Write};
use std::time::Duration;

use crate::call::{Call, Op, Returned};
use crate::lab::kit::{local, pause};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::{moved, ok, on, CallError, Calls};
use crate::track::event::Event;
use crate::track::state::TcpState;

pub fn send_buffer(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let srv = ctx.calls.named("server".into());
    let cl = ctx.calls.named("client".into());
    ctx.step(&format!(
        "a receiver on 127.0.0.1:{port} with a 4 KiB receive buffer, which accepts but does not read yet"
    ))?;
    let listener = stream_socket(&srv)?;
    srv.run(
        on(Call::new(Op::Setsockopt), &listener).option("SO_REUSEADDR", "1"),
        || listener.set_reuse_address(true),
        ok,
    )?;
    srv.run(
        on(Call::new(Op::Setsockopt), &listener).option("SO_RCVBUF", "4096"),
        || listener.set_recv_buffer_size(4096),
        ok,
    )?;
    // Linux doubles the size set (the other half is for its bookkeeping,
    // socket(7)): getsockopt returns 8192 for 4096.
    let rcvbuf = srv.run(
        on(Call::new(Op::Getsockopt), &listener)
            .option("SO_RCVBUF", "")
            .comment("Linux doubles the value set, keeping half for its own bookkeeping"),
        || listener.recv_buffer_size(),
        |&n| moved(n),
    )?;
    ctx.check(
        "getsockopt(SO_RCVBUF) returns twice the 4096 set (Linux doubles it)",
        rcvbuf == 8192,
        format!("{rcvbuf}"),
    );
    srv.run(
        on(Call::new(Op::Bind), &listener).addr(local(port)),
        || listener.bind(&local(port).into()),
        ok,
    )?;
    let mut listen = on(Call::new(Op::Listen), &listener);
    listen.args.backlog = Some(1);
    srv.run(listen, || listener.listen(1), ok)?;
    ctx.step(
        "the sender: a 4 KiB send buffer, non-blocking, sends 1 KiB at a time until send() refuses",
    )?;
    let sender = stream_socket(&cl)?;
    cl.run(
        on(Call::new(Op::Setsockopt), &sender).option("SO_SNDBUF", "4096"),
        || sender.set_send_buffer_size(4096),
        ok,
    )?;
    cl.run(
        on(Call::new(Op::Connect), &sender).addr(local(port)),
        || sender.connect(&local(port).into()),
        ok,
    )?;
    // fcntl(O_NONBLOCK): not a socket call the timeline shows.
    sender.set_nonblocking(true)?;
    let (conn, _) = srv.run(
        on(Call::new(Op::Accept), &listener).comment("and no recv() yet"),
        || listener.accept(),
        |(s, p)| Returned {
            fd: Some(std::os::fd::AsRawFd::as_raw_fd(s)),
            peer: p.as_socket(),
            ..Returned::default()
        },
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
    ctx.step("the receiver reads everything: the window opens, the rest flows")?;
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

/// socket(AF_INET, SOCK_STREAM), reported.
fn stream_socket(calls: &Calls) -> Result<socket2::Socket, CallError> {
    use socket2::{Domain, Socket, Type};
    let mut call = Call::new(Op::Socket);
    call.args.family = Some("AF_INET");
    call.args.kind = Some("SOCK_STREAM");
    calls.run(
        call,
        || Socket::new(Domain::IPV4, Type::STREAM, None),
        |s| Returned {
            fd: Some(std::os::fd::AsRawFd::as_raw_fd(s)),
            ..Returned::default()
        },
    )
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

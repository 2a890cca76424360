//! The `half-close` lab: the program a student would write, and the checks.

use std::net::Shutdown;

use crate::call::{Call, Op};
use crate::lab::kit::{close, kernel_has, local, or_none, recv, send, shown, tcp_pair};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord, FIN};
use crate::sockets::server::{self, ServeOptions};
use crate::sockets::{ok, on};
use crate::track::state::TcpState;

pub fn half_close(ctx: &mut LabCtx) -> anyhow::Result<()> {
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
    ctx.step("the client connects, sends a request and calls shutdown(SHUT_WR)")?;
    let (mut client, mut conn) = tcp_pair(&cl, &srv_calls, &listener, port)?;
    send(&cl, &mut client, b"GET / HTTP/1.0\r\n\r\n", None)?;
    let mut call = on(Call::new(Op::Shutdown), &client);
    call.args.how = Some("SHUT_WR");
    cl.run(call, || client.shutdown(Shutdown::Write), ok)?;
    // The FIN is acknowledged: the client is in FIN-WAIT-2.
    kernel_has(client.local_addr()?.port(), TcpState::FinWait2);
    let rows = ctx.states("after the client's shutdown(SHUT_WR)");
    let server_close_wait = rows
        .iter()
        .any(|r| r.local.port() == port && r.state == KernelState::Tcp(TcpState::CloseWait));
    let client_fin_wait2 = rows
        .iter()
        .any(|r| r.remote.port() == port && r.state == KernelState::Tcp(TcpState::FinWait2));
    ctx.check(
        "server in CLOSE-WAIT, client in FIN-WAIT-2",
        server_close_wait && client_fin_wait2,
        "",
    );
    // See: issue 14 (l): the FIN takes a sequence number recv() never copies.
    let close_wait_q = rows
        .iter()
        .find(|r| r.local.port() == port && r.state == KernelState::Tcp(TcpState::CloseWait))
        .map(|r| r.recv_q);
    ctx.check(
        "the server's Recv-Q is 19: the 18 unread bytes and the FIN, counted as 1",
        close_wait_q == Some(19),
        or_none(close_wait_q),
    );
    // As lsof shows it: one port, two sockets, two fds.
    let fd_of = |state: TcpState| {
        rows.iter()
            .find(|r| r.local.port() == port && r.state == KernelState::Tcp(state))
            .and_then(|r| r.owner.as_ref().map(|o| o.2))
    };
    let (listener, accepted) = (fd_of(TcpState::Listen), fd_of(TcpState::CloseWait));
    ctx.check(
        "the listening socket and the accepted connection share the port but are different fds",
        listener.is_some() && accepted.is_some() && listener != accepted,
        format!(
            "listening fd {}, accepted fd {}",
            listener.map_or("?".into(), |f| f.to_string()),
            accepted.map_or("?".into(), |f| f.to_string())
        ),
    );
    ctx.step("the server reads to EOF, still sends its reply, then closes")?;
    recv(&srv_calls, &mut conn, 1024, true)?;
    send(
        &srv_calls,
        &mut conn,
        b"HTTP/1.0 200",
        Some("a half-closed peer can still receive"),
    )?;
    close(&srv_calls, conn)?;
    let reply = recv(&cl, &mut client, 1024, true)?;
    ctx.check(
        "the client still receives the reply after its FIN",
        reply == b"HTTP/1.0 200",
        shown(std::slice::from_ref(&reply)),
    );
    let client_port = client.local_addr()?.port();
    drop(client);
    kernel_has(client_port, TcpState::TimeWait);
    ctx.states("after both closed");
    Ok(())
}

pub fn half_close_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let client_fin = rows.iter().position(|r| r.from_client && r.has(FIN));
    let server_data_after =
        client_fin.is_some_and(|f| rows[f..].iter().any(|r| !r.from_client && r.len > 0));
    vec![packet_check(
        "the server sends data after the client's FIN (a FIN only means \"I will send no more\")",
        server_data_after,
        format!(
            "client FIN at frame {}",
            or_none(client_fin.map(|i| rows[i].frame))
        ),
    )]
}

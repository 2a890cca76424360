//! The `reuseaddr` lab: the program a student would write, and the checks.

use crate::lab::kit::{
    close, connect, kernel_has, kernel_left, local, recv, send, tcp_pair, ChildServer,
};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord, ACK, FIN, RST};
use crate::sockets::server::{self, ServeOptions};
use crate::track::state::TcpState;

pub fn reuseaddr(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let calls = ctx.calls.clone();
    let srv = calls.named("server".into());
    let cl = calls.named("client".into());
    let opts = |reuse: Option<bool>| ServeOptions {
        addr: local(port),
        reuseaddr: reuse,
        ..ServeOptions::default()
    };
    ctx.step("a server with SO_REUSEADDR accepts a client, then closes the connection first")?;
    let listener: std::net::TcpListener = server::open(&opts(Some(true)), &srv)?.into();
    let (mut client, conn) = tcp_pair(&cl, &srv, &listener, port)?;
    close(&srv, conn)?;
    recv(&cl, &mut client, 8, false)?;
    close(&cl, client)?;
    close(&srv, listener)?;
    kernel_has(port, TcpState::TimeWait);
    let rows = ctx.states("after the server closed first");
    ctx.check(
        "TIME-WAIT is on the server's port: the server closed first",
        rows.iter()
            .any(|r| r.state == KernelState::Tcp(TcpState::TimeWait) && r.local.port() == port),
        "",
    );
    ctx.step("restart the server without SO_REUSEADDR")?;
    let plain = server::open(&opts(None), &srv);
    ctx.check(
        "bind() fails with EADDRINUSE while the TIME-WAIT lasts",
        matches!(&plain, Err(e) if e.errno == Some(libc::EADDRINUSE)),
        "",
    );
    ctx.step("restart the server with SO_REUSEADDR (the old socket had it too)")?;
    let reuse = server::open(&opts(Some(true)), &srv);
    ctx.check(
        "with SO_REUSEADDR on the old and the new socket, bind() succeeds (Linux rule)",
        reuse.is_ok(),
        "",
    );
    drop(reuse);
    let port2 = ctx.port(1);
    ctx.step(&format!(
        "a server process on {port2} is killed with SIGKILL while a client is connected"
    ))?;
    let mut child = ChildServer::start(&["tcp", "--port", &port2.to_string(), "--duration", "10"])?;
    let mut c = connect(&cl, port2, None)?;
    // The child server has accepted the connection before it is killed.
    kernel_has(port2, TcpState::Established);
    let client_port = c.local_addr()?.port();
    child.kill(libc::SIGKILL);
    // The kernel closed the killed server's socket: its FIN put the client
    // in CLOSE-WAIT.
    kernel_has(client_port, TcpState::CloseWait);
    send(
        &cl,
        &mut c,
        b"hello",
        Some("accepted locally; the peer answers with RST"),
    )?;
    // The RST the first send drew has reset the client's socket.
    kernel_left(client_port, TcpState::CloseWait);
    let second = send(&cl, &mut c, b"hello", None);
    ctx.check(
        "after the kill the kernel closed the server's socket (FIN); the client's next send draws RST, the one after fails with EPIPE",
        matches!(&second, Err(e) if e.errno == Some(libc::EPIPE)),
        "",
    );
    Ok(())
}

pub fn reuseaddr_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let first_fin = rows.iter().find(|r| r.has(FIN));
    let killed = ctx.port(1);
    let fin_from_killed = rows.iter().any(|r| r.sport == killed && r.has(FIN));
    let bare_rst = rows
        .iter()
        .any(|r| r.sport == killed && r.has(RST) && !r.has(ACK));
    vec![
        packet_check(
            "the first FIN comes from the server",
            first_fin.is_some_and(|r| !r.from_client),
            "",
        ),
        packet_check(
            "the killed server's kernel still sends a FIN",
            fin_from_killed,
            "",
        ),
        packet_check(
            "the client's data after that draws a RST without ACK, from a socket that is gone",
            bare_rst,
            "",
        ),
    ]
}

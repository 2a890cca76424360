//! The `abort` lab: the program a student would write, and the checks.

use crate::lab::kit::{
    bytes_queued, close, close_saying, conn_established, local, recv, send, tcp_pair, wait_until,
};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord, ACK, FIN, RST};
use crate::sockets::server::{self, ServeOptions};
use crate::sockets::set_linger0;
use crate::track::state::TcpState;

pub fn abort(ctx: &mut LabCtx) -> anyhow::Result<()> {
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
    let (client, mut conn) = tcp_pair(&cl, &srv, &listener, port)?;
    ctx.step("the client sets SO_LINGER {1, 0} and closes")?;
    set_linger0(&cl, &client)?;
    close(&cl, client)?;
    // The RST has reached the server's socket: it left ESTABLISHED.
    wait_until(|| !conn_established(&conn));
    let r = recv(&srv, &mut conn, 16, false);
    ctx.check(
        "the server's recv() fails with ECONNRESET",
        matches!(&r, Err(e) if e.errno == Some(libc::ECONNRESET)),
        "",
    );
    let rows = ctx.states("after the RST");
    ctx.check(
        "no TIME-WAIT is left",
        !rows
            .iter()
            .any(|r| r.state == KernelState::Tcp(TcpState::TimeWait)),
        "",
    );
    ctx.step(
        "a second connection: the client sends data the server never reads, and the server closes",
    )?;
    let (mut client, conn) = tcp_pair(&cl, &srv, &listener, port)?;
    send(&cl, &mut client, b"unread", None)?;
    // The 6 bytes are in the server's receive queue, unread.
    wait_until(|| bytes_queued(&conn) >= 6);
    close_saying(&srv, conn, "with 6 bytes received and unread")?;
    // The server's RST has reset the client's socket.
    wait_until(|| !conn_established(&client));
    let r = recv(&cl, &mut client, 16, false);
    ctx.check(
        "closing with unread data also resets: the client's recv() fails with ECONNRESET",
        matches!(&r, Err(e) if e.errno == Some(libc::ECONNRESET)),
        "",
    );
    Ok(())
}

pub fn abort_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let first = rows.iter().filter_map(|r| r.conn).min();
    let rst = rows
        .iter()
        .any(|r| r.conn == first && r.from_client && r.has(RST | ACK));
    let fin = rows.iter().any(|r| r.has(FIN));
    let server_rst = rows
        .iter()
        .any(|r| r.conn != first && !r.from_client && r.has(RST | ACK));
    vec![
        packet_check(
            "the client's close sends RST-ACK and no FIN is seen",
            rst && !fin,
            "",
        ),
        packet_check(
            "the server's close with unread data sends RST-ACK too",
            server_rst,
            "",
        ),
    ]
}

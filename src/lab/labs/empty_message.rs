//! The `empty-message` lab: the program a student would write, and the checks.

use crate::lab::kit::{close, local, pause, recv, send, shown, tcp_pair, Server};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::{self, ServeOptions};

pub fn empty_message(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let (tcp_port, udp_port) = (ctx.port(0), ctx.port(1));
    let calls = ctx.calls.clone();
    let srv = calls.named("server".into());
    let cl = calls.named("client".into());
    let listener: std::net::TcpListener = server::open(
        &ServeOptions {
            addr: local(tcp_port),
            ..ServeOptions::default()
        },
        &srv,
    )?
    .into();
    ctx.step("TCP: the client sends an empty message, waits, then closes")?;
    let (mut client, mut conn) = tcp_pair(&cl, &srv, &listener, tcp_port)?;
    let sent = send(&cl, &mut client, b"", None)?;
    // The wait is the lesson: time for a segment to appear, and none does.
    pause(100);
    close(&cl, client)?;
    let got = recv(&srv, &mut conn, 16, false)?;
    ctx.check(
        "TCP send(b\"\") returns 0 and the server's recv() returns 0 only at the FIN",
        sent == 0 && got.is_empty(),
        "",
    );
    drop(conn);
    ctx.step("UDP: the client sends an empty datagram")?;
    let server = Server::start(
        ServeOptions {
            addr: local(udp_port),
            udp: true,
            ..ServeOptions::default()
        },
        &calls,
    )?;
    let opts = ClientOptions {
        server: local(udp_port),
        udp: true,
        messages: vec![String::new()],
        ..ClientOptions::default()
    };
    let ex = client::run(&opts, &cl)?;
    let got = server
        .log
        .lock()
        .map(|l| l.chunks.clone())
        .unwrap_or_default();
    ctx.check(
        "UDP recvfrom() returns a 0-byte datagram, and its echo comes back",
        got == vec![Vec::<u8>::new()] && ex[0].replies == vec![Vec::<u8>::new()],
        shown(&got),
    );
    Ok(())
}

pub fn empty_message_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let tcp_data = rows.iter().any(|r| r.tcp_flags.is_some() && r.len > 0);
    let empty_udp = rows
        .iter()
        .any(|r| r.udp && r.len == 0 && r.dport == ctx.port(1));
    vec![
        packet_check(
            "no TCP segment carries data: an empty send sends nothing",
            !tcp_data,
            "",
        ),
        packet_check("a UDP datagram of length 0 is on the wire", empty_udp, ""),
    ]
}

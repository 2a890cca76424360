//! The `udp-echo` lab: the program a student would write, and the checks.

use crate::lab::kit::{list, local, shown, Server};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::ServeOptions;

pub fn udp_echo(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!(
        "UDP echo server on 127.0.0.1:{port} reading with recvfrom(4)"
    ))?;
    let server = Server::start(
        ServeOptions {
            addr: local(port),
            udp: true,
            recv_buf: 4,
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    // An explicit bind(): the port is in the socket table at once.
    let rows = ctx.states("after the server's bind()");
    ctx.check(
        "after bind() the server's UDP socket is in the table (UNCONN: UDP has no connections)",
        rows.iter()
            .any(|r| r.proto == "udp" && r.local.port() == port && r.state == KernelState::Unconn),
        "",
    );
    ctx.step("the client sends one 10-byte datagram")?;
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

pub fn udp_echo_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let lens: Vec<u32> = rows.iter().filter(|r| r.udp).map(|r| r.len).collect();
    vec![packet_check(
        "one datagram each way: 10 bytes, then 4",
        lens == [10, 4],
        format!("lengths {}", list(&lens)),
    )]
}

//! The `recv-buffer` lab: the program a student would write, and the checks.

use crate::lab::kit::{list, local, served, Server};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::ServeOptions;

pub fn recv_buffer(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let calls = ctx.calls.clone();
    ctx.step("a server reading with recv(3) gets 'καλημέρα' (16 bytes)")?;
    let server = Server::start(
        ServeOptions {
            addr: local(port),
            recv_buf: 3,
            ..ServeOptions::default()
        },
        &calls,
    )?;
    let opts = ClientOptions {
        server: local(port),
        messages: vec!["καλημέρα".into()],
        recv_buf: 4,
        ..ClientOptions::default()
    };
    client::run(&opts, &calls.named("client".into()))?;
    // The server's recv() calls have returned every byte (16).
    served(&server.log, 1, 16);
    let chunks = server
        .log
        .lock()
        .map(|l| l.chunks.clone())
        .unwrap_or_default();
    let cut = chunks
        .iter()
        .filter(|c| std::str::from_utf8(c).is_err())
        .count();
    ctx.check(
        "recv(3) cuts Greek letters (2 bytes each) in half",
        cut >= 2,
        format!(
            "{} recv calls, {cut} of them not whole letters",
            chunks.len()
        ),
    );
    drop(server);
    Ok(())
}

pub fn recv_buffer_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let segments: Vec<u32> = rows
        .iter()
        .filter(|r| r.from_client && r.len > 0)
        .map(|r| r.len)
        .collect();
    vec![packet_check(
        "the 16 bytes crossed the wire in one segment: recv boundaries are not send boundaries",
        segments == [16],
        format!("client segments {}", list(&segments)),
    )]
}

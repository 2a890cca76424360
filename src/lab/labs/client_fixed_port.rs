//! The `client-fixed-port` lab: the program a student would write, and the checks.

use crate::lab::kit::{echo_server, kernel_has, local};
use crate::lab::{packet_check, Check, LabCtx, RowRecord, FIN, SYN};
use crate::sockets::client::{self, ClientOptions};
use crate::track::state::TcpState;

pub fn client_fixed_port(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let (server_port, fixed) = (ctx.port(0), ctx.port(1));
    let _server = echo_server(ctx, server_port)?;
    let base = ClientOptions {
        server: local(server_port),
        bind: Some(local(fixed)),
        reuseaddr: Some(true),
        ..ClientOptions::default()
    };
    ctx.step(&format!(
        "the client binds 127.0.0.1:{fixed} (SO_REUSEADDR on), talks, and closes first"
    ))?;
    client::run(&base, &ctx.calls.named("client".into()))?;
    kernel_has(fixed, TcpState::TimeWait);
    ctx.states("after the close");
    ctx.step("it reconnects from the same port without SO_REUSEADDR")?;
    let plain = ClientOptions {
        reuseaddr: None,
        ..base.clone()
    };
    let r = client::run(&plain, &ctx.calls.named("client".into()));
    ctx.check(
        "without SO_REUSEADDR the fixed port is still in use (EADDRINUSE)",
        matches!(&r, Err(client::ClientError::Call(e)) if e.errno == Some(libc::EADDRINUSE)),
        "",
    );
    ctx.step("it reconnects with SO_REUSEADDR on")?;
    let r = client::run(&base, &ctx.calls.named("client".into()));
    ctx.check(
        "with SO_REUSEADDR on both sockets Linux takes over the TIME-WAIT",
        r.is_ok(),
        "",
    );
    Ok(())
}

pub fn client_fixed_port_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let fixed = ctx.port(1);
    let syns: Vec<&RowRecord> = rows
        .iter()
        .filter(|r| r.sport == fixed && r.has(SYN))
        .collect();
    let old_fin = rows.iter().find(|r| r.sport == fixed && r.has(FIN));
    let isn_ok = match (syns.as_slice(), old_fin) {
        ([_, new], Some(fin)) => new.seq.wrapping_sub(fin.seq.wrapping_add(1)) == 65537,
        _ => false,
    };
    vec![packet_check(
        "the new SYN reuses the 4-tuple with ISN = old next sequence number + 65537",
        isn_ok,
        format!("{} SYNs from port {fixed}", syns.len()),
    )]
}

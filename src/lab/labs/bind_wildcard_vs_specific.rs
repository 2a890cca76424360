//! The `bind-wildcard-vs-specific` lab: the program a student would write, and the checks.

use std::net::SocketAddr;

use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::server::{self, ServeOptions};

pub fn bind_wildcard(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let srv = ctx.calls.named("server".into());
    let at = |ip: [u8; 4], reuseaddr: Option<bool>, reuseport: bool| ServeOptions {
        addr: SocketAddr::from((ip, port)),
        reuseaddr,
        reuseport,
        ..ServeOptions::default()
    };
    ctx.step(&format!(
        "listen on 0.0.0.0:{port}, then on 127.0.0.2:{port}, both with SO_REUSEADDR"
    ))?;
    let wildcard = server::open(&at([0, 0, 0, 0], Some(true), false), &srv)?;
    let specific = server::open(&at([127, 0, 0, 2], Some(true), false), &srv);
    ctx.check(
        "Linux refuses the second listener (EADDRINUSE), even with SO_REUSEADDR on both; macOS/BSD would allow it",
        matches!(&specific, Err(e) if e.errno == Some(libc::EADDRINUSE)),
        specific.as_ref().err().map(ToString::to_string).unwrap_or_default(),
    );
    drop(specific);
    drop(wildcard);
    ctx.step("the same two listeners with SO_REUSEPORT on both")?;
    let a = server::open(&at([0, 0, 0, 0], None, true), &srv);
    let b = server::open(&at([127, 0, 0, 2], None, true), &srv);
    ctx.check(
        "with SO_REUSEPORT on both, both listen",
        a.is_ok() && b.is_ok(),
        "",
    );
    ctx.states("two listeners on one port");
    Ok(())
}

pub fn no_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    vec![packet_check(
        "binding and listening send nothing on the wire",
        rows.is_empty(),
        format!("{} packets", rows.len()),
    )]
}

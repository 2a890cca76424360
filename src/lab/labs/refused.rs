//! The `refused` lab: the program a student would write, and the checks.

use crate::lab::kit::{local, or_none};
use crate::lab::{packet_check, Check, LabCtx, RowRecord, ACK, RST, SYN};
use crate::sockets::client::{self, ClientOptions};

pub fn refused(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!(
        "connect to 127.0.0.1:{port}, where nothing listens"
    ))?;
    let opts = ClientOptions {
        server: local(port),
        ..ClientOptions::default()
    };
    let result = client::run(&opts, &ctx.calls.named("client".into()));
    let errno = match &result {
        Err(client::ClientError::Call(e)) => e.errno,
        _ => None,
    };
    ctx.check(
        "connect() fails at once with ECONNREFUSED",
        errno == Some(libc::ECONNREFUSED),
        errno.map_or_else(
            || "no errno".to_string(),
            |e| crate::sockets::errno_name(e).to_string(),
        ),
    );
    Ok(())
}

pub fn refused_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let port = ctx.port(0);
    let syn = rows
        .iter()
        .position(|r| r.dport == port && r.has(SYN) && !r.has(ACK));
    let rst = rows
        .iter()
        .position(|r| r.sport == port && r.has(RST | ACK));
    vec![packet_check(
        "the SYN is answered by RST-ACK (nothing listens, so the kernel refuses)",
        matches!((syn, rst), (Some(s), Some(r)) if s < r),
        format!(
            "SYN at frame {}, RST at frame {}",
            or_none(syn.map(|i| rows[i].frame)),
            or_none(rst.map(|i| rows[i].frame))
        ),
    )]
}

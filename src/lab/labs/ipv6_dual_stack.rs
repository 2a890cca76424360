//! The `ipv6-dual-stack` lab: the program a student would write, and the checks.

use std::net::SocketAddr;

use crate::lab::kit::{local, or_none, served, Server};
use crate::lab::{packet_check, Check, LabCtx, RowRecord, RST};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::ServeOptions;

pub fn ipv6_dual_stack(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let (dual, v6only) = (ctx.port(0), ctx.port(1));
    let any6 = |p| SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, p));
    ctx.step(&format!(
        "a server on [::]:{dual} with IPV6_V6ONLY off; an IPv4 client connects"
    ))?;
    let server = Server::start(
        ServeOptions {
            addr: any6(dual),
            v6only: Some(false),
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    client::run(
        &ClientOptions {
            server: local(dual),
            ..ClientOptions::default()
        },
        &ctx.calls.named("client".into()),
    )?;
    served(&server.log, 1, 5);
    let peer = server
        .log
        .lock()
        .ok()
        .and_then(|l| l.peers.first().copied());
    ctx.check(
        "accept() reports the IPv4 client as ::ffff:127.0.0.1",
        peer.is_some_and(|p| p.ip().to_string() == "::ffff:127.0.0.1"),
        or_none(peer),
    );
    ctx.step(&format!(
        "a server on [::]:{v6only} with IPV6_V6ONLY on: IPv4 client, then IPv6 client"
    ))?;
    let _v6 = Server::start(
        ServeOptions {
            addr: any6(v6only),
            v6only: Some(true),
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    let v4 = client::run(
        &ClientOptions {
            server: local(v6only),
            ..ClientOptions::default()
        },
        &ctx.calls.named("client".into()),
    );
    ctx.check(
        "with V6ONLY the IPv4 client is refused (ECONNREFUSED)",
        matches!(&v4, Err(client::ClientError::Call(e)) if e.errno == Some(libc::ECONNREFUSED)),
        "",
    );
    let v6 = client::run(
        &ClientOptions {
            server: SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6only)),
            ..ClientOptions::default()
        },
        &ctx.calls.named("client".into()),
    );
    ctx.check("the IPv6 client (::1) is served", v6.is_ok(), "");
    Ok(())
}

pub fn ipv6_dual_stack_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let dual = ctx.port(0);
    let dual_rows: Vec<&RowRecord> = rows
        .iter()
        .filter(|r| r.sport == dual || r.dport == dual)
        .collect();
    vec![
        packet_check(
            "the dual-stack connection is plain IPv4 on the wire (mapped addresses exist only in the API)",
            !dual_rows.is_empty() && dual_rows.iter().all(|r| !r.v6),
            format!("{} packets", dual_rows.len()),
        ),
        packet_check(
            "the IPv4 SYN to the V6ONLY server is answered by RST",
            rows.iter().any(|r| r.sport == ctx.port(1) && !r.v6 && r.has(RST)),
            "",
        ),
    ]
}

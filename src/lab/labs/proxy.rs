//! The `proxy` lab: the program a student would write, and the checks.

use std::thread;

use crate::lab::kit::{echo_server, listening, local, or_none, served, shown};
use crate::lab::{packet_check, Check, LabCtx, RowRecord, FIN};
use crate::sockets::client::{self, ClientOptions};
use crate::track::event::Event;

pub fn proxy(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let (server_port, proxy_port) = (ctx.port(0), ctx.port(1));
    let server = echo_server(ctx, server_port)?;
    ctx.step(&format!(
        "a proxy on 127.0.0.1:{proxy_port} relays to the server on {server_port}"
    ))?;
    let stop = crate::sockets::shutdown::Shutdown::new()?;
    let (s, pc) = (stop.clone(), ctx.calls.named("proxy".into()));
    let relay = thread::spawn(move || {
        crate::sockets::proxy::run(local(proxy_port), local(server_port), &pc, &s)
    });
    listening(proxy_port);
    ctx.step("the client connects to the proxy and sends \"hello\"")?;
    let ex = client::run(
        &ClientOptions {
            server: local(proxy_port),
            ..ClientOptions::default()
        },
        &ctx.calls.named("client".into()),
    );
    // The server has echoed, and both of the proxy's connections closed.
    served(&server.log, 1, 5);
    stop.trigger();
    let _ = relay.join();
    let ex = ex?;
    ctx.check(
        "the echo comes back through the proxy",
        ex[0].replies == vec![b"hello".to_vec()],
        shown(&ex[0].replies),
    );
    let peer = server
        .log
        .lock()
        .ok()
        .and_then(|l| l.peers.first().copied());
    ctx.check(
        "the server sees the proxy's connection, not the client's",
        peer.is_some() && peer != ex[0].local,
        format!(
            "server's peer {}, client {}",
            or_none(peer),
            or_none(ex[0].local)
        ),
    );
    Ok(())
}

pub fn proxy_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let handshakes = |port: u16| {
        rows.iter()
            .filter(|r| r.dport == port && r.shows(|e| *e == Event::HandshakeDone))
            .count()
    };
    let fins = |port: u16| {
        rows.iter()
            .filter(|r| (r.dport == port || r.sport == port) && r.has(FIN))
            .count()
    };
    vec![packet_check(
        "two connections, each with its own handshake and its own FINs",
        handshakes(ctx.port(1)) == 1
            && handshakes(ctx.port(0)) == 1
            && fins(ctx.port(0)) == 2
            && fins(ctx.port(1)) == 2,
        "",
    )]
}

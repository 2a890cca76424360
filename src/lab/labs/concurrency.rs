//! The `concurrency` lab: the program a student would write, and the checks.

use crate::lab::kit::{local, served, ChildServer, Server};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::{self, ServeOptions};
use crate::track::event::Event;

pub fn concurrency(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let opts_for = |port: u16| ClientOptions {
        server: local(port),
        clients: 3,
        messages: vec!["one".into(), "two".into()],
        ..ClientOptions::default()
    };
    // The same three clients against each way of serving: nothing differs
    // on the wire; the server's calls show who serves each connection.
    for (i, mode) in [
        server::Mode::Single,
        server::Mode::Thread,
        server::Mode::Event,
        server::Mode::Async,
    ]
    .into_iter()
    .enumerate()
    {
        let port = ctx.port(i);
        ctx.step(&format!("a {mode} server on {port}; three clients at once"))?;
        let server = Server::start(
            ServeOptions {
                addr: local(port),
                mode,
                ..ServeOptions::default()
            },
            &ctx.calls,
        )?;
        let all = client::run(&opts_for(port), &ctx.calls.named("clients".into()))?;
        let right = all
            .iter()
            .all(|e| e.replies == vec![b"one".to_vec(), b"two".to_vec()]);
        served(&server.log, 3, 18);
        let accepted = server.log.lock().map(|l| l.peers.len()).unwrap_or(0);
        ctx.check(
            &format!("the {mode} server serves all three clients correctly"),
            right && accepted == 3,
            format!("{accepted} accepted"),
        );
    }
    let port = ctx.port(4);
    ctx.step(&format!(
        "a server that forks a process per connection on {port}; three clients at once"
    ))?;
    let _child = ChildServer::start(&[
        "tcp",
        "--port",
        &port.to_string(),
        "--mode",
        "process",
        "--duration",
        "10",
    ])?;
    let all = client::run(&opts_for(port), &ctx.calls.named("clients".into()))?;
    let right = all
        .iter()
        .all(|e| e.replies == vec![b"one".to_vec(), b"two".to_vec()]);
    ctx.check(
        "the forking server serves all three clients correctly",
        right,
        "",
    );
    Ok(())
}

pub fn concurrency_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let handshakes = rows
        .iter()
        .filter(|r| r.shows(|e| *e == Event::HandshakeDone))
        .count();
    vec![packet_check(
        "fifteen connections, each with its own handshake",
        handshakes == 15,
        format!("{handshakes}"),
    )]
}

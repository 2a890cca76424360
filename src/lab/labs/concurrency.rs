//! The `concurrency` lab: the program a student would write, and the checks.

use std::time::Duration;

use crate::lab::kit::{local, served, wait_until, ChildServer, Server};
use crate::lab::sockstate::{snapshot, KernelState};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::client::{self, ClientOptions};
use crate::sockets::server::{self, ServeOptions};
use crate::track::event::Event;
use crate::track::state::TcpState;

/// How long each server waits before each echo: long enough that all
/// three clients are connected when the socket table is read.
const ECHO_DELAY_MS: u64 = 150;

pub fn concurrency(ctx: &mut LabCtx) -> anyhow::Result<()> {
    // The same three clients against each way of serving: nothing differs
    // on the wire; the socket table shows who holds each connection (one
    // process or three, each an fd), and the calls who serves it.
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
                delay: Duration::from_millis(ECHO_DELAY_MS),
                ..ServeOptions::default()
            },
            &ctx.calls,
        )?;
        let (right, holders) = three_clients(ctx, port, mode)?;
        served(&server.log, 3, 18);
        let accepted = server.log.lock().map(|l| l.peers.len()).unwrap_or(0);
        ctx.check(
            &format!("the {mode} server serves all three clients correctly"),
            right && accepted == 3,
            format!("{accepted} accepted"),
        );
        holders_check(ctx, mode, &holders);
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
        "--delay",
        &ECHO_DELAY_MS.to_string(),
        "--duration",
        "10",
    ])?;
    let (right, holders) = three_clients(ctx, port, server::Mode::Process)?;
    ctx.check(
        "the forking server serves all three clients correctly",
        right,
        "",
    );
    holders_check(ctx, server::Mode::Process, &holders);
    Ok(())
}

/// Who holds a connection's server end: (pid, fd), or nobody yet.
type Holder = Option<(u32, i32)>;

/// The processes holding the server's end of each connection on `port`
/// (pid and fd, as `ss -tp` shows them); `None` for one still waiting in
/// the accept queue.
fn holders(port: u16) -> Vec<Holder> {
    snapshot(&[port])
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.local.port() == port && r.state == KernelState::Tcp(TcpState::Established))
        .map(|r| r.owner.map(|(pid, _, fd)| (pid, fd)))
        .collect()
}

/// Three clients, two messages each, while the socket table is read once
/// all three are connected (and, but for the single server, accepted):
/// whether every echo came back, and who held the connections.
fn three_clients(
    ctx: &LabCtx,
    port: u16,
    mode: server::Mode,
) -> anyhow::Result<(bool, Vec<Holder>)> {
    let opts = ClientOptions {
        server: local(port),
        clients: 3,
        messages: vec!["one".into(), "two".into()],
        ..ClientOptions::default()
    };
    let calls = ctx.calls.named("clients".into());
    let clients = std::thread::spawn(move || client::run(&opts, &calls));
    // A single server accepts the next client only when it is done with
    // one: the others wait, connected, in the accept queue.
    let held = if mode == server::Mode::Single { 1 } else { 3 };
    wait_until(|| {
        let h = holders(port);
        h.len() == 3 && h.iter().flatten().count() == held
    });
    let holders = holders(port);
    ctx.states(&format!("three clients connected to the {mode} server"));
    let all = clients
        .join()
        .map_err(|_| anyhow::anyhow!("the clients' thread failed"))??;
    let right = all.len() == 3
        && all
            .iter()
            .all(|e| e.replies == vec![b"one".to_vec(), b"two".to_vec()]);
    Ok((right, holders))
}

/// What the socket table shows of each way of serving.
fn holders_check(ctx: &mut LabCtx, mode: server::Mode, holders: &[Holder]) {
    let held: Vec<(u32, i32)> = holders.iter().flatten().copied().collect();
    let mut pids: Vec<u32> = held.iter().map(|(pid, _)| *pid).collect();
    pids.sort_unstable();
    pids.dedup();
    let detail = format!(
        "{} connected, held by {}",
        holders.len(),
        held.iter()
            .map(|(pid, fd)| format!("pid {pid} fd {fd}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (what, passed) = match mode {
        server::Mode::Single => (
            "the single server holds one connection; the other two wait in the accept queue"
                .to_string(),
            holders.len() == 3 && held.len() == 1,
        ),
        server::Mode::Process => (
            "the forking server's three connections are held by three processes".to_string(),
            held.len() == 3 && pids.len() == 3,
        ),
        _ => (
            format!("the {mode} server holds all three connections in one process, an fd each"),
            held.len() == 3 && pids.len() == 1,
        ),
    };
    ctx.check(&what, passed, detail);
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

//! `serve`, `client` and `proxy`: the labs' echo programs, optionally captured.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::live::{filter_words, Session};
use super::output::{Run, Sink};
use crate::cli::{ClientArgs, KernelArgs, OnOff, OutputArgs, ProxyArgs, ServeArgs, Transport};
use crate::sockets::shutdown::Shutdown;
use crate::sockets::Calls;

/// The stop every task, thread and process of the program hears: Ctrl-C,
/// SIGTERM, or `duration` seconds.
fn shutdown_on_signals(duration: Option<f64>) -> anyhow::Result<Shutdown> {
    let duration = duration
        .map(|d| {
            Duration::try_from_secs_f64(d)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--duration must be a positive number of seconds")
        })
        .transpose()?;
    let stop = Shutdown::new().context("cannot create the stop signal")?;
    stop.on_signals(duration)?;
    Ok(stop)
}

pub(super) fn proxy(args: &ProxyArgs) -> anyhow::Result<()> {
    let stop = shutdown_on_signals(args.duration)?;
    let ports = [args.listen.port(), args.upstream.port()];
    with_capture(
        args.capture,
        "proxy",
        &ports,
        &args.output,
        args.kernel,
        |calls| {
            let relayed = crate::sockets::proxy::run(args.listen, args.upstream, calls, &stop)?;
            calls.say(&crate::render::explain::stopped_text(
                relayed.connections,
                Some(relayed.bytes),
                "relayed",
            ));
            Ok(())
        },
    )
}

/// Run `body` (a server or a client) while capturing its port live: the
/// annotated timeline streams to stdout (or `--output`), interleaved with
/// the socket-call lines as they happen.
fn with_capture(
    capture: bool,
    who: &str,
    ports: &[u16],
    output: &OutputArgs,
    kernel: KernelArgs,
    body: impl FnOnce(&Calls) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if !capture {
        return body(&Calls::stdout(who));
    }
    // A server and the proxy stop on Ctrl-C and SIGTERM themselves (their
    // stop reaches every connection), and the capture's output is then kept
    // whole; the client ends at SIGTERM, its temporary output removed.
    let ends_at_once: &[libc::c_int] = if who == "client" {
        &[libc::SIGTERM, libc::SIGHUP]
    } else {
        &[libc::SIGHUP]
    };
    crate::cleanup::exit_cleanly_on(ends_at_once);
    let session = Session::open(ports, kernel, output.verbose)?;
    let calls = Calls::queued(who, Arc::clone(&session.queue));
    eprintln!(
        "wirelab: capturing on {} ({})",
        session.source.interface(),
        filter_words(None, ports)
    );
    let sink = Sink::open(output.path(), None, output.force)?;
    let args = output.clone();
    let what = format!("wirelab {who} --capture");
    let running = session.start(move |mut source, queue| {
        Run::with_calls(what, &queue, true).to(sink, &args, &mut source)
    });
    let result = body(&calls);
    running.stop();
    result.and(running.join())
}

/// The first address `host` names (getaddrinfo, reported as `who`'s call
/// with every address found).
fn first_address(host: &str, port: u16, who: &str) -> anyhow::Result<std::net::SocketAddr> {
    let addrs = crate::sockets::server::resolve(host, port, &Calls::stdout(who))?;
    addrs
        .first()
        .copied()
        .with_context(|| format!("{host} resolves to no address"))
}

pub(super) fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    use crate::sockets::server::{self, ServeOptions};
    let addr = first_address(&args.addr, args.port, "server")?;
    let opts = ServeOptions {
        udp: args.transport == Transport::Udp,
        addr,
        reuseaddr: args.reuseaddr.map(OnOff::is_on),
        reuseport: args.reuseport,
        backlog: args.backlog,
        linger0: args.linger0,
        recv_buf: args.recv_buf,
        recv_once: args.recv_once,
        delay: Duration::from_millis(args.delay),
        no_accept: args.no_accept,
        v6only: args.v6only.map(OnOff::is_on),
        mode: args.mode,
    };
    let stop = shutdown_on_signals(args.duration)?;
    with_capture(
        args.capture,
        "server",
        &[addr.port()],
        &args.output,
        args.kernel,
        |calls| {
            let socket = server::open(&opts, calls)?;
            let log = server::SharedLog::default();
            server::serve(socket, &opts, calls, &stop, &log)?;
            let (connections, bytes) = log
                .lock()
                .map(|l| (l.peers.len() as u64, l.echoed_bytes))
                .unwrap_or_default();
            // A forked child's bytes are counted in its own memory.
            let bytes = (opts.mode != server::Mode::Process || opts.udp).then_some(bytes);
            calls.say(&crate::render::explain::stopped_text(
                connections,
                bytes,
                "echoed",
            ));
            Ok(())
        },
    )
}

pub(super) fn client(args: &ClientArgs) -> anyhow::Result<()> {
    use crate::sockets::client::{self, ClientOptions};
    let server = first_address(&args.addr, args.port, "client")?;
    let opts = ClientOptions {
        udp: args.transport == Transport::Udp,
        server,
        bind: args.bind,
        reuseaddr: args.reuseaddr.map(OnOff::is_on),
        messages: if args.messages.is_empty() {
            vec!["hello".to_string()]
        } else {
            args.messages.clone()
        },
        repeat: args.repeat,
        clients: args.clients,
        shutdown_write: args.shutdown_write,
        linger0: args.linger0,
        recv_buf: args.recv_buf,
        encoding: args.encoding,
        ..ClientOptions::default()
    };
    with_capture(
        args.capture,
        "client",
        &[server.port()],
        &args.output,
        args.kernel,
        |calls| {
            let interactive = args.stdin || (args.messages.is_empty() && io::stdin().is_terminal());
            let exchanges = if interactive {
                calls.say("reading lines from standard input: each one is sent, and the echo shown; Ctrl-D ends");
                let lines = io::stdin().lines().map_while(Result::ok);
                vec![client::interactive(&opts, lines, calls)?]
            } else {
                client::run(&opts, calls)?
            };
            let ports: Vec<String> = exchanges
                .iter()
                .filter_map(|e| e.local.map(|a| a.port().to_string()))
                .collect();
            calls.say(&format!(
                "done: {} connection(s), local port(s) {}",
                exchanges.len(),
                ports.join(", ")
            ));
            Ok(())
        },
    )
}

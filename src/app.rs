//! The pipeline: source -> decode -> track -> render, one packet at a time.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::capture::file::FileSource;
use crate::capture::live::{LiveOptions, LiveSource};
use crate::capture::FrameSource;
use crate::cli::{
    ClientArgs, Command, Format, OnOff, OutputArgs, ReplayArgs, ServeArgs, Transport, WatchArgs,
};
use crate::decode::decode;
use crate::export::json::JsonRender;
use crate::render::table::TableRender;
use crate::render::text::TextRender;
use crate::render::{Render, RunEnd, Verbosity};
use crate::sockets::Calls;
use crate::track::Tracker;

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Replay(args) => replay(&args),
        Command::Watch(args) => watch(&args),
        Command::Serve(args) => serve(&args),
        Command::Client(args) => client(&args),
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    use crate::sockets::server::{self, ServeOptions};
    let calls = Calls::stdout("server");
    let addrs = server::resolve(&args.addr, args.port, &calls)?;
    let addr = *addrs
        .first()
        .with_context(|| format!("{} resolves to no address", args.addr))?;
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
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_stop.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    if let Some(d) = args.duration {
        let timer_stop = Arc::clone(&stop);
        let d = Duration::try_from_secs_f64(d)
            .context("--duration must be a positive number of seconds")?;
        std::thread::spawn(move || {
            std::thread::sleep(d);
            timer_stop.store(true, Ordering::Relaxed);
        });
    }
    let socket = server::open(&opts, &calls)?;
    let log = server::SharedLog::default();
    server::serve(socket, &opts, &calls, &stop, &log)?;
    calls.say("stopped; sockets closed");
    Ok(())
}

fn client(args: &ClientArgs) -> anyhow::Result<()> {
    use crate::sockets::client::{self, ClientOptions};
    let calls = Calls::stdout("client");
    let addrs = crate::sockets::server::resolve(&args.addr, args.port, &calls)?;
    let server = *addrs
        .first()
        .with_context(|| format!("{} resolves to no address", args.addr))?;
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
    let exchanges = client::run(&opts, &calls)?;
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
}

/// Where output goes: standard output, or a temporary file renamed into
/// place only when everything was written.
enum Sink {
    Stdout,
    File {
        tmp: PathBuf,
        target: PathBuf,
        file: File,
    },
}

impl Sink {
    fn open(output: Option<&Path>, input: Option<&Path>) -> anyhow::Result<Sink> {
        let Some(target) = output else {
            return Ok(Sink::Stdout);
        };
        if let (Some(input), Ok(out_canon)) = (input, fs::canonicalize(target)) {
            if fs::canonicalize(input).is_ok_and(|i| i == out_canon) {
                bail!(
                    "refusing to write the output over the input file {}",
                    input.display()
                );
            }
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.wirelab-{}.tmp", std::process::id()));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", target.display()))?;
        Ok(Sink::File {
            tmp,
            target: target.to_path_buf(),
            file,
        })
    }

    fn writer(&self) -> anyhow::Result<Box<dyn Write>> {
        Ok(match self {
            Sink::Stdout => Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
            Sink::File { file, .. } => {
                Box::new(BufWriter::with_capacity(1 << 16, file.try_clone()?))
            }
        })
    }

    /// Keep the output: rename the temporary file into place.
    fn commit(self) -> anyhow::Result<()> {
        if let Sink::File { tmp, target, file } = self {
            file.sync_all()
                .with_context(|| format!("cannot write {}", target.display()))?;
            fs::rename(&tmp, &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }

    /// Drop a partial output.
    fn discard(self) {
        if let Sink::File { tmp, .. } = self {
            let _ = fs::remove_file(tmp);
        }
    }
}

fn renderer<'w>(
    args: &OutputArgs,
    out: Box<dyn Write + 'w>,
    to_terminal: bool,
) -> Box<dyn Render + 'w> {
    let verbosity = if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    match args.format {
        Format::Json => Box::new(JsonRender::new(out, !args.summary)),
        Format::Text => Box::new(TextRender::new(out, verbosity, !args.summary)),
        Format::Table if args.summary => Box::new(TextRender::new(out, verbosity, false)),
        Format::Table => {
            let colour = to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            Box::new(TableRender::new(out, verbosity, colour))
        }
    }
}

/// Run the pipeline to the end of the source. A source error (a damaged
/// file, an interface that went away) still lets the output finish with
/// what was read; the error is returned afterwards.
pub fn pump(source: &mut dyn FrameSource, render: &mut dyn Render) -> anyhow::Result<()> {
    let mut tracker = Tracker::new();
    let mut source_error = None;
    loop {
        let frame = match source.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                source_error = Some(e);
                break;
            }
        };
        if !frame.link.is_supported() {
            bail!(
                "unsupported link type {} (wirelab reads Ethernet, Linux SLL/SLL2, BSD NULL/LOOP and raw IP)",
                frame.link
            );
        }
        let packet = decode(&frame);
        let row = tracker.track(&packet);
        render.packet(&row)?;
        for summary in tracker.drain_finished() {
            render.conn(&summary)?;
        }
    }
    for summary in tracker.finish() {
        render.conn(&summary)?;
    }
    render.finish(&RunEnd {
        stats: tracker.stats(),
        drops: source.drop_counters(),
    })?;
    match source_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let mut source = FileSource::open(&args.file)?;
    let sink = Sink::open(args.output.output.as_deref(), Some(&args.file))?;
    let result = run_to(&sink, &args.output, |render| pump(&mut source, render));
    finish_sink(sink, result)
}

fn run_to(
    sink: &Sink,
    args: &OutputArgs,
    body: impl FnOnce(&mut dyn Render) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let to_terminal = matches!(sink, Sink::Stdout) && io::stdout().is_terminal();
    let mut render = renderer(args, sink.writer()?, to_terminal);
    body(render.as_mut())
}

fn finish_sink(sink: Sink, result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Ok(()) => sink.commit(),
        Err(e) => {
            // A damaged input still yields a complete report of what was read.
            if e.downcast_ref::<crate::capture::file::FileDamaged>()
                .is_some()
            {
                sink.commit()?;
            } else {
                sink.discard();
            }
            Err(e)
        }
    }
}

/// The BPF expression for `--filter` and `--port`.
pub fn capture_filter(filter: Option<&str>, ports: &[u16]) -> Option<String> {
    let ports = if ports.is_empty() {
        None
    } else {
        let list: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
        // ICMP stays in: a port-unreachable answer is part of the story.
        Some(format!("{} or icmp or icmp6", list.join(" or ")))
    };
    match (filter, ports) {
        (Some(f), Some(p)) => Some(format!("({f}) and ({p})")),
        (Some(f), None) => Some(f.to_string()),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    }
}

fn watch(args: &WatchArgs) -> anyhow::Result<()> {
    let duration = match args.duration {
        Some(d) if !(d.is_finite() && d > 0.0) => {
            bail!("--duration must be a positive number of seconds")
        }
        Some(d) => Some(Duration::from_secs_f64(d)),
        None => None,
    };
    let options = LiveOptions {
        interface: args.interface.clone(),
        filter: capture_filter(args.filter.as_deref(), &args.ports),
        count: args.count,
        duration,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_stop.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    let mut source = LiveSource::open(&options, stop)?;
    eprintln!(
        "wirelab: capturing on {} ({}){}; Ctrl-C to stop",
        source.interface(),
        source.link(),
        options
            .filter
            .as_deref()
            .map(|f| format!(", filter \"{f}\""))
            .unwrap_or_default()
    );
    let sink = Sink::open(args.output.output.as_deref(), None)?;
    let result = run_to(&sink, &args.output, |render| pump(&mut source, render));
    finish_sink(sink, result)
}

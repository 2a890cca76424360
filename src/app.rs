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
    ClientArgs, Command, DemoArgs, Format, KernelArgs, OnOff, OutputArgs, ProxyArgs, ReplayArgs,
    ServeArgs, TraceArgs, Transport, WatchArgs,
};
use crate::decode::decode;
use crate::export::json::JsonRender;
use crate::render::escape::escape_text;
use crate::render::explain::explain;
use crate::render::progress::Progress;
use crate::render::table::TableRender;
use crate::render::text::TextRender;
use crate::render::{Render, RunEnd, Verbosity};
use crate::sockets::{CallQueue, Calls};
use crate::track::{ListenCheck, Tracker};

pub fn run(command: Command) -> anyhow::Result<()> {
    let output = match &command {
        Command::Replay(a) => &a.output,
        Command::Watch(a) => &a.output,
        Command::Serve(a) => &a.output,
        Command::Client(a) => &a.output,
        Command::Proxy(a) => &a.output,
        Command::Demo(a) => &a.output,
        Command::Trace(a) => &a.output,
    };
    output.check().map_err(anyhow::Error::msg)?;
    match command {
        Command::Replay(args) => replay(&args),
        Command::Watch(args) => watch(&args),
        Command::Serve(args) => serve(&args),
        Command::Client(args) => client(&args),
        Command::Proxy(args) => proxy(&args),
        Command::Demo(args) => demo(&args),
        Command::Trace(args) => trace(&args),
    }
}

fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    use crate::lab::labs::{find, LABS};
    let Some(name) = args.lab.as_deref().filter(|_| !args.list) else {
        // Columns as wide as the longest name. Written, not println!, so a
        // closed pipe (`demo --list | head -1`) is an error main forgives.
        let width = LABS.iter().map(|l| l.name.len()).max().unwrap_or(0);
        let mut out = io::stdout().lock();
        for lab in LABS {
            writeln!(
                out,
                "{:<width$}  {:>4.1} s  {}",
                lab.name, lab.seconds, lab.question
            )?;
        }
        return Ok(());
    };
    if !args.no_capture {
        // Nothing else handles these in a demo: the kernel's trace
        // instance is removed, then wirelab ends as the signal says.
        crate::kernel::tracefs::exit_cleanly_on(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    }
    let labs: Vec<&crate::lab::Lab> = if name == "all" {
        LABS.iter().collect()
    } else {
        vec![find(name)
            .with_context(|| format!("no lab named {name} (wirelab demo --list shows them)"))?]
    };
    // One output for every lab (`demo all -o FILE`): each lab writes
    // through to it, and it is kept only when all were written.
    let sink = Sink::open(args.output.output.as_deref(), None, args.output.force)?;
    let mut failed = 0;
    let mut result = Ok(());
    for lab in labs {
        match sink.share().and_then(|shared| run_lab(lab, args, shared)) {
            Ok((f, quit)) => {
                failed += f;
                if quit {
                    break; // q at a --step prompt ends the demo, not only this lab
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    finish_sink(sink, result)?;
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Run one lab: capture its ports, run its program, then check what was seen.
/// Returns the number of failed checks.
/// Returns the number of failed checks, and whether the student quit (`q`).
fn run_lab(lab: &crate::lab::Lab, args: &DemoArgs, sink: Sink) -> anyhow::Result<(usize, bool)> {
    use crate::lab::{Check, LabCtx, Recorder, RowRecord};
    let json = args.output.format() == Format::Json;
    // The lab's title and checks go where its timeline goes when that is
    // text or JSON Lines; the other formats keep them on standard output.
    let mut out: Box<dyn Write + Send> = if matches!(
        args.output.format(),
        Format::Json | Format::Text | Format::Table
    ) {
        sink.share()?.writer(false)?
    } else {
        Box::new(io::stdout())
    };
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"kind": "lab", "name": lab.name, "question": lab.question})
        )?;
    } else {
        writeln!(out, "== {}: {}", lab.name, lab.question)?;
    }
    out.flush()?;
    let ports = (0..lab.ports)
        .map(|_| free_port())
        .collect::<anyhow::Result<Vec<u16>>>()?;
    let mut packet_checks: Vec<Check> = Vec::new();
    let mut ctx;
    if args.no_capture {
        ctx = LabCtx::new(Calls::stdout("lab"), ports, args.step);
        unless_quit((lab.run)(&mut ctx))?;
    } else {
        let stop = Arc::new(AtomicBool::new(false));
        let options = LiveOptions {
            filter: capture_filter(None, &ports),
            ..LiveOptions::default()
        };
        let mut source = LiveSource::open(&options, Arc::clone(&stop))
            .context("the demo captures its own traffic (or run it with --no-capture)")?;
        let queue = CallQueue::default();
        let _kernel = kernel_record(args.kernel, &ports, &queue, args.output.verbose);
        ctx = LabCtx::new(Calls::queued("lab", Arc::clone(&queue)), ports, args.step);
        let rows: Arc<std::sync::Mutex<Vec<RowRecord>>> = Arc::default();
        let recorded = Arc::clone(&rows);
        let out = args.output.clone();
        let save = match &args.save {
            Some(dir) => {
                if !dir.is_dir() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                    give_to_invoking_user(dir)?;
                }
                let force = args.output.force;
                let pcapng =
                    Sink::open(Some(&dir.join(format!("{}.pcapng", lab.name))), None, force)?;
                let json = Sink::open(Some(&dir.join(format!("{}.jsonl", lab.name))), None, force)?;
                Some((pcapng, json))
            }
            None => None,
        };
        let lab_name = lab.name;
        let capture = std::thread::spawn(move || {
            let Some((pcapng_sink, json_sink)) = save else {
                let result = run_to(&sink, &out, true, |render| {
                    let mut recorder = Recorder {
                        inner: render,
                        rows: recorded,
                    };
                    pump_with_calls(&mut source, &mut recorder, Some(&queue), None)
                });
                return finish_sink(sink, result);
            };
            let saved = (|| -> anyhow::Result<()> {
                let mut writer = crate::export::pcapng::PcapngWriter::new(
                    pcapng_sink.writer(false)?,
                    &format!("wirelab demo {lab_name}: packet comments are wirelab's explanations"),
                )?;
                let mut json = JsonRender::new(json_sink.writer(false)?, true);
                let result = run_to(&sink, &out, true, |render| {
                    let mut recorder = Recorder {
                        inner: render,
                        rows: recorded,
                    };
                    let mut tee = crate::render::Tee {
                        first: &mut recorder,
                        second: &mut json,
                    };
                    pump_with_calls(&mut source, &mut tee, Some(&queue), Some(&mut writer))
                });
                writer.finish()?;
                drop(json);
                result
            })();
            match saved {
                Ok(()) => {
                    pcapng_sink.commit()?;
                    json_sink.commit()?;
                    sink.commit()
                }
                Err(e) => {
                    pcapng_sink.discard();
                    json_sink.discard();
                    sink.discard();
                    Err(e)
                }
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let result = (lab.run)(&mut ctx);
        // Let the last ACKs (a delayed ACK is ~40 ms) reach the capture.
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        capture
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread failed"))??;
        unless_quit(result)?;
        // After a quit the lab did not finish: its packet checks would
        // judge steps that never ran.
        if !ctx.quit {
            let rows = rows.lock().map(|r| r.clone()).unwrap_or_default();
            packet_checks = (lab.packets)(&ctx, &rows);
        }
    }
    let checks: Vec<&Check> = ctx.checks.iter().chain(packet_checks.iter()).collect();
    let failed = checks.iter().filter(|c| c.passed == Some(false)).count();
    if json {
        // Checks as JSON Lines too, so the output stays one JSON object per line.
        for c in &checks {
            writeln!(
                out,
                "{}",
                serde_json::json!({"kind": "check", "lab": lab.name, "what": c.what, "passed": c.passed, "detail": c.detail})
            )?;
        }
        out.flush()?;
        return Ok((failed, ctx.quit));
    }
    writeln!(out, "what you should have seen:")?;
    for c in &checks {
        let mark = match c.passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "not checked",
        };
        let detail = if c.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.detail)
        };
        writeln!(
            out,
            "  [{mark}] {}{}",
            escape_text(&c.what),
            escape_text(&detail)
        )?;
    }
    if args.no_capture {
        writeln!(
            out,
            "  [not checked] packet checks (run as root without --no-capture to capture)"
        )?;
    } else if ctx.quit {
        writeln!(
            out,
            "  [not checked] packet checks (the lab stopped at q, before its last steps)"
        )?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok((failed, ctx.quit))
}

/// How long a live packet waits before it is shown when the kernel's
/// events are read: they come through their own buffer, a little later
/// than the packets, and each must sit before the packet it precedes.
const KERNEL_HOLD_NS: i64 = 20_000_000;

/// The kernel's record for a live run on `ports` (all when empty), its
/// events flowing into `queue`; or `None`, said once on stderr with why
/// (not root, no tracefs, --no-kernel asked for it).
fn kernel_record(
    args: KernelArgs,
    ports: &[u16],
    queue: &CallQueue,
    verbose: bool,
) -> Option<crate::kernel::tracefs::KernelTrace> {
    static SAID: std::sync::Once = std::sync::Once::new();
    if args.no_kernel {
        return None;
    }
    match crate::kernel::tracefs::KernelTrace::start(ports, Arc::clone(queue), verbose) {
        Ok(trace) => {
            if let Ok(mut q) = queue.lock() {
                q.hold_ns = KERNEL_HOLD_NS;
                q.kernel_unfiltered = ports.is_empty();
            }
            Some(trace)
        }
        Err(why) => {
            SAID.call_once(|| {
                eprintln!("wirelab: TCP states are inferred from the packets alone: {why}");
            });
            None
        }
    }
}

/// A lab's result, with `q` at a `--step` prompt not an error.
fn unless_quit(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.is::<crate::lab::Quit>() => Ok(()),
        other => other,
    }
}

/// A stop flag set by Ctrl-C, or after `duration` seconds.
fn stop_flag(duration: Option<f64>) -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_stop.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    if let Some(d) = duration {
        let timer_stop = Arc::clone(&stop);
        let d = Duration::try_from_secs_f64(d)
            .context("--duration must be a positive number of seconds")?;
        std::thread::spawn(move || {
            std::thread::sleep(d);
            timer_stop.store(true, Ordering::Relaxed);
        });
    }
    Ok(stop)
}

fn proxy(args: &ProxyArgs) -> anyhow::Result<()> {
    let stop = stop_flag(args.duration)?;
    let ports = [args.listen.port(), args.upstream.port()];
    with_capture(
        args.capture,
        "proxy",
        &ports,
        &args.output,
        args.kernel,
        |calls| {
            crate::sockets::proxy::run(args.listen, args.upstream, calls, &stop)?;
            calls.say("stopped; sockets closed");
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
    let queue = CallQueue::default();
    let calls = Calls::queued(who, Arc::clone(&queue));
    crate::kernel::tracefs::exit_cleanly_on(&[libc::SIGTERM, libc::SIGHUP]);
    let _kernel = kernel_record(kernel, ports, &queue, output.verbose);
    let stop = Arc::new(AtomicBool::new(false));
    let options = LiveOptions {
        filter: capture_filter(None, ports),
        ..LiveOptions::default()
    };
    let mut source = LiveSource::open(&options, Arc::clone(&stop))?;
    eprintln!(
        "wirelab: capturing on {} ({})",
        source.interface(),
        options.filter.as_deref().unwrap_or("all")
    );
    let sink = Sink::open(output.output.as_deref(), None, output.force)?;
    let args = output.clone();
    let capture = std::thread::spawn(move || {
        let result = run_to(&sink, &args, true, |render| {
            pump_with_calls(&mut source, render, Some(&queue), None)
        });
        finish_sink(sink, result)
    });
    std::thread::sleep(Duration::from_millis(100));
    let result = body(&calls);
    // Let the last ACKs of a close reach the capture before stopping it.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let captured = capture
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread failed"))?;
    result.and(captured)
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
    let stop = stop_flag(args.duration)?;
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
            calls.say("stopped; sockets closed");
            Ok(())
        },
    )
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

/// Under sudo, hand a file or directory we created to the user who ran
/// sudo (SUDO_UID/SUDO_GID), so a student can edit or delete what
/// `sudo wirelab ... -o FILE` wrote. Only when running as root.
fn give_to_invoking_user(path: &Path) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let id = |name| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let (Some(uid), gid) = (id("SUDO_UID"), id("SUDO_GID")) else {
        return Ok(());
    };
    std::os::unix::fs::chown(path, Some(uid), gid.or(Some(uid)))
        .with_context(|| format!("cannot give {} to user {uid}", path.display()))
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
    /// A device, FIFO or socket (`-o /dev/stdout`, `-o /dev/null`, a named
    /// pipe): written through, never replaced by a file.
    Through {
        target: PathBuf,
        file: File,
    },
}

impl Sink {
    fn open(output: Option<&Path>, input: Option<&Path>, force: bool) -> anyhow::Result<Sink> {
        let Some(target) = output.filter(|t| t.as_os_str() != "-") else {
            return Ok(Sink::Stdout);
        };
        // A symlink is followed: the file it names is the one written (the
        // link stays), as `>` in a shell does.
        let resolved = fs::canonicalize(target).ok();
        let target = resolved.as_deref().unwrap_or(target);
        if let Ok(meta) = fs::metadata(target) {
            if meta.is_dir() {
                bail!("{} is a directory; name a file", target.display());
            }
            if !meta.is_file() {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .open(target)
                    .with_context(|| format!("cannot write {}", target.display()))?;
                return Ok(Sink::Through {
                    target: target.to_path_buf(),
                    file,
                });
            }
        }
        if !force && fs::symlink_metadata(target).is_ok() {
            bail!(
                "{} already exists (use --force to overwrite it)",
                target.display()
            );
        }
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

    fn name(&self) -> String {
        match self {
            Sink::Stdout => "standard output".to_string(),
            Sink::File { target, .. } | Sink::Through { target, .. } => {
                target.display().to_string()
            }
        }
    }

    /// A writer for the renderer. Live output is line-buffered, so each row
    /// shows as its packet arrives and socket-call lines printed by other
    /// threads interleave with it (nothing holds the stdout lock between lines).
    fn writer(&self, live: bool) -> anyhow::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Sink::Stdout if live => Box::new(io::LineWriter::new(io::stdout())),
            Sink::Stdout => Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            Sink::File { file, .. } | Sink::Through { file, .. } => {
                Box::new(BufWriter::with_capacity(1 << 16, file.try_clone()?))
            }
        })
    }

    /// Keep the output: rename the temporary file into place.
    fn commit(self) -> anyhow::Result<()> {
        if let Sink::Through { target, mut file } = self {
            return file
                .flush()
                .with_context(|| format!("cannot write {}", target.display()));
        }
        if let Sink::File { tmp, target, file } = self {
            file.sync_all()
                .with_context(|| format!("cannot write {}", target.display()))?;
            give_to_invoking_user(&tmp)?;
            fs::rename(&tmp, &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }

    /// Another handle on the same output, written through (never renamed
    /// or removed: the original keeps that job). Several labs, one file.
    fn share(&self) -> anyhow::Result<Sink> {
        Ok(match self {
            Sink::Stdout => Sink::Stdout,
            Sink::File { target, file, .. } | Sink::Through { target, file } => Sink::Through {
                target: target.clone(),
                file: file.try_clone()?,
            },
        })
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
    out: Box<dyn Write + Send + 'w>,
    to_terminal: bool,
    live: bool,
) -> Box<dyn Render + 'w> {
    let verbosity = if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    match args.format() {
        Format::Json if live => Box::new(JsonRender::new(out, !args.summary)),
        Format::Json => Box::new(JsonRender::new(out, !args.summary).batched()),
        Format::Csv => Box::new(crate::export::csv::CsvRender::new(out)),
        Format::Md => Box::new(crate::export::markdown::MarkdownRender::new(out)),
        Format::Mermaid => Box::new(crate::export::mermaid::MermaidRender::new(out)),
        Format::Html => Box::new(crate::export::html::HtmlRender::new(out)),
        // The frames go to the pcapng writer (a tap), not to a renderer.
        Format::Pcapng => Box::new(crate::render::NullRender),
        Format::Text => Box::new(TextRender::new(out, verbosity, !args.summary).with_hex(args.hex)),
        Format::Table if args.summary => Box::new(TextRender::new(out, verbosity, false)),
        // A live view streams plain rows: a table would wait for its chunk to
        // fill; header bytes do not fit in a table cell.
        Format::Table if live || args.hex => {
            Box::new(TextRender::new(out, verbosity, true).with_hex(args.hex))
        }
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
    pump_with_calls(source, render, None, None)
}

/// Render socket calls from `calls` that happened up to `until_ns` (all of
/// them for `None`); the tracker hears of each call, to name it as the
/// cause of the packets that follow.
fn drain_calls(
    calls: Option<&CallQueue>,
    until_ns: Option<i64>,
    mut tracker: Option<&mut Tracker>,
    render: &mut dyn Render,
) -> io::Result<()> {
    let Some(queue) = calls else { return Ok(()) };
    // A packet waits (at most 20 ms) for a call that started before it and
    // may have sent it: close() is reported once it returns, and its FIN
    // can reach the capture first.
    if let Some(until) = until_ns {
        while queue.lock().is_ok_and(|q| q.waits_for(until)) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    // With the kernel's events, a live packet waits until events up to its
    // time have had time to arrive (at the end: the last ones).
    let hold = queue.lock().map_or(0, |q| q.hold_ns);
    if hold > 0 {
        let until = until_ns.unwrap_or_else(crate::sockets::now_ns);
        let wait = until.saturating_add(hold) - crate::sockets::now_ns();
        if wait > 0 {
            std::thread::sleep(Duration::from_nanos(wait.unsigned_abs()));
        }
    }
    loop {
        let next = {
            let Ok(mut q) = queue.lock() else {
                return Ok(());
            };
            match q.lines.front() {
                Some(line) if until_ns.is_none_or(|u| line.ts_ns() <= u) => {
                    let mut line = q.lines.pop_front();
                    // A state the kernel left again before the next packet
                    // (LISTEN -> SYN-RECEIVED -> ESTABLISHED on one ACK) is
                    // not held against the packets: only where it settles.
                    if let Some(crate::call::Line::Kernel(k)) = line.as_mut() {
                        let ends = k.event.ends();
                        // The queue is in time order: only lines up to the
                        // next packet are looked at.
                        k.settled = !q
                            .lines
                            .iter()
                            .take_while(|l| until_ns.is_none_or(|u| l.ts_ns() <= u))
                            .take(64)
                            .any(|l| {
                                matches!(l, crate::call::Line::Kernel(n)
                                    if matches!(n.event, crate::kernel::KernelEvent::State { .. })
                                        && n.event.ends() == ends)
                            });
                    }
                    line
                }
                _ => None,
            }
        };
        match next {
            Some(mut line) => {
                match (tracker.as_deref_mut(), &mut line) {
                    (Some(tracker), crate::call::Line::Call(call)) => tracker.call(call),
                    (Some(tracker), crate::call::Line::Kernel(k)) => {
                        tracker.kernel(k);
                        // Traced without a port filter, the kernel reports
                        // every TCP socket on the machine: only those of
                        // the captured conversations are shown.
                        if k.conn.is_none() && queue.lock().is_ok_and(|q| q.kernel_unfiltered) {
                            continue;
                        }
                    }
                    _ => {}
                }
                render.call(&line)?
            }
            None => return Ok(()),
        }
    }
}

/// The pipeline, with socket calls merged in by time when wirelab's own
/// programs run under `--capture`.
pub fn pump_with_calls(
    source: &mut dyn FrameSource,
    render: &mut dyn Render,
    calls: Option<&CallQueue>,
    tap: Option<&mut dyn crate::render::FrameTap>,
) -> anyhow::Result<()> {
    pump_observed(source, render, calls, tap, &mut Progress::off())
}

/// [`pump_with_calls`] with a progress bar.
pub fn pump_observed(
    source: &mut dyn FrameSource,
    render: &mut dyn Render,
    calls: Option<&CallQueue>,
    mut tap: Option<&mut dyn crate::render::FrameTap>,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let mut tracker = Tracker::new();
    if source.is_live() {
        tracker.set_listening(ListenCheck(Box::new(crate::lab::sockstate::is_listening)));
    }
    // The pcapng tap writes explanations as packet comments.
    tracker.set_explain(render.wants_notes() || tap.is_some());
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
        drain_calls(calls, Some(packet.ts_ns), Some(&mut tracker), render)?;
        let mut row = tracker.track(&packet);
        if tracker.explains() {
            explain(&mut row);
        }
        if let Some(tap) = tap.as_deref_mut() {
            tap.frame(&frame, &row)?;
        }
        render.packet(&row)?;
        tracker.recycle(row);
        progress.tick(tracker.stats().packets, source.position());
        for summary in tracker.drain_finished() {
            render.conn(&summary)?;
        }
    }
    progress.finish();
    drain_calls(calls, None, Some(&mut tracker), render)?;
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
    let sink = Sink::open(
        args.output.output.as_deref(),
        Some(&args.file),
        args.output.force,
    )?;
    if args.output.format() == Format::Pcapng {
        let what = format!("wirelab replay of {}", args.file.display());
        let result = write_pcapng(&sink, &what, &mut source, None);
        return finish_sink(sink, result);
    }
    // A bar on stderr, unless the timeline itself goes to that terminal.
    let show_progress =
        io::stderr().is_terminal() && !(matches!(sink, Sink::Stdout) && io::stdout().is_terminal());
    let result = run_to(&sink, &args.output, false, |render| {
        pump_observed(
            &mut source,
            render,
            None,
            None,
            &mut Progress::new(show_progress),
        )
    });
    finish_sink(sink, result)
}

fn run_to(
    sink: &Sink,
    args: &OutputArgs,
    live: bool,
    body: impl FnOnce(&mut dyn Render) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let to_terminal = matches!(sink, Sink::Stdout) && io::stdout().is_terminal();
    let mut render = renderer(args, sink.writer(live)?, to_terminal, live);
    body(render.as_mut()).map_err(|e| {
        // A bare I/O error here came from writing the output (a full disk,
        // a closed pipe): say which output.
        if e.downcast_ref::<io::Error>().is_some() {
            e.context(format!("cannot write {}", sink.name()))
        } else {
            e
        }
    })
}

fn finish_sink(sink: Sink, result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Ok(()) => sink.commit(),
        Err(e) => {
            // A damaged input still yields a complete report of what was read.
            if e.downcast_ref::<crate::capture::file::FileDamaged>()
                .is_some()
                || e.downcast_ref::<crate::capture::live::CaptureLost>()
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
    // Started before "capturing on" is said, so that it sees what follows.
    let queue = CallQueue::default();
    crate::kernel::tracefs::exit_cleanly_on(&[libc::SIGTERM, libc::SIGHUP]);
    let _kernel = kernel_record(args.kernel, &args.ports, &queue, args.output.verbose);
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
    let sink = Sink::open(args.output.output.as_deref(), None, args.output.force)?;
    if args.output.format() == Format::Pcapng {
        let what = format!("wirelab watch on {}", source.interface());
        let result = write_pcapng(&sink, &what, &mut source, Some(&queue));
        return finish_sink(sink, result);
    }
    let result = run_to(&sink, &args.output, true, |render| {
        pump_with_calls(&mut source, render, Some(&queue), None)
    });
    finish_sink(sink, result)
}

/// `wirelab trace -- COMMAND`: capture loopback into a temporary pcapng
/// while the program runs under strace, then replay the capture with the
/// program's socket calls merged in by time (see [`crate::trace`]).
/// The traced program's own failure, passed on as wirelab's exit status
/// (127 for a command that does not exist, as a shell says).
#[derive(Debug)]
pub struct ProgramStatus {
    pub code: u8,
    pub text: String,
}

impl std::fmt::Display for ProgramStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ProgramStatus {}

/// The child processes of `pid` (Linux: /proc/PID/task/*/children).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether `command` names a program: a path to an executable file, or a
/// name found in PATH.
fn program_exists(command: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        return runnable(Path::new(command));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| runnable(&dir.join(command))))
}

fn trace(args: &TraceArgs) -> anyhow::Result<()> {
    use std::io::BufRead;
    use std::process::Stdio;

    let Ok(version) = std::process::Command::new("strace").arg("-V").output() else {
        bail!("wirelab trace runs the program under strace, which is not installed (Debian/Ubuntu: sudo apt-get install strace)");
    };
    let seccomp = crate::trace::seccomp_bpf(&String::from_utf8_lossy(&version.stdout));
    // As a shell does: a command that is not there is exit status 127,
    // said before anything is started.
    if !program_exists(&args.command[0]) {
        return Err(ProgramStatus {
            code: 127,
            text: format!("{}: command not found", args.command[0]),
        }
        .into());
    }
    let dir = std::env::temp_dir().join(format!("wirelab-trace-{}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = trace_in(args, &dir, seccomp);
    let _ = fs::remove_dir_all(&dir);
    return result;

    fn trace_in(args: &TraceArgs, dir: &Path, seccomp: bool) -> anyhow::Result<()> {
        let capture_path = dir.join("capture.pcapng");
        let strace_path = dir.join("strace.txt");
        let filter = if args.ports.is_empty() {
            Some("tcp or udp or icmp or icmp6".to_string())
        } else {
            capture_filter(None, &args.ports)
        };
        let stop = Arc::new(AtomicBool::new(false));
        // Ctrl-C reaches the program (same process group); wirelab itself
        // waits for it to end, then shows what happened.
        ctrlc::set_handler(|| {}).context("cannot install the Ctrl-C handler")?;
        let mut source = LiveSource::open(
            &LiveOptions {
                filter,
                ..LiveOptions::default()
            },
            Arc::clone(&stop),
        )
        .context("wirelab trace captures the program's traffic")?;
        let file = File::create(&capture_path)
            .with_context(|| format!("cannot create {}", capture_path.display()))?;
        // The kernel's events are gathered while the program runs and
        // merged with its calls afterwards.
        let kernel_queue = CallQueue::default();
        crate::kernel::tracefs::exit_cleanly_on(&[libc::SIGHUP]);
        let kernel = kernel_record(args.kernel, &args.ports, &kernel_queue, args.output.verbose);
        let capture = std::thread::spawn(move || -> anyhow::Result<()> {
            let mut writer =
                crate::export::pcapng::PcapngWriter::new(BufWriter::new(file), "wirelab trace")?;
            while let Some(frame) = source.next_frame()? {
                writer.frame(frame.link.number(), frame.ts_ns, frame.orig_len, frame.data)?;
            }
            writer.finish()?;
            Ok(())
        });
        // Under sudo the student's program runs as the student (strace -u),
        // unless --as-root: only capturing and tracing need root.
        let run_as = std::env::var("SUDO_USER")
            .ok()
            .filter(|u| !u.is_empty() && u != "root" && !args.as_root);
        if let Some(user) = &run_as {
            eprintln!(
                "wirelab: running {} as {user}, who ran sudo (--as-root to run it as root)",
                args.command[0]
            );
        }
        let child = std::process::Command::new("strace")
            .args([
                "-f",
                "-ttt",
                "-T",
                "-yy",
                "-xx",
                "-s",
                "65536",
                // One -q: strace still says when each process ends
                // ("+++ exited with 0 +++"), which closes its sockets.
                "-q",
                "-e",
                "signal=none",
            ])
            // Stops only at the traced calls instead of at every one
            // (strace 5.3 and later): scripts/bench-trace has the figures.
            .args(seccomp.then_some("--seccomp-bpf"))
            .arg("-e")
            .arg(format!("trace={}", crate::trace::TRACED))
            .arg("-o")
            .arg(&strace_path)
            .args(run_as.iter().flat_map(|u| ["-u", u.as_str()]))
            .arg("--")
            .args(&args.command)
            .stdin(Stdio::inherit())
            .spawn();
        // SIGTERM to wirelab goes to the program (strace, started with -o,
        // blocks fatal signals itself), which ends; then the timeline is
        // shown as after Ctrl-C. The terminal sends Ctrl-C to all three.
        let status = child.and_then(|mut child| {
            let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM])?;
            let handle = signals.handle();
            let strace_pid = child.id();
            let forward = std::thread::spawn(move || {
                for _ in signals.forever() {
                    for pid in children_of(strace_pid) {
                        // SAFETY: kill(2) with a pid read from /proc and a
                        // valid signal number; no memory is shared.
                        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                    }
                }
            });
            let status = child.wait();
            handle.close();
            let _ = forward.join();
            status
        });
        // Let the last packets (a delayed ACK, the final FIN) reach the capture.
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let captured = capture
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread failed"))?;
        drop(kernel);
        let status = status.context("cannot run strace")?;
        captured?;
        let text = fs::read_to_string(&strace_path).unwrap_or_default();
        if !status.success() && text.trim().is_empty() {
            bail!(
                "strace could not trace {} (exit {status}). If ptrace is not permitted: run as root, or \
                 `sudo sysctl kernel.yama.ptrace_scope=0`; in a container, add --cap-add SYS_PTRACE",
                args.command[0]
            );
        }
        let mut parser = crate::trace::strace::Parser::default();
        let actor = std::path::Path::new(&args.command[0])
            .file_name()
            .map_or_else(
                || args.command[0].clone(),
                |n| n.to_string_lossy().into_owned(),
            );
        let mut describer = crate::trace::Describer::new(&actor);
        let mut described: Vec<(crate::call::Call, crate::trace::Anchor)> = Vec::new();
        for line in std::io::BufReader::new(text.as_bytes())
            .lines()
            .map_while(Result::ok)
        {
            match parser.event(&line) {
                Some(crate::trace::strace::Traced::Call(call)) => {
                    described.extend(describer.describe(&call));
                }
                Some(crate::trace::strace::Traced::Ended { pid, ts_ns, how }) => {
                    described.extend(describer.ended(pid, ts_ns, &how));
                }
                None => {}
            }
        }
        let (described, processes, threads) = describer.finish(described);
        let first_ns = described.first().map(|(c, _)| c.ts_ns);
        // Unless the ports were given, keep only the traffic of the traced
        // program's own sockets: other loopback traffic (a local DNS cache,
        // other services) would only be noise.
        let keep = args
            .ports
            .is_empty()
            .then(|| (dir.join("program.pcapng"), describer.ports()));
        let packets = scan_capture(
            &capture_path,
            keep.as_ref().map(|(path, ports)| (path.as_path(), ports)),
        )?;
        let mut calls: Vec<crate::call::Line> = described
            .into_iter()
            .map(|(mut call, anchor)| {
                call.ts_ns = crate::trace::place(call.ts_ns, &anchor, &packets);
                crate::call::Line::Call(Box::new(call))
            })
            .collect();
        calls.sort_by_key(crate::call::Line::ts_ns);
        if let (Some(ts_ns), true) = (first_ns, processes + threads > 0) {
            calls.insert(
                0,
                crate::call::Line::Note {
                    ts_ns,
                    actor: actor.clone(),
                    text: crate::render::explain::left_out_text(processes, threads),
                },
            );
        }
        let mut pending = crate::sockets::Pending::of(calls);
        // The kernel's events about the program's sockets (all of them when
        // ports were given: the capture has only those).
        let kernel_lines = kernel_queue
            .lock()
            .map(|mut q| std::mem::take(&mut q.lines))
            .unwrap_or_default();
        for line in kernel_lines {
            let ours = match (&line, &keep) {
                (crate::call::Line::Kernel(k), Some((_, ports))) => {
                    let (local, remote) = k.event.ends();
                    ports.contains(&local.port())
                        || remote.is_some_and(|r| ports.contains(&r.port()))
                }
                _ => true,
            };
            if ours {
                pending.push(line);
            }
        }
        let queue: CallQueue = Arc::new(std::sync::Mutex::new(pending));
        let replay_path = keep.map_or(capture_path, |(path, _)| path);
        let mut source = FileSource::open(&replay_path)?;
        let sink = Sink::open(args.output.output.as_deref(), None, args.output.force)?;
        let result = if args.output.format() == Format::Pcapng {
            let what = format!("wirelab trace -- {}", args.command.join(" "));
            write_pcapng(&sink, &what, &mut source, Some(&queue))
        } else {
            run_to(&sink, &args.output, false, |render| {
                pump_with_calls(&mut source, render, Some(&queue), None)
            })
        };
        finish_sink(sink, result)?;
        // The timeline is shown either way; then wirelab exits as the
        // program did (strace passes its status on), as `time` or `strace` do.
        if status.success() {
            return Ok(());
        }
        use std::os::unix::process::ExitStatusExt;
        let (code, how) = match (status.code(), status.signal()) {
            (Some(c), _) => (c, format!("exited with status {c}")),
            (None, Some(sig)) => (128 + sig, format!("was killed by signal {sig}")),
            (None, None) => (1, "failed".to_string()),
        };
        Err(ProgramStatus {
            code: u8::try_from(code).unwrap_or(1),
            text: format!("{} {how}", args.command[0]),
        }
        .into())
    }
}

/// `--format pcapng`: the frames as they are, each with its explanation as
/// the packet comment (after the socket calls made since the previous
/// packet, when there are any: `trace`), and a section comment naming what
/// produced it.
fn write_pcapng(
    sink: &Sink,
    what: &str,
    source: &mut dyn FrameSource,
    calls: Option<&CallQueue>,
) -> anyhow::Result<()> {
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Collects the call lines the pipeline hands out before each packet.
    struct Pending(Rc<RefCell<Vec<String>>>);
    impl Render for Pending {
        fn packet(&mut self, _row: &crate::timeline::PacketRow<'_, '_>) -> io::Result<()> {
            Ok(())
        }
        fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
            self.0
                .borrow_mut()
                .push(crate::render::explain::line_text(line));
            Ok(())
        }
        fn conn(&mut self, _summary: &crate::timeline::ConnSummary) -> io::Result<()> {
            Ok(())
        }
        fn finish(&mut self, _end: &RunEnd) -> io::Result<()> {
            Ok(())
        }
        fn wants_notes(&self) -> bool {
            false
        }
    }
    /// Writes each frame with the pending calls and its explanation.
    struct WithCalls<W: Write> {
        writer: crate::export::pcapng::PcapngWriter<W>,
        pending: Rc<RefCell<Vec<String>>>,
    }
    impl<W: Write> crate::render::FrameTap for WithCalls<W> {
        fn frame(
            &mut self,
            frame: &crate::capture::RawFrame<'_>,
            row: &crate::timeline::PacketRow<'_, '_>,
        ) -> io::Result<()> {
            let mut comment: String = self
                .pending
                .borrow_mut()
                .drain(..)
                .map(|c| format!("{}\n", escape_text(&c)))
                .collect();
            comment.push_str(&row.note);
            self.writer.set_comment(&comment);
            self.writer
                .frame(frame.link.number(), frame.ts_ns, frame.orig_len, frame.data)
        }
    }

    if matches!(sink, Sink::Stdout) && io::stdout().is_terminal() {
        bail!("pcapng is a binary format: write it to a file with --output FILE.pcapng");
    }
    let pending = Rc::new(RefCell::new(Vec::new()));
    let mut tap = WithCalls {
        writer: crate::export::pcapng::PcapngWriter::new(sink.writer(false)?, what)?,
        pending: Rc::clone(&pending),
    };
    let result = pump_with_calls(source, &mut Pending(pending), calls, Some(&mut tap));
    tap.writer.finish()?;
    // Live: say what the kernel could not keep up with (the timeline formats
    // print this in their summary; a pcapng file has none).
    // (libpcap's "received" count is left out: see render::text.)
    if let Some((_, kernel, interface)) = source.drop_counters() {
        eprintln!(
            "wirelab: capture: {kernel} packets dropped by the kernel, {interface} by the interface"
        );
    }
    result
}

/// One pass over the traced run's capture: the packets as
/// [`crate::trace::place`] needs them, and with `keep`, a copy (to its path)
/// of only the frames whose TCP or UDP port is in its set, plus every ICMP
/// error, which may answer them.
fn scan_capture(
    from: &Path,
    keep: Option<(&Path, &std::collections::HashSet<u16>)>,
) -> anyhow::Result<Vec<crate::trace::Indexed>> {
    use crate::decode::Transport;
    let mut source = FileSource::open(from)?;
    let mut writer = match keep {
        Some((to, _)) => {
            let file =
                File::create(to).with_context(|| format!("cannot create {}", to.display()))?;
            Some(crate::export::pcapng::PcapngWriter::new(
                BufWriter::new(file),
                "wirelab trace",
            )?)
        }
        None => None,
    };
    let mut out = Vec::new();
    while let Some(frame) = source.next_frame()? {
        let packet = decode(&frame);
        let ports = match packet.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port, Some(t.flags))),
            Transport::Udp(u) => Some((u.src_port, u.dst_port, None)),
            _ => None,
        };
        let wanted = match (keep, ports) {
            (None, _) => true,
            (Some((_, set)), Some((s, d, _))) => set.contains(&s) || set.contains(&d),
            (Some(_), None) => matches!(packet.transport, Transport::Icmp(_)),
        };
        if !wanted {
            continue;
        }
        if let Some(w) = writer.as_mut() {
            w.frame(frame.link.number(), frame.ts_ns, frame.orig_len, frame.data)?;
        }
        let (Some(ip), Some((sport, dport, flags))) = (packet.ip, ports) else {
            continue;
        };
        out.push(crate::trace::Indexed {
            ts_ns: packet.ts_ns,
            src: std::net::SocketAddr::new(ip.src, sport),
            dst: std::net::SocketAddr::new(ip.dst, dport),
            syn: flags.is_some_and(|f| f.syn()),
            ack: flags.is_some_and(|f| f.ack()),
            fin_or_rst: flags.is_some_and(|f| f.fin() || f.rst()),
            rst: flags.is_some_and(|f| f.rst()),
            payload: packet.payload.iter().take(16).copied().collect(),
        });
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(out)
}

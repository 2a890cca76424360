//! `wirelab demo`: run a lab on loopback, captured, explained and checked.

use std::io::{self, Write};
use std::sync::{mpsc, Arc};

use anyhow::{bail, Context};

use super::live::Session;
use super::output::{finish_sink, give_to_invoking_user, run_to, Sink};
use super::pipeline::pump_with_calls;
use crate::capture::channel::ChannelSource;
use crate::cli::{DemoArgs, Format};
use crate::export::json::JsonRender;
use crate::render::Render;
use crate::sockets::{CallQueue, Calls};
use crate::web::hub::Hub;

pub(super) fn demo(args: &DemoArgs) -> anyhow::Result<()> {
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
    // Nothing else handles these in a demo: the kernel's trace instance
    // and a partial output file are removed, then wirelab ends as the
    // signal says.
    crate::cleanup::exit_cleanly_on(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    let labs: Vec<&crate::lab::Lab> = if name == "all" {
        LABS.iter().collect()
    } else {
        vec![find(name)
            .with_context(|| format!("no lab named {name} (wirelab demo --list shows them)"))?]
    };
    if args.web.web.is_some() && args.no_capture {
        bail!("--web shows the lab's capture: leave out --no-capture (and run as root)");
    }
    // One output for every lab (`demo all -o FILE`): each lab writes
    // through to it, and it is kept only when all were written.
    let sink = Sink::open(args.output.path(), None, args.output.force)?;
    // The view waits for a browser: a lab is over in a second or two.
    let web = super::web::start(&args.web, args.output.quiz, true)?;
    let hub = super::web::hub(&web);
    let mut failed = 0;
    let mut result = Ok(());
    for lab in labs {
        match sink
            .share()
            .and_then(|shared| run_lab(lab, args, shared, hub.as_ref()))
        {
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
    if let Some(web) = web {
        web.finish()?;
    }
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// A port that no socket uses: free to listen on, and in no other
/// socket's address either. A port the kernel offers can still be the far
/// end of a TIME-WAIT left by an earlier lab or run (its server's port),
/// and the lab's socket states would show that socket as its own (CI: the
/// abort lab's "no TIME-WAIT is left" failed once in 5 runs of `demo all`).
fn free_port() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if crate::lab::sockstate::snapshot(&[port]).is_none_or(|rows| rows.is_empty()) {
            return Ok(port);
        }
    }
    bail!("no free port: every port the kernel offered is in use by another socket")
}

/// Run one lab: capture its ports, run its program, then check what was seen.
/// Returns the number of failed checks, and whether the student quit (`q`).
fn run_lab(
    lab: &crate::lab::Lab,
    args: &DemoArgs,
    sink: Sink,
    web: Option<&Arc<Hub>>,
) -> anyhow::Result<(usize, bool)> {
    use crate::lab::{Check, LabCtx, RowRecord};
    let json = args.output.format() == Format::Json;
    // The lab's title and checks go where its timeline goes when that is
    // text or JSON Lines. A document (Markdown, HTML, Mermaid) has them
    // inside (`Render::lab`, `Render::checks`); they are also said on the
    // terminal when the document goes to a file, and on stderr when it
    // goes to standard output, which they would spoil (as with CSV).
    let in_band = matches!(
        args.output.format(),
        Format::Json | Format::Text | Format::Table
    );
    let mut out: Box<dyn Write + Send> = if in_band {
        sink.share()?.writer(false)?
    } else if matches!(sink, Sink::Stdout) {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    };
    if json {
        writeln!(
            out,
            "{}",
            crate::export::json::lab_line(lab.name, lab.question)
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
        // A lab on a network of its own captures there, every UDP and ICMP
        // packet: a fragment after the first has no ports to filter on.
        let veth = match lab.net {
            crate::lab::Net::Loopback => None,
            crate::lab::Net::Veth { mtu } => Some(Arc::new(crate::lab::netns::Veth::create(mtu)?)),
        };
        let session = match &veth {
            None => Session::open(&ports, args.kernel, args.output.verbose),
            Some(veth) => Session::open_on(
                crate::capture::live::LiveOptions {
                    interface: Some(veth.host.clone()),
                    filter: Some("udp or icmp".to_string()),
                    ..crate::capture::live::LiveOptions::default()
                },
                &ports,
                args.kernel,
                args.output.verbose,
            ),
        }
        .context("the demo captures its own traffic (or run it with --no-capture)")?;
        ctx = LabCtx::new(
            Calls::queued("lab", Arc::clone(&session.queue)),
            ports,
            args.step,
        )
        .with_web(web.cloned(), lab.name);
        ctx.veth = veth;
        let web = web.cloned();
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
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (checks_tx, checks_rx) = mpsc::channel::<Vec<Check>>();
        let lab_run = LabRun {
            name: lab.name,
            question: lab.question,
            rows: recorded,
            done: done_tx,
            checks: checks_rx,
        };
        let running = session.start(move |mut source, queue| {
            let Some((pcapng_sink, json_sink)) = save else {
                let result = run_to(&sink, &out, true, web.as_ref(), |render| {
                    lab_run.pump(render, &mut source, &queue, None)
                });
                return finish_sink(sink, result);
            };
            let saved = (|| -> anyhow::Result<()> {
                let mut writer = crate::export::pcapng::PcapngWriter::new(
                    pcapng_sink.writer(false)?,
                    &format!("wirelab demo {lab_name}: packet comments are wirelab's explanations"),
                )?;
                let mut json = JsonRender::new(json_sink.writer(false)?, true);
                let result = run_to(&sink, &out, true, web.as_ref(), |render| {
                    let mut tee = crate::render::Tee {
                        first: render,
                        second: &mut json,
                    };
                    lab_run.pump(&mut tee, &mut source, &queue, Some(&mut writer))
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
        let result = (lab.run)(&mut ctx);
        running.stop();
        // The capture has ended (or failed): its rows are all recorded.
        let _ = done_rx.recv();
        // After a quit the lab did not finish: its packet checks would
        // judge steps that never ran.
        if !ctx.quit && result.is_ok() {
            let rows = rows.lock().map(|r| r.clone()).unwrap_or_default();
            packet_checks = (lab.packets)(&ctx, &rows);
        }
        let _ = checks_tx.send(all_checks(&ctx, &packet_checks, args.no_capture));
        running.join()?;
        unless_quit(result)?;
    }
    let checks = all_checks(&ctx, &packet_checks, args.no_capture);
    let failed = checks.iter().filter(|c| c.passed == Some(false)).count();
    if json {
        // Checks as JSON Lines too, so the output stays one JSON object per line.
        for c in &checks {
            writeln!(out, "{}", crate::export::json::check_line(lab.name, c))?;
        }
        out.flush()?;
        return Ok((failed, ctx.quit));
    }
    crate::render::text::write_checks(&mut out, &checks)?;
    writeln!(out)?;
    out.flush()?;
    Ok((failed, ctx.quit))
}

/// The lab's checks: those its program made, those judged on the packets,
/// and a line for the packet checks that could not be judged (no capture,
/// or the student quit before the last steps).
fn all_checks(
    ctx: &crate::lab::LabCtx,
    packet_checks: &[crate::lab::Check],
    no_capture: bool,
) -> Vec<crate::lab::Check> {
    let mut checks: Vec<crate::lab::Check> = ctx
        .checks
        .iter()
        .chain(packet_checks.iter())
        .cloned()
        .collect();
    let why = if no_capture {
        "run as root without --no-capture to capture"
    } else if ctx.quit {
        "the lab stopped at q, before its last steps"
    } else {
        return checks;
    };
    checks.push(crate::lab::Check {
        what: "packet checks".to_string(),
        passed: None,
        detail: why.to_string(),
    });
    checks
}

/// A captured lab's way through the pipeline: its title first; when the
/// capture ends, the main thread hears that the rows are all there
/// (`done`), judges the packet checks, and sends every check back
/// (`checks`) to go in before the timeline's end.
struct LabRun {
    name: &'static str,
    question: &'static str,
    rows: Arc<std::sync::Mutex<Vec<crate::lab::RowRecord>>>,
    done: mpsc::Sender<()>,
    checks: mpsc::Receiver<Vec<crate::lab::Check>>,
}

impl LabRun {
    fn pump(
        self,
        render: &mut dyn Render,
        source: &mut ChannelSource,
        queue: &CallQueue,
        tap: Option<&mut dyn crate::render::FrameTap>,
    ) -> anyhow::Result<()> {
        use crate::lab::{HoldFinish, Recorder};
        render.lab(self.name, self.question)?;
        let mut held = HoldFinish {
            inner: render,
            end: None,
        };
        let pumped = {
            let mut recorder = Recorder {
                inner: &mut held,
                rows: self.rows,
            };
            pump_with_calls(source, &mut recorder, Some(queue), tap)
        };
        let end = held.end.take().unwrap_or_default();
        let _ = self.done.send(());
        pumped?;
        if let Ok(checks) = self.checks.recv() {
            render.checks(&checks)?;
        }
        render.finish(&end)?;
        Ok(())
    }
}

/// A lab's result, with `q` at a `--step` prompt not an error.
fn unless_quit(result: anyhow::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.is::<crate::lab::Quit>() => Ok(()),
        other => other,
    }
}

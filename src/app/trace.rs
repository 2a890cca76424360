//! `wirelab trace -- COMMAND`: a program under strace, its calls and packets in one timeline.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::live::{capture_filter, kernel_record};
use super::output::{Run, Sink};
use crate::capture::file::FileSource;
use crate::capture::live::{LiveOptions, LiveSource};
use crate::capture::FrameSource;
use crate::cli::TraceArgs;
use crate::decode::decode;
use crate::sockets::CallQueue;

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

/// Run strace (and so the program) to its end. SIGTERM to wirelab goes to
/// the program (strace, started with -o, blocks fatal signals itself),
/// which ends; then the timeline is shown as after Ctrl-C. The terminal
/// sends Ctrl-C to all three. One tokio task waits for whichever comes
/// first, the program's end or a SIGTERM, as often as they come.
fn supervise(mut strace: tokio::process::Command) -> std::io::Result<std::process::ExitStatus> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let mut child = strace.spawn()?;
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let strace_pid = child.id().unwrap_or(0);
        loop {
            tokio::select! {
                status = child.wait() => return status,
                Some(()) = sigterm.recv() => {
                    for pid in children_of(strace_pid) {
                        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                        }
                    }
                }
            }
        }
    })
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

/// `wirelab trace -- COMMAND`: capture loopback into a temporary pcapng
/// while the program runs under strace, then replay the capture with the
/// program's socket calls merged in by time (see [`crate::trace`]).
pub(super) fn trace(args: &TraceArgs) -> anyhow::Result<()> {
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
    crate::cleanup::remove_on_signal(&dir);
    let result = trace_in(args, &dir, seccomp);
    let _ = fs::remove_dir_all(&dir);
    crate::cleanup::done(&dir);
    return result;

    fn trace_in(args: &TraceArgs, dir: &Path, seccomp: bool) -> anyhow::Result<()> {
        let capture_path = dir.join("capture.pcapng");
        let strace_path = dir.join("strace.txt");
        let filter = if args.ports.is_empty() {
            Some("tcp or udp or icmp or icmp6".to_string())
        } else {
            capture_filter(None, &args.ports)
        };
        // Started before the program: the page is open while it runs, and
        // the timeline comes when it has ended (its calls are placed then).
        let web = super::web::start(&args.web, args.output.quiz, false)?;
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
        crate::cleanup::exit_cleanly_on(&[libc::SIGHUP]);
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
        let mut strace = tokio::process::Command::new("strace");
        strace
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
            .stdin(Stdio::inherit());
        let status = supervise(strace);
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
        let sink = Sink::open(args.output.path(), None, args.output.force)?;
        let what = format!("wirelab trace -- {}", args.command.join(" "));
        Run::with_calls(what, &queue, false)
            .web(super::web::hub(&web))
            .to(sink, &args.output, &mut source)?;
        if let Some(web) = web {
            web.finish()?;
        }
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

//! Where a timeline goes: the renderer for a format, and an output file
//! written whole or not at all (devices and pipes written through).

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

use super::pipeline::{pump_observed, Select};
use crate::capture::FrameSource;
use crate::cli::{Format, OutputArgs};
use crate::export::json::JsonRender;
use crate::render::escape::escape_text;
use crate::render::progress::Progress;
use crate::render::table::TableRender;
use crate::render::text::TextRender;
use crate::render::{Render, RunEnd, Tee, Verbosity};
use crate::sockets::CallQueue;
use crate::web::hub::Hub;
use crate::web::WebRender;

/// Under sudo, hand a file or directory we created to the user who ran
/// sudo (SUDO_UID/SUDO_GID), so a student can edit or delete what
/// `sudo wirelab ... -o FILE` wrote. Only when running as root.
pub(super) fn give_to_invoking_user(path: &Path) -> anyhow::Result<()> {
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
pub(super) enum Sink {
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
    pub(super) fn open(
        output: Option<&Path>,
        input: Option<&Path>,
        force: bool,
    ) -> anyhow::Result<Sink> {
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
        crate::cleanup::remove_on_signal(&tmp);
        Ok(Sink::File {
            tmp,
            target: target.to_path_buf(),
            file,
        })
    }

    pub(super) fn name(&self) -> String {
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
    pub(super) fn writer(&self, live: bool) -> anyhow::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Sink::Stdout if live => Box::new(io::LineWriter::new(io::stdout())),
            Sink::Stdout => Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            Sink::File { file, .. } | Sink::Through { file, .. } => {
                Box::new(BufWriter::with_capacity(1 << 16, file.try_clone()?))
            }
        })
    }

    /// Keep the output: rename the temporary file into place.
    pub(super) fn commit(self) -> anyhow::Result<()> {
        if let Sink::Through { target, mut file } = self {
            return file
                .flush()
                .with_context(|| format!("cannot write {}", target.display()));
        }
        if let Sink::File { tmp, target, file } = self {
            let renamed = file
                .sync_all()
                .with_context(|| format!("cannot write {}", target.display()))
                .and_then(|()| give_to_invoking_user(&tmp))
                .and_then(|()| {
                    fs::rename(&tmp, &target)
                        .with_context(|| format!("cannot write {}", target.display()))
                });
            if renamed.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            crate::cleanup::done(&tmp);
            renamed?;
        }
        Ok(())
    }

    /// Another handle on the same output, written through (never renamed
    /// or removed: the original keeps that job). Several labs, one file.
    pub(super) fn share(&self) -> anyhow::Result<Sink> {
        Ok(match self {
            Sink::Stdout => Sink::Stdout,
            Sink::File { target, file, .. } | Sink::Through { target, file } => Sink::Through {
                target: target.clone(),
                file: file.try_clone()?,
            },
        })
    }

    /// Drop a partial output.
    pub(super) fn discard(self) {
        if let Sink::File { tmp, .. } = self {
            let _ = fs::remove_file(&tmp);
            crate::cleanup::done(&tmp);
        }
    }
}

/// The renderer for `args`: a format, narrowed to one conversation by
/// `--conn` or replaced by `--follow`'s view of one.
fn renderer<'w>(
    args: &OutputArgs,
    out: Box<dyn Write + Send + 'w>,
    to_terminal: bool,
    live: bool,
) -> Box<dyn Render + 'w> {
    if let Some(id) = args.follow {
        return Box::new(crate::render::follow::FollowRender::new(out, id));
    }
    let inner = format_renderer(args, out, to_terminal, live);
    match args.conn {
        Some(id) => Box::new(crate::render::follow::OneConn::new(inner, id)),
        None => inner,
    }
}

fn format_renderer<'w>(
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
    let colour = colour_wanted(to_terminal);
    let width = terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0));
    match args.format() {
        Format::Json if live => Box::new(JsonRender::new(out, !args.summary)),
        Format::Json => Box::new(JsonRender::new(out, !args.summary).batched()),
        Format::Csv => Box::new(crate::export::csv::CsvRender::new(out)),
        Format::Md => Box::new(crate::export::markdown::MarkdownRender::new(out)),
        Format::Mermaid => Box::new(crate::export::mermaid::MermaidRender::new(Held::new(out))),
        // The page is written whole at the end: a cut-short one writes nothing.
        Format::Html => Box::new(crate::export::html::HtmlRender::new(out).quiz(args.quiz)),
        Format::Svg => Box::new(crate::export::svg::SvgRender::new(out)),
        // The frames go to the pcapng writer (a tap), not to a renderer.
        Format::Pcapng => Box::new(crate::render::NullRender),
        Format::Text => Box::new(
            TextRender::new(out, verbosity, !args.summary)
                .with_hex(args.hex)
                .with_colour(colour),
        ),
        Format::Table if args.summary => Box::new(TextRender::new(out, verbosity, false)),
        // Not given, and not a terminal (a pipe into grep, a file): plain
        // lines, one per packet.
        Format::Table if args.format_given.is_none() && !to_terminal => {
            Box::new(TextRender::new(out, verbosity, true).with_hex(args.hex))
        }
        // A narrow terminal: the compact layout, whatever the mode.
        Format::Table if width.is_some_and(|w| w < TABLE_WIDTH) && to_terminal => Box::new(
            TextRender::new(out, verbosity, true)
                .with_hex(args.hex)
                .with_colour(colour)
                .compact(width.unwrap_or(TABLE_WIDTH)),
        ),
        // A live view streams plain rows: a table would wait for its chunk to
        // fill; header bytes do not fit in a table cell.
        Format::Table if live || args.hex => Box::new(
            TextRender::new(out, verbosity, true)
                .with_hex(args.hex)
                .with_colour(colour),
        ),
        Format::Table => Box::new(TableRender::new(out, verbosity, colour)),
    }
}

/// Holds a diagram (at most 2000 packets, a few MB) until the renderer's
/// final flush, so one cut short by the cap writes nothing at all, not a
/// broken document, even to standard output.
struct Held<'w> {
    inner: Box<dyn Write + Send + 'w>,
    held: Vec<u8>,
}

impl<'w> Held<'w> {
    fn new(inner: Box<dyn Write + Send + 'w>) -> Held<'w> {
        Held {
            inner,
            held: Vec::new(),
        }
    }
}

impl Write for Held<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.held)?;
        self.held.clear();
        self.inner.flush()
    }
}

/// Below this many columns a table's "what it means" is a few characters
/// wide: the compact layout is used instead.
const TABLE_WIDTH: usize = 120;

/// Colour only on a terminal, and not when NO_COLOR is set
/// (no-color.org) or the terminal is `dumb`.
fn colour_wanted(to_terminal: bool) -> bool {
    to_terminal
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// What a run produced, in the format `args` asks for: a timeline through
/// a renderer, or (pcapng) the frames themselves with the explanations as
/// their comments. `what` names the run in a pcapng's section comment.
pub(super) struct Run<'a> {
    pub what: String,
    pub calls: Option<&'a CallQueue>,
    /// Rows shown as their packets arrive (a live capture, a stream).
    pub live: bool,
    pub progress: Progress,
    pub select: Select,
    /// The classroom view, fed the same events (`--web`).
    pub web: Option<Arc<Hub>>,
}

impl<'a> Run<'a> {
    /// A run of every frame, with the socket calls (and kernel events) of
    /// `calls`, no progress bar.
    pub(super) fn with_calls(what: String, calls: &'a CallQueue, live: bool) -> Run<'a> {
        Run {
            what,
            calls: Some(calls),
            live,
            progress: Progress::off(),
            select: Select::default(),
            web: None,
        }
    }

    /// The same run, also shown in the classroom view.
    pub(super) fn web(mut self, hub: Option<Arc<Hub>>) -> Run<'a> {
        self.web = hub;
        self
    }

    /// The pipeline from `source` to `sink`, which is then kept (or, on
    /// an error, dropped unless the input was damaged: what was read is
    /// still a complete report).
    pub(super) fn to(
        mut self,
        sink: Sink,
        args: &OutputArgs,
        source: &mut dyn FrameSource,
    ) -> anyhow::Result<()> {
        let result = if args.format() == Format::Pcapng {
            write_pcapng(
                &sink,
                &self.what,
                source,
                self.calls,
                &mut self.select,
                self.web.as_ref(),
            )
        } else {
            run_to(&sink, args, self.live, self.web.as_ref(), |render| {
                pump_observed(
                    source,
                    render,
                    self.calls,
                    None,
                    &mut self.progress,
                    &mut self.select,
                )
            })
        };
        finish_sink(sink, result)
    }
}

/// `body` with the renderer for `args` writing to `sink` (and, with
/// `web`, the classroom view fed the same events).
pub(super) fn run_to(
    sink: &Sink,
    args: &OutputArgs,
    live: bool,
    web: Option<&Arc<Hub>>,
    body: impl FnOnce(&mut dyn Render) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let to_terminal = matches!(sink, Sink::Stdout) && io::stdout().is_terminal();
    let mut render = renderer(args, sink.writer(live)?, to_terminal, live);
    let result = match web {
        Some(hub) => body(&mut Tee {
            first: render.as_mut(),
            second: &mut WebRender::new(Arc::clone(hub)),
        }),
        None => body(render.as_mut()),
    };
    result.map_err(|e| {
        // A bare I/O error here came from writing the output (a full disk,
        // a closed pipe): say which output. A diagram over its cap is not
        // about the output.
        let too_large = e.downcast_ref::<io::Error>().is_some_and(|io| {
            io.get_ref()
                .is_some_and(|inner| inner.is::<crate::export::mermaid::TooLarge>())
        });
        if e.downcast_ref::<io::Error>().is_some() && !too_large {
            e.context(format!("cannot write {}", sink.name()))
        } else {
            e
        }
    })
}

pub(super) fn finish_sink(sink: Sink, result: anyhow::Result<()>) -> anyhow::Result<()> {
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

/// `--format pcapng`: the frames as they are, each with its explanation as
/// the packet comment (after the socket calls made since the previous
/// packet, when there are any: `trace`), and a section comment naming what
/// produced it.
fn write_pcapng(
    sink: &Sink,
    what: &str,
    source: &mut dyn FrameSource,
    calls: Option<&CallQueue>,
    select: &mut Select,
    web: Option<&Arc<Hub>>,
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
    let mut pending = Pending(pending);
    let mut shown = web.map(|hub| WebRender::new(Arc::clone(hub)));
    let mut tee;
    let render: &mut dyn Render = match &mut shown {
        Some(web) => {
            tee = Tee {
                first: &mut pending,
                second: web,
            };
            &mut tee
        }
        None => &mut pending,
    };
    let result = pump_observed(
        source,
        render,
        calls,
        Some(&mut tap),
        &mut Progress::off(),
        select,
    );
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

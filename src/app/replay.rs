//! `wirelab replay`: a saved capture as an annotated timeline.

use std::io::{self, IsTerminal};

use super::output::{Run, Sink};
use super::pipeline::Select;
use crate::capture::file::FileSource;
use crate::capture::filter::FrameFilter;
use crate::cli::ReplayArgs;
use crate::render::progress::Progress;

pub(super) fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    // Ctrl-C, SIGTERM or SIGHUP: the partial output file is removed.
    crate::cleanup::exit_cleanly_on(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    let (path, filter) = args.input().map_err(anyhow::Error::msg)?;
    let select = Select {
        filter: filter.as_deref().map(FrameFilter::new).transpose()?,
        count: args.count,
    };
    let mut source = FileSource::open(&path)?;
    let input = (path.as_os_str() != "-").then_some(path.as_path());
    let sink = Sink::open(args.output.path(), input, args.output.force)?;
    // A bar on stderr, unless the timeline itself goes to that terminal.
    let show_progress =
        io::stderr().is_terminal() && !(matches!(sink, Sink::Stdout) && io::stdout().is_terminal());
    // The view waits for a browser: the replay would be over before anyone looked.
    let web = super::web::start(&args.web, args.output.quiz, true)?;
    Run {
        what: format!("wirelab replay of {}", path.display()),
        calls: None,
        // A stream (`tcpdump -U -w - | wirelab replay -`) is shown row by
        // row as its packets arrive, as a live capture is.
        live: source.is_stream(),
        progress: Progress::new(show_progress),
        select,
        web: super::web::hub(&web),
    }
    .to(sink, &args.output, &mut source)?;
    web.map_or(Ok(()), super::web::Web::finish)
}

//! `wirelab replay`: a saved capture as an annotated timeline.

use std::io::{self, IsTerminal};

use super::output::{finish_sink, run_to, write_pcapng, Sink};
use super::pipeline::pump_observed;
use crate::capture::file::FileSource;
use crate::cli::{Format, ReplayArgs};
use crate::render::progress::Progress;

pub(super) fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
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

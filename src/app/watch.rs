//! `wirelab watch`: capture live and explain each packet as it comes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::live::{capture_filter, filter_words, kernel_record};
use super::output::{Run, Sink};
use crate::capture::channel::ChannelSource;
use crate::capture::live::{LiveOptions, LiveSource};
use crate::cli::WatchArgs;
use crate::sockets::CallQueue;

pub(super) fn watch(args: &WatchArgs) -> anyhow::Result<()> {
    let duration = match args.duration {
        Some(d) if !(d.is_finite() && d > 0.0) => {
            bail!("--duration must be a positive number of seconds")
        }
        Some(d) => Some(Duration::from_secs_f64(d)),
        None => None,
    };
    let filter = args.filter().map_err(anyhow::Error::msg)?;
    if let (Some(f), false) = (filter.as_deref(), args.ports.is_empty()) {
        // Alone first: a typo is then named in the user's own words, not
        // inside the long expression the ports add to it.
        crate::capture::filter::FrameFilter::new(f)?;
    }
    let options = LiveOptions {
        interface: args.interface.clone(),
        filter: capture_filter(filter.as_deref(), &args.ports),
        count: args.count,
        duration,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = Arc::clone(&stop);
    ctrlc::set_handler(move || handler_stop.store(true, Ordering::Relaxed))
        .context("cannot install the Ctrl-C handler")?;
    // SIGTERM stops as Ctrl-C does, and the output is kept whole, as
    // tcpdump keeps its -w file (`timeout 10 wirelab watch -o x.pcapng`).
    signal_hook::flag::register(libc::SIGTERM, Arc::clone(&stop))
        .context("cannot install the SIGTERM handler")?;
    let source = LiveSource::open(&options, stop)?;
    // Started before "capturing on" is said, so that it sees what follows.
    let queue = CallQueue::default();
    crate::cleanup::exit_cleanly_on(&[libc::SIGHUP]);
    let _kernel = kernel_record(args.kernel, &args.ports, &queue, args.output.verbose);
    eprintln!(
        "wirelab: capturing on {} ({}){}; Ctrl-C to stop",
        source.interface(),
        source.link(),
        if options.filter.is_some() {
            format!(", {}", filter_words(filter.as_deref(), &args.ports))
        } else {
            String::new()
        }
    );
    let sink = Sink::open(args.output.path(), None, args.output.force)?;
    let what = format!("wirelab watch on {}", source.interface());
    // Read on a thread of its own: the pipeline's waits (for the kernel's
    // events) never hold the capture back.
    let mut source = ChannelSource::start(source);
    let web = super::web::start(&args.web, args.output.quiz, false)?;
    Run::with_calls(what, &queue, true)
        .web(super::web::hub(&web))
        .to(sink, &args.output, &mut source)?;
    web.map_or(Ok(()), super::web::Web::finish)
}

//! Each command's flow, one module per command; this file only dispatches.
//!
//! Data flows one way: a source (`capture`) -> `decode` -> `track` (events)
//! -> `render::explain` -> a renderer or exporter, in [`pipeline`] (a file
//! on two threads: [`parallel`]).

mod demo;
mod live;
mod output;
mod parallel;
mod pipeline;
mod programs;
mod replay;
mod trace;
mod watch;
mod web;

use crate::cli::Command;

pub use self::pipeline::{pump, pump_with_calls};
pub use self::trace::ProgramStatus;

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
    let web = match &command {
        Command::Replay(a) => a.web.web,
        Command::Watch(a) => a.web.web,
        Command::Demo(a) => a.web.web,
        Command::Trace(a) => a.web.web,
        Command::Serve(_) | Command::Client(_) | Command::Proxy(_) => None,
    };
    if output.quiz && web.is_none() && output.format() != crate::cli::Format::Html {
        anyhow::bail!("--quiz is a mode of the classroom view: add --web, or --format html for a page to hand out");
    }
    match command {
        Command::Replay(args) => replay::replay(&args),
        Command::Watch(args) => watch::watch(&args),
        Command::Serve(args) => programs::serve(&args),
        Command::Client(args) => programs::client(&args),
        Command::Proxy(args) => programs::proxy(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::Trace(args) => trace::trace(&args),
    }
}

//! The `wirelab` binary: parse arguments, run, map errors to one line and
//! an exit code. A closed pipe (`wirelab replay x.pcap | head`) is not an error.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use wirelab::cli::Cli;

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match wirelab::app::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        // `wirelab trace`: the traced program's failure is passed on.
        Err(err) if err.downcast_ref::<wirelab::app::ProgramStatus>().is_some() => {
            eprintln!("wirelab: {err}");
            err.downcast_ref::<wirelab::app::ProgramStatus>()
                .map_or(ExitCode::from(2), |s| ExitCode::from(s.code))
        }
        Err(err) => {
            eprintln!("wirelab: {err:#}");
            ExitCode::from(2)
        }
    }
}

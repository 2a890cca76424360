//! Writes a large, deterministic, realistic loopback capture for benchmarks
//! (see `wirelab::synth`).
//!
//! `cargo run --release --example gen_capture -- OUT.pcap PACKETS [echo|synflood]`

use std::fs::File;
use std::process::ExitCode;

use wirelab::synth::{write_capture, Kind};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(target)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok())) else {
        eprintln!("usage: gen_capture OUT.pcap PACKETS [echo|synflood]");
        return ExitCode::from(2);
    };
    let kind = match args.get(3).map(String::as_str) {
        None | Some("echo") => Kind::Echo,
        Some("synflood") => Kind::SynFlood,
        Some(other) => {
            eprintln!("gen_capture: unknown kind {other} (echo or synflood)");
            return ExitCode::from(2);
        }
    };
    match File::create(path).and_then(|f| write_capture(f, target, kind)) {
        Ok(n) => {
            eprintln!("{path}: {n} packets");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_capture: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Command-line definitions (clap derive only; no logic here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "wirelab",
    version,
    about = "See what your sockets do on the wire: annotated TCP/UDP timelines for socket labs",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn a saved pcap/pcapng capture into an annotated timeline
    Replay(ReplayArgs),
    /// Capture live (loopback by default) and explain each packet as it comes
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture file (pcap or pcapng, from tcpdump, Wireshark, macOS, ...)
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Interface to capture on (default: the loopback interface)
    #[arg(short, long)]
    pub interface: Option<String>,
    /// A BPF capture filter, as tcpdump takes it (e.g. "tcp port 12333")
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Only this port (repeatable); ICMP errors are kept so unreachable answers show
    #[arg(short, long = "port", value_name = "P")]
    pub ports: Vec<u16>,
    /// Stop after this many packets
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds
    #[arg(short, long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to this file instead of standard output (written whole or not at all)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only the per-conversation summary, no packet rows
    #[arg(long)]
    pub summary: bool,
    /// More detail: raw sequence numbers, TCP options, TTL, frame sizes
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for a terminal (colour unless NO_COLOR or not a terminal)
    Table,
    /// One plain line per packet, streamed
    Text,
    /// JSON Lines (schema in docs/json-schema.md)
    Json,
}

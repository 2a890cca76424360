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
    /// The labs' echo server, printing every socket call it makes
    Serve(ServeArgs),
    /// The labs' echo client, printing every socket call it makes
    Client(ClientArgs),
    /// A TCP relay: accept on LISTEN, connect to UPSTREAM for each client
    Proxy(ProxyArgs),
    /// Run a socket-lab step on loopback, captured, explained and checked
    Demo(DemoArgs),
    /// Run a program under strace while capturing loopback: its socket calls and its packets in one timeline
    Trace(TraceArgs),
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Capture only this port (repeatable); default: the ports the program's own sockets use, and ICMP errors
    #[arg(short, long = "port", value_name = "P")]
    pub ports: Vec<u16>,
    /// Under sudo, run the program as root too (by default it runs as the
    /// user who ran sudo: only the capture and the tracing need root)
    #[arg(long)]
    pub as_root: bool,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub web: WebArgs,
    /// The program and its arguments, after `--`
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The lab to run, or "all" (see --list)
    pub lab: Option<String>,
    /// List the labs: name, the question each answers, how long it takes
    #[arg(long)]
    pub list: bool,
    /// Pause before each step (Enter continues, q quits)
    #[arg(long)]
    pub step: bool,
    /// Run without capturing (socket calls and states only; no root needed)
    #[arg(long)]
    pub no_capture: bool,
    /// Save each lab's capture (pcapng, explanations as packet comments) and JSON timeline in DIR
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub web: WebArgs,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on, e.g. 127.0.0.1:12334 or localhost:12334
    #[arg(value_parser = resolve)]
    pub listen: std::net::SocketAddr,
    /// The server to relay to, e.g. 127.0.0.1:12333 or localhost:12333
    #[arg(value_parser = resolve)]
    pub upstream: std::net::SocketAddr,
    /// Stop after this many seconds (default: until Ctrl-C)
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Capture both ports live and explain each packet, interleaved with the socket calls
    #[arg(long)]
    pub capture: bool,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// tcp or udp
    pub transport: Transport,
    /// Address to bind: an IPv4/IPv6 address, 0.0.0.0, ::, or a name (getaddrinfo)
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: String,
    #[arg(short, long, default_value_t = 12333)]
    pub port: u16,
    /// SO_REUSEADDR (the OS default, off, unless given)
    #[arg(long, value_enum)]
    pub reuseaddr: Option<OnOff>,
    /// SO_REUSEPORT
    #[arg(long)]
    pub reuseport: bool,
    /// IPV6_V6ONLY for an IPv6 address
    #[arg(long, value_enum)]
    pub v6only: Option<OnOff>,
    /// listen() backlog
    #[arg(long, default_value_t = 5)]
    pub backlog: i32,
    /// SO_LINGER {1, 0} on accepted connections: close() sends RST
    #[arg(long)]
    pub linger0: bool,
    /// Bytes per recv() call
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub recv_buf: usize,
    /// One recv() per connection (as in OneRecv), instead of looping until EOF
    #[arg(long)]
    pub recv_once: bool,
    /// Wait this long before echoing
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub delay: u64,
    /// listen() but never accept()
    #[arg(long)]
    pub no_accept: bool,
    /// Who serves a connection
    #[arg(long, value_enum, default_value_t = crate::sockets::server::Mode::Single)]
    pub mode: crate::sockets::server::Mode,
    /// Stop after this many seconds (default: until Ctrl-C)
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Capture this port live and explain each packet, interleaved with the socket calls
    #[arg(long)]
    pub capture: bool,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// tcp or udp
    pub transport: Transport,
    /// Server address or name
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: String,
    #[arg(short, long, default_value_t = 12333)]
    pub port: u16,
    /// bind() to ADDR:PORT before connecting (a fixed client port)
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<std::net::SocketAddr>,
    /// SO_REUSEADDR on the client socket
    #[arg(long, value_enum)]
    pub reuseaddr: Option<OnOff>,
    /// A message to send (repeatable; an empty one is allowed)
    #[arg(short, long = "message", value_name = "TEXT")]
    pub messages: Vec<String>,
    /// Sequential connections (each gets a new ephemeral port)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub repeat: u32,
    /// Concurrent connections
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub clients: u32,
    /// shutdown(SHUT_WR) after sending, then read until the server closes
    #[arg(long)]
    pub shutdown_write: bool,
    /// SO_LINGER {1, 0}: close() sends RST
    #[arg(long)]
    pub linger0: bool,
    /// Bytes per recv() call
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub recv_buf: usize,
    /// How text becomes bytes
    #[arg(long, value_enum, default_value_t = crate::sockets::Encoding::Utf8)]
    pub encoding: crate::sockets::Encoding,
    /// Read messages from standard input, one per line (the default when it is a terminal and no --message is given)
    #[arg(long)]
    pub stdin: bool,
    /// Capture this port live and explain each packet, interleaved with the socket calls
    #[arg(long)]
    pub capture: bool,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture file (pcap or pcapng, gzipped or not, from tcpdump, Wireshark, macOS, ...);
    /// `-` reads standard input as it arrives (`tcpdump -U -w - | wirelab replay -`)
    #[arg(value_name = "FILE", required_unless_present = "read")]
    pub file: Option<PathBuf>,
    /// The capture file, as tcpdump -r takes it (then every argument after
    /// the options is the filter expression)
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// A BPF filter, as tcpdump takes it (or give it after the file:
    /// `wirelab replay f.pcap tcp port 8080`)
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Stop after this many packets (that pass the filter)
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub web: WebArgs,
    /// The filter expression as tcpdump takes it, after the file
    #[arg(value_name = "EXPRESSION")]
    pub expression: Vec<String>,
}

impl ReplayArgs {
    /// The file to read (`-r` or the first argument) and the filter (`-f`
    /// or the arguments after the file), as tcpdump reads its command line.
    pub fn input(&self) -> Result<(PathBuf, Option<String>), String> {
        let mut words: Vec<&str> = self.expression.iter().map(String::as_str).collect();
        let path = match (&self.read, &self.file) {
            (Some(read), Some(first)) => {
                // With -r, the first argument is the filter's first word.
                let first = first.to_str().ok_or("the filter expression is not UTF-8")?;
                words.insert(0, first);
                read.clone()
            }
            (Some(read), None) => read.clone(),
            (None, Some(file)) => file.clone(),
            (None, None) => return Err("name a capture file (or -r FILE)".to_string()),
        };
        Ok((path, joined_filter(self.filter.as_deref(), &words)?))
    }
}

/// `-f EXPR` or an expression given as arguments, not both.
fn joined_filter(given: Option<&str>, words: &[&str]) -> Result<Option<String>, String> {
    match (given, words.is_empty()) {
        (Some(_), false) => Err(format!(
            "two filters: -f \"{}\" and \"{}\"; give one",
            given.unwrap_or_default(),
            words.join(" ")
        )),
        (Some(f), true) => Ok(Some(f.to_string())),
        (None, false) => Ok(Some(words.join(" "))),
        (None, true) => Ok(None),
    }
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Interface to capture on (default: the loopback interface)
    #[arg(short, long)]
    pub interface: Option<String>,
    /// A BPF capture filter, as tcpdump takes it (e.g. "tcp port 12333")
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Only this port (repeatable), and the ICMP errors about its packets (a port unreachable shows)
    #[arg(short, long = "port", value_name = "P")]
    pub ports: Vec<u16>,
    /// Stop after this many packets
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds
    #[arg(short, long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub kernel: KernelArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub web: WebArgs,
    /// The filter expression as tcpdump takes it (`wirelab watch udp port 8000`)
    #[arg(value_name = "EXPRESSION")]
    pub expression: Vec<String>,
}

impl WatchArgs {
    /// `-f` or the expression given as arguments.
    pub fn filter(&self) -> Result<Option<String>, String> {
        let words: Vec<&str> = self.expression.iter().map(String::as_str).collect();
        joined_filter(self.filter.as_deref(), &words)
    }
}

/// The classroom view: the run as a live ladder diagram in a browser.
#[derive(Debug, Clone, Copy, Args, Default)]
pub struct WebArgs {
    /// Show the run live in a browser: serve the classroom view on
    /// [ADDR:]PORT (default 127.0.0.1:8787; loopback unless an address is
    /// given) and print its address
    #[arg(long, value_name = "[ADDR:]PORT", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:8787", value_parser = web_address)]
    pub web: Option<std::net::SocketAddr>,
    /// Keep serving the classroom view after the run ends, until Ctrl-C
    #[arg(long, requires = "web")]
    pub web_keep: bool,
}

/// `PORT` (on loopback) or `ADDR:PORT`.
fn web_address(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("{text} is not PORT or ADDR:PORT (e.g. 8787, 127.0.0.1:8787, [::1]:8787)")
    })
}

/// The kernel's own TCP record beside the packets (Linux, root).
#[derive(Debug, Clone, Copy, Args, Default)]
pub struct KernelArgs {
    /// Leave out the kernel's record (its state changes and RST reasons,
    /// read from tracepoints); states are then inferred from packets alone
    #[arg(long)]
    pub no_kernel: bool,
}

#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format [default: from -o's extension (.txt .json .jsonl .csv .md .mmd .html
    /// .svg .pcapng), else table]
    #[arg(long = "format", value_enum)]
    pub format_given: Option<Format>,
    /// Write to this file instead of standard output (written whole or not
    /// at all; a device or pipe is written through; `-` is standard output)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the capture as pcapng to FILE, each packet's explanation as its
    /// comment (tcpdump's -w; the same as `-o FILE --format pcapng`)
    #[arg(short = 'w', long = "write", value_name = "FILE", conflicts_with_all = ["output", "format_given"])]
    pub write: Option<PathBuf>,
    /// Only conversation N (the number in the conn column), as tshark's
    /// `tcp.stream eq N` (counted from 1)
    #[arg(long, value_name = "N")]
    pub conn: Option<u64>,
    /// Conversation N's bytes both ways, segment by segment, with where each
    /// recv() returned when the calls are known (tshark's `-z follow,tcp`)
    #[arg(long, value_name = "N", conflicts_with_all = ["summary", "hex"])]
    pub follow: Option<u64>,
    /// Accepted for tcpdump's habit: wirelab never resolves names
    #[arg(short = 'n')]
    pub numeric: bool,
    /// Only the per-conversation summary, no packet rows
    #[arg(long)]
    pub summary: bool,
    /// More detail: raw sequence numbers, TCP options, TTL, frame sizes
    #[arg(short, long)]
    pub verbose: bool,
    /// Overwrite output files that already exist
    #[arg(long)]
    pub force: bool,
    /// Show each packet's IP and TCP/UDP header bytes with the fields they encode (byte order)
    #[arg(long)]
    pub hex: bool,
    /// The classroom view (--web, --format html) asks the student to
    /// predict each TCP packet (flags, ack, the sender's next state) before
    /// showing it, and keeps score
    #[arg(long)]
    pub quiz: bool,
}

impl OutputArgs {
    /// The format: `--format`, else the one `-o FILE`'s extension names,
    /// else a table.
    pub fn format(&self) -> Format {
        if self.write.is_some() {
            return Format::Pcapng;
        }
        self.format_given
            .or_else(|| self.output.as_deref().and_then(Format::from_extension))
            .unwrap_or(Format::Table)
    }

    /// The output file, from `-o` or `-w`.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.output.as_deref().or(self.write.as_deref())
    }

    /// `--format` and `-o`'s extension must not disagree (`-o x.html
    /// --format json` would write JSON into a file named .html).
    pub fn check(&self) -> Result<(), String> {
        if self.follow.is_some() && !matches!(self.format(), Format::Table | Format::Text) {
            return Err(format!(
                "--follow shows a conversation's bytes as text; it has no {} form",
                self.format().name()
            ));
        }
        let (Some(given), Some(path)) = (self.format_given, self.output.as_deref()) else {
            return Ok(());
        };
        match Format::from_extension(path) {
            Some(named) if named != given && !(named == Format::Text && given == Format::Table) => {
                Err(format!(
                    "--format {} does not match the extension of {} (a {} file); change one of them",
                    given.name(),
                    path.display(),
                    named.name()
                ))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for a terminal (colour unless NO_COLOR or not a terminal)
    Table,
    /// One plain line per packet, streamed
    Text,
    /// JSON Lines (schema in docs/json-schema.md)
    Json,
    /// CSV, one row per event (RFC 4180; formula-like cells neutralised)
    Csv,
    /// A Markdown table for a lab report
    Md,
    /// A Mermaid sequenceDiagram (at most 2000 packets)
    Mermaid,
    /// The classroom view as one self-contained HTML page (at most 2000 packets)
    Html,
    /// The ladder diagram as one SVG picture, for slides (at most 2000 packets)
    Svg,
    /// The capture as pcapng, each packet's explanation as its comment (needs --output)
    Pcapng,
}

/// `HOST:PORT` with a name or an address, resolved as serve and client do
/// (getaddrinfo); the first address found.
fn resolve(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .map_err(|e| format!("cannot resolve {text}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

impl Format {
    /// The format a file name's extension names, if any.
    pub fn from_extension(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" => Format::Text,
            "json" | "jsonl" => Format::Json,
            "csv" => Format::Csv,
            "md" => Format::Md,
            "mmd" => Format::Mermaid,
            "html" | "htm" => Format::Html,
            "svg" => Format::Svg,
            "pcapng" => Format::Pcapng,
            _ => return None,
        })
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Text => "text",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Md => "md",
            Format::Mermaid => "mermaid",
            Format::Html => "html",
            Format::Svg => "svg",
            Format::Pcapng => "pcapng",
        }
    }
}

//! Turning tracked events into output. Every renderer writes to an
//! `impl Write` it owns, so the same code prints to a terminal, a pipe, a
//! file or a test buffer.

pub mod escape;
pub mod explain;
pub mod follow;
pub mod hex;
pub mod progress;
pub mod table;
pub mod text;
pub mod words;

use std::fmt::Write as _;
use std::io;

use crate::call::Line;
use crate::decode::Transport;
use crate::timeline::{ConnSummary, PacketRow};
use crate::track::TrackerStats;

/// "byte" or "bytes" for `n`: "1 byte", "0 bytes".
pub fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Facts about the whole run, for the closing lines.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub stats: TrackerStats,
    /// libpcap counters for a live capture: received, dropped by the
    /// kernel, dropped by the interface.
    pub drops: Option<(u32, u32, u32)>,
}

/// Something that shows a timeline.
pub trait Render {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()>;
    /// A socket call (or a lab's step, or a program's note) made during a
    /// live capture or under trace.
    fn call(&mut self, line: &Line) -> io::Result<()>;
    /// A conversation ended (or was evicted).
    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()>;
    /// End of input: flush what is buffered, print closing lines.
    fn finish(&mut self, end: &RunEnd) -> io::Result<()>;
    /// Whether this renderer shows packets' explanations. When no consumer
    /// does (`--summary`), the tracker does not write them.
    fn wants_notes(&self) -> bool {
        true
    }
    /// The lab this timeline is (demo), before any row: a document format
    /// makes it its title. The line formats have it from the demo itself.
    fn lab(&mut self, _name: &str, _question: &str) -> io::Result<()> {
        Ok(())
    }
    /// The lab's checks, judged once the capture ended, before `finish`.
    fn checks(&mut self, _checks: &[crate::lab::Check]) -> io::Result<()> {
        Ok(())
    }
    /// A writer of this renderer's packet rows for another thread, if its
    /// rows need nothing from the rows before them but the first packet's
    /// time (a file replayed on two cores: app::parallel).
    fn row_writer(&self) -> Option<Box<dyn RowWriter>> {
        None
    }
    /// A packet row that [`Render::row_writer`]'s writer wrote, passed on in
    /// place of [`Render::packet`].
    fn packet_written(&mut self, _ts_ns: i64, _bytes: &[u8]) -> io::Result<()> {
        Err(io::Error::other("this renderer writes its own rows"))
    }
}

/// Writes packet rows as a renderer does, on another thread (see
/// [`Render::row_writer`]).
pub trait RowWriter: Send {
    /// `row` appended to `out` as its renderer writes it; `first_ns` is
    /// the first packet's time, for times relative to it.
    fn write_row(
        &mut self,
        row: &PacketRow<'_, '_>,
        first_ns: i64,
        out: &mut Vec<u8>,
    ) -> io::Result<()>;
}

/// Shows nothing (for `--format pcapng`, where the output is the capture itself).
pub struct NullRender;

impl Render for NullRender {
    fn wants_notes(&self) -> bool {
        false
    }
    fn packet(&mut self, _row: &PacketRow<'_, '_>) -> io::Result<()> {
        Ok(())
    }
    fn call(&mut self, _line: &Line) -> io::Result<()> {
        Ok(())
    }
    fn conn(&mut self, _summary: &ConnSummary) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, _end: &RunEnd) -> io::Result<()> {
        Ok(())
    }
}

/// Two renderers fed the same events (the terminal view and a saved JSON timeline).
pub struct Tee<'a, 'b> {
    pub first: &'a mut dyn Render,
    pub second: &'b mut dyn Render,
}

impl Render for Tee<'_, '_> {
    fn wants_notes(&self) -> bool {
        self.first.wants_notes() || self.second.wants_notes()
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        self.first.packet(row)?;
        self.second.packet(row)
    }
    fn call(&mut self, line: &Line) -> io::Result<()> {
        self.first.call(line)?;
        self.second.call(line)
    }
    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        self.first.conn(summary)?;
        self.second.conn(summary)
    }
    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        self.first.finish(end)?;
        self.second.finish(end)
    }
    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        self.first.lab(name, question)?;
        self.second.lab(name, question)
    }
    fn checks(&mut self, checks: &[crate::lab::Check]) -> io::Result<()> {
        self.first.checks(checks)?;
        self.second.checks(checks)
    }
}

/// Sees every raw frame with its tracked row (to save an annotated capture).
pub trait FrameTap {
    fn frame(
        &mut self,
        frame: &crate::capture::RawFrame<'_>,
        row: &PacketRow<'_, '_>,
    ) -> io::Result<()>;
}

impl<W: io::Write> FrameTap for crate::export::pcapng::PcapngWriter<W> {
    fn frame(
        &mut self,
        frame: &crate::capture::RawFrame<'_>,
        row: &PacketRow<'_, '_>,
    ) -> io::Result<()> {
        self.set_comment(&row.note);
        crate::export::pcapng::PcapngWriter::frame(
            self,
            frame.link.number(),
            frame.ts_ns,
            frame.orig_len,
            frame.data,
        )
    }
}

/// How much detail per row: `-v` adds raw numbers and options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    #[default]
    Normal,
    Verbose,
}

/// Keeps the first conversation summaries for the closing table, and
/// only counts the rest, so memory does not grow with the capture.
#[derive(Debug, Default)]
pub struct SummaryKeeper {
    pub kept: Vec<ConnSummary>,
    pub not_shown: u64,
    pub by_state: std::collections::BTreeMap<&'static str, u64>,
}

impl SummaryKeeper {
    pub const MAX_KEPT: usize = 200;

    pub fn add(&mut self, summary: &ConnSummary) {
        *self.by_state.entry(summary.conn_state).or_default() += 1;
        if self.kept.len() < Self::MAX_KEPT {
            self.kept.push(summary.clone());
        } else {
            self.not_shown += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.by_state.values().sum()
    }

    /// "SF 3, REJ 1"
    pub fn states_line(&self) -> String {
        let mut s = String::new();
        for (state, n) in &self.by_state {
            if !s.is_empty() {
                s.push_str(", ");
            }
            let _ = write!(s, "{state} {n}");
        }
        s
    }
}

/// Seconds since the first packet, to the microsecond (nanoseconds with -v).
pub fn relative_time(ts_ns: i64, first_ns: i64, verbose: bool) -> String {
    let mut s = String::new();
    push_relative_time(&mut s, ts_ns, first_ns, verbose);
    s
}

/// [`relative_time`], appended to `out`. The renderers' columns each have
/// such a `push_` form: a row is built in one reused buffer, without an
/// allocation per column.
pub fn push_relative_time(out: &mut String, ts_ns: i64, first_ns: i64, verbose: bool) {
    let d = crate::time::since(ts_ns, first_ns);
    if d < 0 {
        out.push('-');
    }
    let d = d.unsigned_abs();
    push_int(out, d / 1_000_000_000);
    out.push('.');
    if verbose {
        push_padded(out, d % 1_000_000_000, 9);
    } else {
        push_padded(out, (d % 1_000_000_000) / 1000, 6);
    }
}

/// An integer straight into a line: core::fmt's machinery was about a
/// tenth of a text replay's time (perf), itoa a fraction of that.
pub fn push_int<N: itoa::Integer>(out: &mut String, n: N) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `n` in `width` digits, zero-padded on the left.
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Protocol and flags column: `TCP SYN,ACK`, `UDP`, `ICMP 3/3`.
pub fn kind_column(row: &PacketRow<'_, '_>) -> String {
    let mut s = String::new();
    push_kind(&mut s, row);
    s
}

pub fn push_kind(out: &mut String, row: &PacketRow<'_, '_>) {
    let _ = match &row.packet.transport {
        Transport::Tcp(t) => {
            t.flags.push_names(out);
            Ok(())
        }
        Transport::Udp(_) => write!(out, "UDP"),
        Transport::Icmp(i) => write!(
            out,
            "{} {}/{}",
            if i.v6 { "ICMPv6" } else { "ICMP" },
            i.icmp_type,
            i.code
        ),
        Transport::Other { protocol } => write!(out, "IP proto {protocol}"),
        Transport::None => write!(out, "-"),
    };
}

/// Endpoints by role: `client -> server` or `client <- server`, so a
/// loopback conversation reads the same way in both directions.
pub fn endpoints_column(row: &PacketRow<'_, '_>) -> String {
    let mut s = String::new();
    push_endpoints(&mut s, row, &mut EndpointCache::default());
    s
}

/// The formatted endpoints of the last conversation shown: formatting
/// socket addresses is slow, and consecutive packets mostly share one.
#[derive(Debug, Default)]
pub struct EndpointCache {
    id: u64,
    client: String,
    server: String,
}

pub fn push_endpoints(out: &mut String, row: &PacketRow<'_, '_>, cache: &mut EndpointCache) {
    if let Some(c) = row.conn {
        if cache.id != c.id || cache.client.is_empty() {
            cache.id = c.id;
            cache.client.clear();
            cache.server.clear();
            push_socket_addr(&mut cache.client, c.client);
            push_socket_addr(&mut cache.server, c.server);
        }
        out.push_str(&cache.client);
        out.push(' ');
        out.push_str(c.direction.arrow());
        out.push(' ');
        out.push_str(&cache.server);
        return;
    }
    out.push_str(&endpoints_without_conversation(row));
}

/// `127.0.0.1:80` or `[::1]:80`, as Display writes them.
pub fn push_socket_addr(out: &mut String, addr: std::net::SocketAddr) {
    match addr {
        std::net::SocketAddr::V4(v4) => {
            out.extend(
                ipv4_bytes(*v4.ip(), &mut [0; 15])
                    .iter()
                    .map(|&b| char::from(b)),
            );
            out.push(':');
            push_int(out, v4.port());
        }
        v6 => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// An IPv4 address as ASCII text, written in `buf`: core::fmt's Display
/// took about 190 instructions an address (callgrind), and a row shows two.
pub fn ipv4_bytes(ip: std::net::Ipv4Addr, buf: &mut [u8; 15]) -> &[u8] {
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    &buf[..len]
}

fn endpoints_without_conversation(row: &PacketRow<'_, '_>) -> String {
    let p = row.packet;
    match (p.ip, &p.transport) {
        (Some(ip), Transport::Tcp(t)) => format!(
            "{}:{} -> {}:{}",
            fmt_ip(ip.src),
            t.src_port,
            fmt_ip(ip.dst),
            t.dst_port
        ),
        (Some(ip), Transport::Udp(u)) => format!(
            "{}:{} -> {}:{}",
            fmt_ip(ip.src),
            u.src_port,
            fmt_ip(ip.dst),
            u.dst_port
        ),
        (Some(ip), _) => format!("{} -> {}", ip.src, ip.dst),
        (None, _) => "-".to_string(),
    }
}

fn fmt_ip(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

/// `seq 1 ack 6 len 5 win 65536` (relative numbers; raw ones with -v).
pub fn numbers_column(row: &PacketRow<'_, '_>, verbose: bool) -> String {
    let mut s = String::new();
    push_numbers(&mut s, row, verbose);
    s
}

pub fn push_numbers(s: &mut String, row: &PacketRow<'_, '_>, verbose: bool) {
    match &row.packet.transport {
        Transport::Tcp(t) => {
            s.push_str("seq ");
            push_int(s, row.rel_seq.unwrap_or(t.seq.0));
            if let Some(ack) = t.ack {
                s.push_str(" ack ");
                push_int(s, row.rel_ack.unwrap_or(ack.0));
            }
            s.push_str(" len ");
            push_int(s, t.payload_len);
            match (row.window_scale, row.window_bytes()) {
                (Some(scale), Some(bytes)) if scale > 0 => {
                    s.push_str(" win ");
                    push_int(s, bytes);
                    if verbose {
                        let _ = write!(s, " (raw {} x 2^{scale})", t.window);
                    }
                }
                _ => {
                    s.push_str(" win ");
                    push_int(s, t.window);
                }
            }
            if verbose {
                let _ = write!(s, " rawseq {}", t.seq.0);
                if let Some(a) = t.ack {
                    let _ = write!(s, " rawack {}", a.0);
                }
                let o = &t.options;
                if let Some(mss) = o.mss {
                    let _ = write!(s, " mss {mss}");
                }
                if let Some(ws) = o.window_scale {
                    let _ = write!(s, " wscale {ws}");
                }
                if o.sack_permitted {
                    s.push_str(" sackOK");
                }
                if o.sack_blocks > 0 {
                    let _ = write!(s, " sack {}", o.sack_blocks);
                }
                if let Some((val, ecr)) = o.timestamp {
                    let _ = write!(s, " TS val {val} ecr {ecr}");
                }
            }
        }
        Transport::Udp(u) => {
            let _ = write!(s, "len {}", u.payload_len);
        }
        _ => {}
    }
    if verbose {
        if let Some(ip) = row.packet.ip {
            let _ = write!(s, " ttl {}", ip.ttl);
        }
        let _ = write!(s, " frame {} bytes", row.packet.wire_len);
    }
}

/// `SYN-SENT / LISTEN`: client state, then server state.
pub fn states_column(row: &PacketRow<'_, '_>) -> String {
    match row.states {
        Some([c, s]) => format!("{c} / {s}"),
        None => String::new(),
    }
}

pub fn push_states(out: &mut String, row: &PacketRow<'_, '_>) {
    if let Some([c, s]) = row.states {
        out.push_str(c.name());
        out.push_str(" / ");
        out.push_str(s.name());
    }
}

/// The payload as text, escaped; empty when there is none.
pub fn payload_column(row: &PacketRow<'_, '_>, max_chars: usize) -> String {
    let mut s = String::new();
    push_payload(&mut s, row, max_chars);
    s
}

pub fn push_payload(s: &mut String, row: &PacketRow<'_, '_>, max_chars: usize) {
    let len = payload_len(row);
    if len == 0 {
        return;
    }
    s.push('"');
    escape::push_preview(s, row.carry_in.as_slice(), row.packet.payload, max_chars);
    s.push('"');
    if row.packet.truncated && row.packet.payload.len() < usize::try_from(len).unwrap_or(usize::MAX)
    {
        // The rest of the payload was not captured.
        s.push_str("[cut]");
    }
}

/// The transport payload length on the wire (0 for other packets).
fn payload_len(row: &PacketRow<'_, '_>) -> u32 {
    match row.packet.transport {
        Transport::Tcp(t) => t.payload_len,
        Transport::Udp(u) => u.payload_len,
        _ => 0,
    }
}

/// The payload preview alone (no quotes, no cut marker) appended to `out`;
/// nothing when there is no payload.
pub fn push_payload_text(out: &mut String, row: &PacketRow<'_, '_>, max_chars: usize) {
    if payload_len(row) > 0 {
        escape::push_preview(out, row.carry_in.as_slice(), row.packet.payload, max_chars);
    }
}

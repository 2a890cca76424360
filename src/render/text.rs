//! `--format text`: one plain line per packet, printed as it comes.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::escape_text;
use super::explain::outcome;
use super::{
    plural, push_endpoints, push_kind, push_numbers, push_payload, push_relative_time, push_states,
    relative_time, EndpointCache, Render, RunEnd, SummaryKeeper, Verbosity,
};
use crate::timeline::{ConnSummary, PacketRow};

pub struct TextRender<W: Write> {
    out: W,
    verbosity: Verbosity,
    first_ns: Option<i64>,
    summaries: SummaryKeeper,
    /// Print packet rows (false for `--summary`).
    rows: bool,
    line: String,
    endpoints: EndpointCache,
    /// `--hex`: header bytes under each packet.
    hex: bool,
    hex_note_done: bool,
}

/// Right-align what was pushed since `start` to `width` characters.
fn pad_left(line: &mut String, start: usize, width: usize) {
    let len = line.len() - start;
    if len < width {
        const SPACES: &str = "                ";
        line.insert_str(start, &SPACES[..(width - len).min(SPACES.len())]);
    }
}

impl<W: Write> TextRender<W> {
    pub fn new(out: W, verbosity: Verbosity, rows: bool) -> TextRender<W> {
        TextRender {
            out,
            verbosity,
            first_ns: None,
            summaries: SummaryKeeper::default(),
            rows,
            line: String::new(),
            endpoints: EndpointCache::default(),
            hex: false,
            hex_note_done: false,
        }
    }

    /// Print each packet's header bytes with their fields (`--hex`).
    pub fn with_hex(mut self, hex: bool) -> TextRender<W> {
        self.hex = hex;
        self
    }
}

impl<W: Write> Render for TextRender<W> {
    fn wants_notes(&self) -> bool {
        self.rows
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        let first = *self.first_ns.get_or_insert(row.packet.ts_ns);
        if !self.rows {
            return Ok(());
        }
        let verbose = self.verbosity == Verbosity::Verbose;
        // The row is built in one reused buffer and written at once.
        let line = &mut self.line;
        line.clear();
        super::push_int(line, row.packet.frame);
        pad_left(line, 0, 6);
        line.push(' ');
        let start = line.len();
        push_relative_time(line, row.packet.ts_ns, first, verbose);
        pad_left(line, start, 10);
        line.push(' ');
        let start = line.len();
        match row.conn {
            Some(c) => {
                line.push('#');
                super::push_int(line, c.id);
            }
            None => line.push('-'),
        }
        pad_left(line, start, 4);
        line.push(' ');
        push_endpoints(line, row, &mut self.endpoints);
        line.push(' ');
        push_kind(line, row);
        line.push(' ');
        push_numbers(line, row, verbose);
        if row.states.is_some() {
            line.push_str(" [");
            push_states(line, row);
            line.push(']');
        }
        line.push(' ');
        line.push_str(&escape_text(&row.note));
        let before = line.len();
        line.push(' ');
        push_payload(line, row, if verbose { 200 } else { 40 });
        if line.len() == before + 1 {
            line.truncate(before);
        }
        line.push('\n');
        if self.hex {
            let lines = super::hex::header_lines(row.packet);
            if !lines.is_empty() && !self.hex_note_done {
                self.hex_note_done = true;
                let _ = writeln!(line, "{:>18}{}", "", super::hex::BYTE_ORDER_NOTE);
            }
            for l in lines {
                let _ = writeln!(line, "{:>18}{l}", "");
            }
        }
        self.out.write_all(line.as_bytes())
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        let (ts_ns, text) = (line.ts_ns(), crate::render::explain::line_text(line));
        let text = text.as_str();
        let first = *self.first_ns.get_or_insert(ts_ns);
        if !self.rows {
            return Ok(());
        }
        let verbose = self.verbosity == Verbosity::Verbose;
        writeln!(
            self.out,
            "{:>6} {:>10}      {}",
            "",
            relative_time(ts_ns, first, verbose),
            escape_text(text)
        )
    }

    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        self.summaries.add(summary);
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        write_summary_text(&mut self.out, &self.summaries, end)?;
        self.out.flush()
    }
}

/// The closing summary as plain lines (used by the text format and --summary).
pub fn write_summary_text(
    out: &mut impl Write,
    keeper: &SummaryKeeper,
    end: &RunEnd,
) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{} {}, {} {} ({})",
        end.stats.packets,
        if end.stats.packets == 1 {
            "packet"
        } else {
            "packets"
        },
        keeper.total(),
        plural(keeper.total(), "conversation", "conversations"),
        if keeper.total() == 0 {
            "none".to_string()
        } else {
            keeper.states_line()
        }
    )?;
    for s in &keeper.kept {
        writeln!(
            out,
            "  #{} {} {} -> {}  {} {}  client {} {} {} B, server {} {} {} B, {:.6} s  {}",
            s.conn,
            s.proto,
            s.client,
            s.server,
            s.conn_state,
            if s.history.is_empty() {
                "-"
            } else {
                &s.history
            },
            s.packets_client,
            plural(s.packets_client, "pkt", "pkts"),
            s.bytes_client,
            s.packets_server,
            plural(s.packets_server, "pkt", "pkts"),
            s.bytes_server,
            s.duration_ns() as f64 / 1e9,
            outcome(s),
        )?;
    }
    if keeper.not_shown > 0 {
        writeln!(
            out,
            "  ... and {} more conversations (all of them with --format json)",
            keeper.not_shown
        )?;
    }
    if end.stats.evicted_early > 0 {
        writeln!(
            out,
            "{} conversations were evicted before they ended (idle, or too many at once); their summaries are partial",
            end.stats.evicted_early
        )?;
    }
    if end.stats.undecodable > 0 {
        writeln!(
            out,
            "{} packets could not be decoded as IP",
            end.stats.undecodable
        )?;
    }
    // libpcap's "received by filter" is left out: on loopback the kernel
    // hands every packet to the capture twice (sent and received), libpcap
    // keeps one copy but counts both, so it reads as twice the timeline.
    // What was lost is what matters here.
    if let Some((_, kernel, iface)) = end.drops {
        writeln!(
            out,
            "capture: {kernel} {} dropped by the kernel, {iface} by the interface",
            plural(u64::from(kernel), "packet", "packets")
        )?;
    }
    Ok(())
}

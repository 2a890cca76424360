//! `--format text`: one plain line per packet, printed as it comes.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::escape::escape_text;
use super::explain::outcome;
use super::{
    plural, push_endpoints, push_kind, push_numbers, push_payload, push_relative_time, push_states,
    relative_time, EndpointCache, Render, RowWriter, RunEnd, SummaryKeeper, Verbosity,
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
    /// Colour the flags and the calls (a terminal that takes colour).
    colour: bool,
    /// The compact layout for a narrow terminal: an arrow line per packet,
    /// the numbers and states beneath it, the explanation wrapped to this
    /// width.
    wrap: Option<usize>,
}

/// How far the compact layout indents what follows a packet's first line.
const INDENT: &str = "      ";

/// The colour of a packet's flags: a SYN opens, a FIN closes, a RST aborts,
/// ICMP reports an error.
fn flags_style(row: &PacketRow<'_, '_>) -> Option<anstyle::Style> {
    use anstyle::AnsiColor;
    let colour = match row.packet.transport {
        crate::decode::Transport::Tcp(t) if t.flags.rst() => AnsiColor::Red,
        crate::decode::Transport::Tcp(t) if t.flags.syn() => AnsiColor::Green,
        crate::decode::Transport::Tcp(t) if t.flags.fin() => AnsiColor::Yellow,
        crate::decode::Transport::Icmp(_) => AnsiColor::Magenta,
        _ => return None,
    };
    Some(anstyle::Style::new().fg_color(Some(colour.into())).bold())
}

/// Socket calls, steps and notes, set apart from the packets.
const CALL_STYLE: anstyle::Style =
    anstyle::Style::new().fg_color(Some(anstyle::Color::Ansi(anstyle::AnsiColor::Cyan)));

/// Put `style` around `line[range]` (escape codes are inserted after any
/// wrapping: they take no room on screen).
fn paint(line: &mut String, range: std::ops::Range<usize>, style: anstyle::Style) {
    line.insert_str(range.end, &style.render_reset().to_string());
    line.insert_str(range.start, &style.render().to_string());
}

/// `text` wrapped to `width`, each line after the first indented by `indent`.
fn wrapped<'t>(
    text: &'t str,
    width: usize,
    first: &'t str,
    indent: &'t str,
) -> Vec<std::borrow::Cow<'t, str>> {
    let options = textwrap::Options::new(width.max(20))
        .initial_indent(first)
        .subsequent_indent(indent)
        .break_words(true)
        // TIME-WAIT and SYN-SENT stay whole.
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    textwrap::wrap(text, options)
}

/// Columns `text` takes on screen.
fn unicode_width(text: &str) -> usize {
    textwrap::core::display_width(text)
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
            colour: false,
            wrap: None,
        }
    }

    /// Colour the flags and the calls.
    pub fn with_colour(mut self, colour: bool) -> TextRender<W> {
        self.colour = colour;
        self
    }

    /// The compact layout, wrapped to `width` columns.
    pub fn compact(mut self, width: usize) -> TextRender<W> {
        self.wrap = Some(width);
        self
    }

    /// A packet in the compact layout: frame, time, conversation, the two
    /// ends with an arrow and the flags; the numbers and both states; the
    /// explanation; each wrapped to `width`.
    fn compact_packet(
        &mut self,
        row: &PacketRow<'_, '_>,
        first: i64,
        width: usize,
    ) -> io::Result<()> {
        let verbose = self.verbosity == Verbosity::Verbose;
        let mut head = String::new();
        super::push_int(&mut head, row.packet.frame);
        pad_left(&mut head, 0, 5);
        head.push(' ');
        push_relative_time(&mut head, row.packet.ts_ns, first, verbose);
        head.push(' ');
        match row.conn {
            Some(c) => {
                head.push('#');
                super::push_int(&mut head, c.id);
            }
            None => head.push('-'),
        }
        head.push(' ');
        push_endpoints(&mut head, row, &mut self.endpoints);
        head.push(' ');
        let kind_start = head.len();
        push_kind(&mut head, row);
        let kind_end = head.len();
        let mut block = String::new();
        if unicode_width(&head) <= width {
            if let (true, Some(style)) = (self.colour, flags_style(row)) {
                paint(&mut head, kind_start..kind_end, style);
            }
            block.push_str(&head);
            block.push('\n');
        } else {
            for l in wrapped(&head, width, "", INDENT) {
                block.push_str(&l);
                block.push('\n');
            }
        }
        let mut numbers = String::new();
        push_numbers(&mut numbers, row, verbose);
        if row.states.is_some() {
            numbers.push_str(" [");
            push_states(&mut numbers, row);
            numbers.push(']');
        }
        let before = numbers.len();
        numbers.push(' ');
        push_payload(&mut numbers, row, if verbose { 200 } else { 40 });
        if numbers.len() == before + 1 {
            numbers.truncate(before);
        }
        for text in [numbers.as_str(), &escape_text(&row.note)] {
            if text.trim().is_empty() {
                continue;
            }
            for l in wrapped(text, width, INDENT, INDENT) {
                block.push_str(&l);
                block.push('\n');
            }
        }
        self.out.write_all(block.as_bytes())
    }

    /// Print each packet's header bytes with their fields (`--hex`).
    pub fn with_hex(mut self, hex: bool) -> TextRender<W> {
        self.hex = hex;
        self
    }
}

/// A packet's row in the plain layout (no colour, no newline) appended to
/// `line`; returns where its flags are, for colour.
fn push_row(
    line: &mut String,
    row: &PacketRow<'_, '_>,
    first: i64,
    verbose: bool,
    endpoints: &mut EndpointCache,
) -> std::ops::Range<usize> {
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
    push_endpoints(line, row, endpoints);
    line.push(' ');
    let kind_start = line.len();
    push_kind(line, row);
    let kind_end = line.len();
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
    kind_start..kind_end
}

/// Rows in the plain layout, for another thread (see [`RowWriter`]): all
/// a row needs from the rows before it is the first packet's time.
struct TextRows {
    verbose: bool,
    line: String,
    endpoints: EndpointCache,
}

impl RowWriter for TextRows {
    fn write_row(
        &mut self,
        row: &PacketRow<'_, '_>,
        first_ns: i64,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        self.line.clear();
        push_row(
            &mut self.line,
            row,
            first_ns,
            self.verbose,
            &mut self.endpoints,
        );
        self.line.push('\n');
        out.extend_from_slice(self.line.as_bytes());
        Ok(())
    }
}

impl<W: Write> Render for TextRender<W> {
    fn wants_notes(&self) -> bool {
        self.rows
    }
    fn row_writer(&self) -> Option<Box<dyn RowWriter>> {
        // Colour, `--hex` (its note comes once) and the compact layout stay here.
        let plain = self.rows && !self.colour && !self.hex && self.wrap.is_none();
        plain.then(|| {
            Box::new(TextRows {
                verbose: self.verbosity == Verbosity::Verbose,
                line: String::new(),
                endpoints: EndpointCache::default(),
            }) as Box<dyn RowWriter>
        })
    }
    fn packet_written(&mut self, ts_ns: i64, bytes: &[u8]) -> io::Result<()> {
        self.first_ns.get_or_insert(ts_ns);
        self.out.write_all(bytes)
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        let first = *self.first_ns.get_or_insert(row.packet.ts_ns);
        if !self.rows {
            return Ok(());
        }
        if let Some(width) = self.wrap {
            return self.compact_packet(row, first, width);
        }
        let verbose = self.verbosity == Verbosity::Verbose;
        // The row is built in one reused buffer and written at once.
        let line = &mut self.line;
        line.clear();
        let kind = push_row(line, row, first, verbose, &mut self.endpoints);
        if let (true, Some(style)) = (self.colour, flags_style(row)) {
            paint(line, kind, style);
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
        let mut lines: Vec<String> = match self.wrap {
            Some(width) => {
                let first_line = format!("{:>5} {} ", "", relative_time(ts_ns, first, verbose));
                wrapped(&escape_text(text), width, &first_line, INDENT)
                    .into_iter()
                    .map(|l| l.into_owned())
                    .collect()
            }
            None => vec![format!(
                "{:>6} {:>10}      {}",
                "",
                relative_time(ts_ns, first, verbose),
                escape_text(text)
            )],
        };
        for line in &mut lines {
            if self.colour {
                let start = line.len() - line.trim_start().len();
                paint(line, start..line.len(), CALL_STYLE);
            }
            line.push('\n');
        }
        self.out.write_all(lines.concat().as_bytes())
    }

    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        self.summaries.add(summary);
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        let Some(width) = self.wrap else {
            write_summary_text(&mut self.out, &self.summaries, end)?;
            return self.out.flush();
        };
        let mut text = Vec::new();
        write_summary_text(&mut text, &self.summaries, end)?;
        for line in String::from_utf8_lossy(&text).lines() {
            let indent = &line[..line.len() - line.trim_start().len()];
            let rest = format!("{indent}{INDENT}");
            if line.is_empty() {
                writeln!(self.out)?;
                continue;
            }
            for l in wrapped(line.trim_start(), width, indent, &rest) {
                writeln!(self.out, "{l}")?;
            }
        }
        self.out.flush()
    }
}

/// A lab's checks as plain lines: "[passed] what (detail)".
pub fn write_checks(out: &mut impl Write, checks: &[crate::lab::Check]) -> io::Result<()> {
    writeln!(out, "what you should have seen:")?;
    for c in checks {
        writeln!(
            out,
            "  [{}] {}{}",
            c.verdict(),
            escape_text(&c.what),
            escape_text(&c.detail_suffix())
        )?;
    }
    Ok(())
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

//! `--format text`: one plain line per packet, printed as it comes.

use std::io::{self, Write};

use super::escape::escape_text;
use super::{
    endpoints_column, kind_column, numbers_column, payload_column, relative_time, states_column,
    Render, RunEnd, SummaryKeeper, Verbosity,
};
use crate::timeline::{ConnSummary, PacketRow};

pub struct TextRender<W: Write> {
    out: W,
    verbosity: Verbosity,
    first_ns: Option<i64>,
    summaries: SummaryKeeper,
    /// Print packet rows (false for `--summary`).
    rows: bool,
}

impl<W: Write> TextRender<W> {
    pub fn new(out: W, verbosity: Verbosity, rows: bool) -> TextRender<W> {
        TextRender {
            out,
            verbosity,
            first_ns: None,
            summaries: SummaryKeeper::default(),
            rows,
        }
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
        let conn = row
            .conn
            .map(|c| format!("#{}", c.id))
            .unwrap_or_else(|| "-".to_string());
        write!(
            self.out,
            "{:>6} {:>10} {:>4} {} {} {}",
            row.packet.frame,
            relative_time(row.packet.ts_ns, first, verbose),
            conn,
            endpoints_column(row),
            kind_column(row),
            numbers_column(row, verbose),
        )?;
        let states = states_column(row);
        if !states.is_empty() {
            write!(self.out, " [{states}]")?;
        }
        write!(self.out, " {}", escape_text(&row.note))?;
        let payload = payload_column(row, if verbose { 200 } else { 40 });
        if !payload.is_empty() {
            write!(self.out, " {payload}")?;
        }
        writeln!(self.out)
    }

    fn call(&mut self, ts_ns: i64, text: &str) -> io::Result<()> {
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
        "{} packets, {} conversations ({})",
        end.stats.packets,
        keeper.total(),
        if keeper.total() == 0 {
            "none".to_string()
        } else {
            keeper.states_line()
        }
    )?;
    for s in &keeper.kept {
        writeln!(
            out,
            "  #{} {} {} -> {}  {} {}  client {} pkts {} B, server {} pkts {} B, {:.6} s  {}",
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
            s.bytes_client,
            s.packets_server,
            s.bytes_server,
            s.duration_ns() as f64 / 1e9,
            s.outcome,
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
    if let Some((received, kernel, iface)) = end.drops {
        writeln!(out, "capture: {received} packets received by filter, {kernel} dropped by kernel, {iface} dropped by interface")?;
    }
    Ok(())
}

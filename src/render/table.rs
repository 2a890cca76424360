//! The default terminal view: comfy-table tables of a bounded number of
//! rows each, so a long capture streams instead of being held whole.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};

use super::escape::escape_text;
use super::explain::outcome;
use super::text::write_summary_text;
use super::{
    endpoints_column, kind_column, numbers_column, payload_column, relative_time, states_column,
    Render, RunEnd, SummaryKeeper, Verbosity,
};
use crate::decode::Transport;
use crate::timeline::{ConnSummary, PacketRow};

/// Rows per table: enough to read a handshake-to-close exchange at once.
const CHUNK: usize = 40;
/// Table width when output is not a terminal (a pipe, a file).
const WIDTH_WITHOUT_TERMINAL: u16 = 180;

pub struct TableRender<W: Write> {
    out: W,
    verbosity: Verbosity,
    colour: bool,
    first_ns: Option<i64>,
    rows: Vec<Vec<Cell>>,
    summaries: SummaryKeeper,
}

impl<W: Write> TableRender<W> {
    pub fn new(out: W, verbosity: Verbosity, colour: bool) -> TableRender<W> {
        TableRender {
            out,
            verbosity,
            colour,
            first_ns: None,
            rows: Vec::new(),
            summaries: SummaryKeeper::default(),
        }
    }

    fn flush_rows(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec![
                "#",
                "time",
                "conv",
                "client -> server",
                "flags",
                "seq/ack/len/win",
                "client / server state",
                "what it means",
                "payload",
            ]);
        if !self.colour {
            table.force_no_tty();
        } else {
            table.enforce_styling();
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // No terminal to measure: wrap to a width a page or a pager shows.
            table.set_width(WIDTH_WITHOUT_TERMINAL);
        }
        for row in self.rows.drain(..) {
            table.add_row(row);
        }
        writeln!(self.out, "{table}")
    }

    fn colour_for(&self, row: &PacketRow<'_, '_>) -> Option<Color> {
        if !self.colour {
            return None;
        }
        match row.packet.transport {
            Transport::Tcp(t) if t.flags.rst() => Some(Color::Red),
            Transport::Tcp(t) if t.flags.syn() => Some(Color::Green),
            Transport::Tcp(t) if t.flags.fin() => Some(Color::Yellow),
            Transport::Icmp(_) => Some(Color::Magenta),
            _ => None,
        }
    }
}

impl<W: Write> Render for TableRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        let first = *self.first_ns.get_or_insert(row.packet.ts_ns);
        let verbose = self.verbosity == Verbosity::Verbose;
        let mut flags = Cell::new(kind_column(row));
        if let Some(c) = self.colour_for(row) {
            flags = flags.fg(c);
        }
        self.rows.push(vec![
            Cell::new(row.packet.frame),
            Cell::new(relative_time(row.packet.ts_ns, first, verbose)),
            Cell::new(row.conn.map(|c| format!("#{}", c.id)).unwrap_or_default()),
            Cell::new(endpoints_column(row)),
            flags,
            Cell::new(numbers_column(row, verbose)),
            Cell::new(states_column(row)),
            Cell::new(escape_text(&row.note).as_ref()),
            Cell::new(payload_column(row, if verbose { 200 } else { 24 })),
        ]);
        if self.rows.len() >= CHUNK {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        let (ts_ns, text) = (line.ts_ns(), crate::render::explain::line_text(line));
        let text = text.as_str();
        let first = *self.first_ns.get_or_insert(ts_ns);
        let verbose = self.verbosity == Verbosity::Verbose;
        let mut row = vec![
            Cell::new(""),
            Cell::new(relative_time(ts_ns, first, verbose)),
        ];
        row.extend((0..5).map(|_| Cell::new("")));
        row.push(Cell::new(escape_text(text).as_ref()));
        row.push(Cell::new(""));
        self.rows.push(row);
        Ok(())
    }

    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        self.summaries.add(summary);
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        self.flush_rows()?;
        if !self.summaries.kept.is_empty() {
            let mut table = Table::new();
            table
                .load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(vec![
                    "conv",
                    "proto",
                    "client",
                    "server",
                    "packets c/s",
                    "bytes c/s",
                    "duration",
                    "state",
                    "history",
                    "outcome",
                ]);
            if !self.colour {
                table.force_no_tty();
            }
            if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                table.set_width(WIDTH_WITHOUT_TERMINAL);
            }
            for s in &self.summaries.kept {
                table.add_row(vec![
                    Cell::new(format!("#{}", s.conn)),
                    Cell::new(s.proto),
                    Cell::new(s.client),
                    Cell::new(s.server),
                    Cell::new(format!("{}/{}", s.packets_client, s.packets_server)),
                    Cell::new(format!("{}/{}", s.bytes_client, s.bytes_server)),
                    Cell::new(format!("{:.6} s", s.duration_ns() as f64 / 1e9)),
                    Cell::new(s.conn_state),
                    Cell::new(&s.history),
                    Cell::new(outcome(s)),
                ]);
            }
            writeln!(self.out, "{table}")?;
        }
        // The totals and drop counters, as in the text format (without
        // repeating the per-conversation lines the table just showed).
        let rest = SummaryKeeper {
            kept: Vec::new(),
            not_shown: self.summaries.not_shown,
            by_state: self.summaries.by_state.clone(),
        };
        write_summary_text(&mut self.out, &rest, end)?;
        self.out.flush()
    }
}

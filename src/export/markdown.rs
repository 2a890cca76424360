//! `--format md`: a Markdown table for a lab report. Cell text is escaped
//! so a payload cannot add columns, links, HTML or emphasis.

use std::io::{self, Write};

use crate::render::escape::escape_text;
use crate::render::explain::outcome;
use crate::render::{
    endpoints_column, kind_column, numbers_column, payload_column, relative_time, states_column,
    Render, RunEnd,
};
use crate::timeline::{ConnSummary, PacketRow};

/// Escape Markdown's active characters (after control characters were made visible).
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_text(text).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A payload cell: also `:`, so that GitHub's autolinking cannot turn a
/// `http://...` inside the payload into a link.
pub fn md_payload(text: &str) -> String {
    md(text).replace(':', "\\:")
}

pub struct MarkdownRender<W: Write> {
    out: W,
    first_ns: Option<i64>,
    header_done: bool,
    summaries: Vec<ConnSummary>,
    checks: Vec<crate::lab::Check>,
}

impl<W: Write> MarkdownRender<W> {
    pub fn new(out: W) -> MarkdownRender<W> {
        MarkdownRender {
            out,
            first_ns: None,
            header_done: false,
            summaries: Vec::new(),
            checks: Vec::new(),
        }
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            writeln!(self.out, "| # | time | conn | client -> server | flags | seq/ack/len/win | client / server state | what it means | payload |")?;
            writeln!(self.out, "|---|---|---|---|---|---|---|---|---|")?;
        }
        Ok(())
    }
}

impl<W: Write> Render for MarkdownRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        self.header()?;
        let first = *self.first_ns.get_or_insert(row.packet.ts_ns);
        writeln!(
            self.out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.packet.frame,
            relative_time(row.packet.ts_ns, first, false),
            row.conn.map(|c| format!("\\#{}", c.id)).unwrap_or_default(),
            md(&endpoints_column(row)),
            md(&kind_column(row)),
            md(&numbers_column(row, false)),
            md(&states_column(row)),
            md(&row.note),
            md_payload(&payload_column(row, 40)),
        )
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        let (ts_ns, text) = (line.ts_ns(), crate::render::explain::line_text(line));
        let text = text.as_str();
        self.header()?;
        let first = *self.first_ns.get_or_insert(ts_ns);
        writeln!(
            self.out,
            "|  | {} |  |  |  |  |  | {} |  |",
            relative_time(ts_ns, first, false),
            md(text)
        )
    }

    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        // Bounded like the terminal summary.
        if self.summaries.len() < crate::render::SummaryKeeper::MAX_KEPT {
            self.summaries.push(summary.clone());
        }
        Ok(())
    }

    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        writeln!(self.out, "# {}: {}", md(name), md(question))?;
        writeln!(self.out)
    }

    fn checks(&mut self, checks: &[crate::lab::Check]) -> io::Result<()> {
        self.checks = checks.to_vec();
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        writeln!(self.out)?;
        writeln!(self.out, "{} packets.", end.stats.packets)?;
        if !self.summaries.is_empty() {
            writeln!(self.out)?;
            writeln!(
                self.out,
                "| conn | client | server | state | history | outcome |"
            )?;
            writeln!(self.out, "|---|---|---|---|---|---|")?;
            for s in &self.summaries {
                writeln!(
                    self.out,
                    "| {} | {} | {} | {} | {} | {} |",
                    s.conn,
                    md(&s.client.to_string()),
                    md(&s.server.to_string()),
                    s.conn_state,
                    md(&s.history),
                    md(&outcome(s))
                )?;
            }
        }
        if !self.checks.is_empty() {
            // A lab report: what the student should have seen, judged.
            writeln!(self.out)?;
            writeln!(self.out, "## What you should have seen")?;
            writeln!(self.out)?;
            for c in &self.checks {
                let mark = match c.passed {
                    Some(false) => "**FAILED**",
                    _ => c.verdict(),
                };
                writeln!(
                    self.out,
                    "- {mark}: {}{}",
                    md(&c.what),
                    md(&c.detail_suffix())
                )?;
            }
        }
        self.out.flush()
    }
}

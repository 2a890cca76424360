//! `--format html`: the classroom view (`--web`) as one self-contained file:
//! the same page, with the run's events embedded instead of streamed, so a
//! TA can open a student's run without wirelab. Clicking an arrow shows the
//! packet's fields, header bytes, payload and the evidence behind its
//! explanation; `#frame-N` at the end of the address opens packet N.
//!
//! Safety is the page's (see [`crate::web::page`]): the events are escaped
//! JSON, the script builds elements only with `textContent`, and the
//! Content-Security-Policy lets nothing else load or run.

use std::io::{self, Write};

use crate::call::Line;
use crate::lab::Check;
use crate::render::escape::escape_text;
use crate::render::{Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};
use crate::web::page::{document, PageConfig};
use crate::web::{Collected, WebRender};

/// Text for HTML and SVG: escaped for display first (controls, bidi),
/// then for markup.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_text(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub struct HtmlRender<W: Write> {
    out: W,
    lines: WebRender<Collected>,
    config: PageConfig,
    /// The lab's name and question (demo), else "wirelab timeline".
    title: Option<String>,
}

impl<W: Write> HtmlRender<W> {
    pub fn new(out: W) -> HtmlRender<W> {
        HtmlRender {
            out,
            lines: WebRender::new(Collected::default()),
            config: PageConfig::default(),
            title: None,
        }
    }

    /// The page asks the student to predict each TCP packet (`--quiz`).
    pub fn quiz(mut self, on: bool) -> HtmlRender<W> {
        self.config.quiz = on;
        self
    }
}

impl<W: Write> Render for HtmlRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        self.lines.packet(row)
    }
    fn call(&mut self, line: &Line) -> io::Result<()> {
        self.lines.call(line)
    }
    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        self.lines.conn(summary)
    }
    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        self.title = Some(format!("{name}: {question}"));
        self.lines.lab(name, question)
    }
    fn checks(&mut self, checks: &[Check]) -> io::Result<()> {
        self.lines.checks(checks)
    }
    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        self.lines.finish(end)?;
        let lines = std::mem::take(&mut self.lines.sink().lines);
        let title = self.title.as_deref().unwrap_or("wirelab timeline");
        self.out
            .write_all(document(&self.config, title, &lines).as_bytes())?;
        self.out.flush()
    }
}

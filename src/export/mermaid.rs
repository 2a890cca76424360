//! `--format mermaid`: a `sequenceDiagram` with client and server
//! lifelines per conversation (by role, so a loopback ladder points the
//! right way), one arrow per packet, notes for explanations, states and
//! socket calls. Labels are reduced to a safe alphabet; everything else is
//! written as Mermaid's `#code;` entities, so a payload cannot end a
//! statement (`;`), open a link or inject markup.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::render::escape::escape_text;
use crate::render::{kind_column, numbers_column, payload_column, states_column, Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};

/// Diagrams beyond this many packets are unreadable and slow to render.
pub const MAX_PACKETS: u64 = 2000;

pub fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Controls, bidi and zero-width characters first become visible
    // escapes: as entities they would still reach the rendered diagram.
    for c in escape_text(text).chars() {
        if c.is_ascii_alphanumeric() || " .,/()=+-_'?![]".contains(c) {
            out.push(c);
        } else {
            let _ = write!(out, "#{};", c as u32);
        }
    }
    out
}

pub struct MermaidRender<W: Write> {
    out: W,
    declared: BTreeSet<u64>,
    packets: u64,
    started: bool,
    title: Option<String>,
}

impl<W: Write> MermaidRender<W> {
    pub fn new(out: W) -> MermaidRender<W> {
        MermaidRender {
            out,
            declared: BTreeSet::new(),
            packets: 0,
            started: false,
            title: None,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            // Long notes wrap instead of running off the diagram.
            writeln!(
                self.out,
                "%%{{init: {{\"sequence\": {{\"wrap\": true}}}}}}%%"
            )?;
            writeln!(self.out, "sequenceDiagram")?;
            if let Some(title) = &self.title {
                writeln!(self.out, "    title {}", label(title))?;
            }
        }
        Ok(())
    }
}

/// A diagram asked for more packets than can be read.
#[derive(Debug, thiserror::Error)]
#[error("{format} output is capped at {MAX_PACKETS} packets (a larger diagram cannot be read): choose fewer (a filter after the file, -c N or --conn N), or use --format json or csv")]
pub struct TooLarge {
    pub format: &'static str,
}

pub fn too_large(format: &'static str) -> io::Error {
    io::Error::other(TooLarge { format })
}

impl<W: Write> Render for MermaidRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        self.start()?;
        self.packets += 1;
        if self.packets > MAX_PACKETS {
            return Err(too_large("mermaid"));
        }
        let Some(c) = row.conn else {
            return writeln!(
                self.out,
                "    Note over Other: {} {}",
                label(&kind_column(row)),
                label(&row.note)
            );
        };
        if self.declared.insert(c.id) {
            writeln!(
                self.out,
                "    participant C{} as client {}",
                c.id,
                label(&c.client.to_string())
            )?;
            writeln!(
                self.out,
                "    participant S{} as server {}",
                c.id,
                label(&c.server.to_string())
            )?;
        }
        let (from, to) = match c.direction {
            crate::track::flow::Direction::ClientToServer => {
                (format!("C{}", c.id), format!("S{}", c.id))
            }
            crate::track::flow::Direction::ServerToClient => {
                (format!("S{}", c.id), format!("C{}", c.id))
            }
        };
        // Each arrow starts with its frame number, as in the other formats.
        writeln!(
            self.out,
            "    {from}->>{to}: {}. {} {}",
            row.packet.frame,
            label(&kind_column(row)),
            label(&numbers_column(row, false))
        )?;
        let states = states_column(row);
        let mut note = if states.is_empty() {
            row.note.clone()
        } else {
            format!("[{states}] {}", row.note)
        };
        let payload = payload_column(row, 40);
        if !payload.is_empty() {
            note.push(' ');
            note.push_str(&payload);
        }
        writeln!(
            self.out,
            "    Note over C{},S{}: {}",
            c.id,
            c.id,
            label(&note)
        )
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        let text = crate::render::explain::line_text(line);
        let text = text.as_str();
        self.start()?;
        match self.declared.iter().next_back() {
            Some(id) => writeln!(self.out, "    Note left of C{id}: {}", label(text)),
            None => writeln!(self.out, "    Note over Program: {}", label(text)),
        }
    }

    fn conn(&mut self, _summary: &ConnSummary) -> io::Result<()> {
        Ok(())
    }

    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        self.title = Some(format!("{name}. {question}"));
        Ok(())
    }

    fn checks(&mut self, checks: &[crate::lab::Check]) -> io::Result<()> {
        self.start()?;
        let over = match (self.declared.first(), self.declared.last()) {
            (Some(a), Some(b)) => format!("C{a},S{b}"),
            _ => "Program".to_string(),
        };
        for c in checks {
            writeln!(
                self.out,
                "    Note over {over}: {}",
                label(&format!("{}. {}{}", c.verdict(), c.what, c.detail_suffix()))
            )?;
        }
        Ok(())
    }

    fn finish(&mut self, _end: &RunEnd) -> io::Result<()> {
        self.start()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_cannot_end_a_statement_or_inject_markup() {
        assert_eq!(label("a;b"), "a#59;b");
        assert_eq!(label("<script>"), "#60;script#62;");
        assert_eq!(label("γ"), "#947;");
        assert_eq!(label("SYN seq 0"), "SYN seq 0");
        // A bidi override is shown as an escape, not as an entity that renders it.
        assert_eq!(label("\u{202e}"), "#92;u#123;202e#125;");
    }
}

//! The classroom view (`--web`): the run as a ladder diagram in a browser,
//! live. The timeline's events go out as the JSON Lines of `--format json`
//! (docs/json-schema.md), with each packet's header bytes and payload in
//! hex for the detail pane, plus a few lines only the page reads (the lab,
//! its checks, a pause before a step, the end of the stream).
//!
//! `--format html` is the same page with those lines embedded
//! ([`crate::export::html`]).

pub mod hub;
pub mod page;
pub mod server;

use std::io::{self, Write};
use std::sync::Arc;

use crate::call::Line;
use crate::export::json::JsonRender;
use crate::lab::Check;
use crate::render::{Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};
use hub::{Hub, Kind};

/// Where the page's lines go: a live [`Hub`], or a list for a file.
pub trait LineSink {
    fn push(&mut self, line: String, kind: Kind) -> io::Result<()>;
}

impl LineSink for Arc<Hub> {
    fn push(&mut self, line: String, kind: Kind) -> io::Result<()> {
        Hub::push(self, line, kind);
        Ok(())
    }
}

/// The lines of a saved page; more than [`hub::MAX_PACKETS`] packets is
/// an error (a browser cannot draw a million arrows).
#[derive(Default)]
pub struct Collected {
    pub lines: Vec<String>,
    packets: u64,
}

impl LineSink for Collected {
    fn push(&mut self, line: String, kind: Kind) -> io::Result<()> {
        if kind == Kind::Packet {
            if self.packets >= hub::MAX_PACKETS {
                return Err(crate::export::mermaid::too_large("html"));
            }
            self.packets += 1;
        }
        self.lines.push(line);
        Ok(())
    }
}

/// Cuts what the JSON renderer writes into lines for a [`LineSink`].
struct Lines<S> {
    sink: S,
    partial: Vec<u8>,
}

impl<S: LineSink> Write for Lines<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            let kind = if line.starts_with("{\"kind\":\"packet\"") {
                Kind::Packet
            } else if line.starts_with("{\"kind\":\"end\"") {
                Kind::Always
            } else {
                Kind::Other
            };
            self.sink.push(line, kind)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The page's lines for a run: the JSON renderer's, with bytes, plus the lab and its checks.
pub struct WebRender<S: LineSink> {
    json: JsonRender<Lines<S>>,
    lab: String,
}

impl<S: LineSink> WebRender<S> {
    pub fn new(sink: S) -> WebRender<S> {
        WebRender {
            json: JsonRender::new(
                Lines {
                    sink,
                    partial: Vec::new(),
                },
                true,
            )
            .with_bytes(),
            lab: String::new(),
        }
    }

    pub fn sink(&mut self) -> &mut S {
        &mut self.json.get_mut().sink
    }
}

/// The last line of a live stream: the page stops listening.
pub fn bye(hub: &Hub) {
    hub.push("{\"kind\":\"bye\"}".to_string(), Kind::Always);
}

impl<S: LineSink> Render for WebRender<S> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        self.json.packet(row)
    }
    fn call(&mut self, line: &Line) -> io::Result<()> {
        self.json.call(line)
    }
    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        self.json.conn(summary)
    }
    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        self.json.finish(end)
    }
    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        self.lab = name.to_string();
        let line = crate::export::json::lab_line(name, question);
        self.sink().push(line, Kind::Always)
    }
    fn checks(&mut self, checks: &[Check]) -> io::Result<()> {
        let checks: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| serde_json::json!({"what": c.what, "passed": c.passed, "detail": c.detail}))
            .collect();
        let line = serde_json::json!({"kind": "checks", "lab": self.lab, "checks": checks});
        self.sink().push(line.to_string(), Kind::Always)
    }
}

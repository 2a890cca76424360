//! `--format html`: one self-contained file with a ladder diagram like
//! Wireshark's Flow Graph: client lifeline left, server right, one arrow
//! per packet, the explanation and both endpoint states beside it. Clicking
//! an arrow shows the packet's fields and payload (hex and text).
//!
//! Safety: every text goes through [`html`] escaping; the packet data for
//! the detail view is JSON inside a `<script type="application/json">`
//! with `<`, `>` and `&` written as `\u003c`-style escapes, and the script
//! only ever sets `textContent`. A Content-Security-Policy allows nothing
//! but the inline style and this one script (by its SHA-256), so even a
//! missed escape could not load or run anything.

use std::fmt::Write as _;
use std::io::{self, Write};

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::mermaid::{too_large, MAX_PACKETS};
use crate::decode::Transport;
use crate::render::escape::escape_text;
use crate::render::{kind_column, numbers_column, payload_column, relative_time, Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};
use crate::track::flow::Direction;

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

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1em;color:#222}\
h1{font-size:1.2em}.row{display:flex;align-items:center;gap:.6em;border-bottom:1px solid #eee}\
.f{width:3em;text-align:right;font-family:monospace}.t{width:6em;color:#777;font-family:monospace}\
.ends{display:flex;gap:.6em;font-weight:bold}.pass{color:#161}.fail{color:#b00;font-weight:bold}.c{width:3em;color:#555}.st{width:17em;font-family:monospace;font-size:12px}\
.note{flex:1}.call{color:#064;font-family:monospace;font-size:12px;padding-left:13em}\
svg{flex:none;cursor:pointer}line.arrow{stroke:#246;stroke-width:2}line.lifeline{stroke:#bbb}\
text{font:11px monospace;fill:#123}.rst line.arrow{stroke:#c22}.syn line.arrow{stroke:#282}.fin line.arrow{stroke:#a70}\
.row.sel{background:#fff3c4}#detail{position:sticky;bottom:0;background:#f8f8f0;border:1px solid #ccc;padding:.5em;white-space:pre-wrap;max-height:40vh;overflow:auto}";

/// Shows a packet's fields on click, or on load for a link that ends in
/// `#frame-N` (so a TA can point at one packet). `data-packets` on the body
/// records that the data parsed and the script ran under the CSP.
const SCRIPT: &str = "(function(){var d=JSON.parse(document.getElementById('data').textContent);\
var out=document.getElementById('detail');\
var svgs=document.querySelectorAll('svg[data-i]');\
function show(i){var p=d[i];if(!p)return;svgs.forEach(function(s){\
s.parentNode.classList.toggle('sel',+s.getAttribute('data-i')===i);});var lines=[];for(var k in p){lines.push(k+': '+p[k]);}\
out.textContent=lines.join('\\n');}\
svgs.forEach(function(s){s.addEventListener('click',function(){\
show(+s.getAttribute('data-i'));});});\
var m=/^#frame-(\\d+)$/.exec(location.hash);\
if(m){for(var i=0;i<d.length;i++){if(d[i].frame==+m[1]){show(i);}}}\
document.body.setAttribute('data-packets',String(d.length));})();";

#[derive(Serialize)]
struct Detail {
    frame: u64,
    src: String,
    dst: String,
    kind: String,
    numbers: String,
    raw_seq: Option<u32>,
    raw_ack: Option<u32>,
    note: String,
    payload_text: String,
    payload_hex: String,
    /// The IP and TCP/UDP header bytes with their fields (byte order).
    headers: String,
}

pub struct HtmlRender<W: Write> {
    out: W,
    first_ns: Option<i64>,
    details: Vec<Detail>,
    started: bool,
    /// The lab's name and question (demo), else "wirelab timeline".
    title: Option<String>,
    checks: Vec<crate::lab::Check>,
    /// Conversations whose two ends have been labelled.
    labelled: std::collections::BTreeSet<u64>,
}

impl<W: Write> HtmlRender<W> {
    pub fn new(out: W) -> HtmlRender<W> {
        HtmlRender {
            out,
            first_ns: None,
            details: Vec::new(),
            started: false,
            title: None,
            checks: Vec::new(),
            labelled: std::collections::BTreeSet::new(),
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let hash =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
        write!(
            self.out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'\">\n\
             <title>{title}</title><style>{STYLE}</style></head><body>\n\
             <h1>{title}</h1><p>Client on the left, server on the right. Click an arrow for the packet's fields and payload.</p>\n<div id=\"ladder\">\n",
            title = self.title.as_deref().map_or_else(|| "wirelab timeline".to_string(), html),
        )
    }
}

impl<W: Write> Render for HtmlRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        self.start()?;
        if self.details.len() as u64 >= MAX_PACKETS {
            return Err(too_large("html"));
        }
        let p = row.packet;
        let first = *self.first_ns.get_or_insert(p.ts_ns);
        let i = self.details.len();
        let class = match p.transport {
            Transport::Tcp(t) if t.flags.rst() => "rst",
            Transport::Tcp(t) if t.flags.syn() => "syn",
            Transport::Tcp(t) if t.flags.fin() => "fin",
            _ => "",
        };
        let (x1, x2) = match row.conn.map(|c| c.direction) {
            Some(Direction::ServerToClient) => (290, 10),
            _ => (10, 290),
        };
        let head = if x2 > x1 { x2 - 8 } else { x2 + 8 };
        if let Some(c) = row.conn.filter(|c| self.labelled.insert(c.id)) {
            // Over a new conversation's lifelines: which address is which side.
            writeln!(
                self.out,
                "<div class=\"ends\"><span class=\"f\"></span><span class=\"t\"></span><span class=\"c\">#{}</span>\
                 <svg width=\"300\" height=\"30\"><text x=\"2\" y=\"12\">client {}</text>\
                 <text x=\"298\" y=\"26\" text-anchor=\"end\">server {}</text></svg></div>",
                c.id,
                html(&c.client.to_string()),
                html(&c.server.to_string()),
            )?;
        }
        let label = format!("{} {}", kind_column(row), numbers_column(row, false));
        let states = match row.states {
            Some([c, s]) => format!("{c} / {s}"),
            None => String::new(),
        };
        writeln!(
            self.out,
            "<div class=\"row {class}\"><span class=\"f\">{}</span><span class=\"t\">{}</span><span class=\"c\">{}</span>\
             <svg width=\"300\" height=\"30\" data-i=\"{i}\"><line class=\"lifeline\" x1=\"10\" y1=\"0\" x2=\"10\" y2=\"30\"/>\
             <line class=\"lifeline\" x1=\"290\" y1=\"0\" x2=\"290\" y2=\"30\"/>\
             <line class=\"arrow\" x1=\"{x1}\" y1=\"22\" x2=\"{x2}\" y2=\"22\"/>\
             <polygon points=\"{x2},22 {head},18 {head},26\"/><text x=\"20\" y=\"14\">{}</text></svg>\
             <span class=\"st\">{}</span><span class=\"note\">{}</span></div>",
            p.frame,
            relative_time(p.ts_ns, first, false),
            row.conn.map(|c| format!("#{}", c.id)).unwrap_or_default(),
            html(&label),
            html(&states),
            html(&row.note),
        )?;
        let mut hex = String::new();
        for (n, b) in p.payload.iter().take(512).enumerate() {
            let _ = write!(hex, "{b:02x}{}", if n % 16 == 15 { "\n" } else { " " });
        }
        let (src, dst) = match row.conn {
            Some(c) => match c.direction {
                Direction::ClientToServer => (c.client.to_string(), c.server.to_string()),
                Direction::ServerToClient => (c.server.to_string(), c.client.to_string()),
            },
            None => (
                p.ip.map(|ip| ip.src.to_string()).unwrap_or_default(),
                p.ip.map(|ip| ip.dst.to_string()).unwrap_or_default(),
            ),
        };
        let (raw_seq, raw_ack) = match p.transport {
            Transport::Tcp(t) => (Some(t.seq.0), t.ack.map(|a| a.0)),
            _ => (None, None),
        };
        self.details.push(Detail {
            frame: p.frame,
            src,
            dst,
            kind: kind_column(row),
            numbers: numbers_column(row, true),
            raw_seq,
            raw_ack,
            note: row.note.clone(),
            payload_text: payload_column(row, 512),
            payload_hex: hex,
            headers: crate::render::hex::header_lines(p).join("\n"),
        });
        Ok(())
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        let (ts_ns, text) = (line.ts_ns(), crate::render::explain::line_text(line));
        let text = text.as_str();
        self.start()?;
        let first = *self.first_ns.get_or_insert(ts_ns);
        writeln!(
            self.out,
            "<div class=\"call\">{} {}</div>",
            relative_time(ts_ns, first, false),
            html(text)
        )
    }

    fn conn(&mut self, _summary: &ConnSummary) -> io::Result<()> {
        Ok(())
    }

    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        self.title = Some(format!("{name}: {question}"));
        Ok(())
    }

    fn checks(&mut self, checks: &[crate::lab::Check]) -> io::Result<()> {
        self.checks = checks.to_vec();
        Ok(())
    }

    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        self.start()?;
        let mut checks = String::new();
        if !self.checks.is_empty() {
            checks.push_str("<h2>What you should have seen</h2><ul id=\"checks\">");
            for c in &self.checks {
                let class = match c.passed {
                    Some(true) => "pass",
                    Some(false) => "fail",
                    None => "",
                };
                let _ = write!(
                    checks,
                    "<li class=\"{class}\">{}: {}{}</li>",
                    c.verdict(),
                    html(&c.what),
                    html(&c.detail_suffix())
                );
            }
            checks.push_str("</ul>\n");
        }
        let data = serde_json::to_string(&self.details).map_err(io::Error::other)?;
        // Inside <script>, "</script>" or "<!--" in a string would end the
        // element; JSON lets us write those characters as \u escapes.
        let data = data
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        write!(
            self.out,
            "</div>\n{checks}<p>{} packets.</p>\n<pre id=\"detail\">Click an arrow.</pre>\n\
             <script id=\"data\" type=\"application/json\">{data}</script>\n<script>{SCRIPT}</script>\n</body></html>\n",
            end.stats.packets
        )?;
        self.out.flush()
    }
}

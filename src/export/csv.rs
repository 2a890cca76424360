//! `--format csv`: one row per event, RFC 4180 quoting. A cell that a
//! spreadsheet would run as a formula (starting with = + - @, tab or CR)
//! gets a leading apostrophe, as OWASP recommends against CSV injection.

use std::io::{self, Write};

use crate::decode::Transport;
use crate::render::escape::escape_text;
use crate::render::explain::outcome;
use crate::render::{payload_column, relative_time, Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};

pub const HEADER: [&str; 17] = [
    "kind",
    "frame",
    "time",
    "conn",
    "client",
    "server",
    "direction",
    "proto",
    "flags",
    "seq",
    "ack",
    "len",
    "window",
    "client_state",
    "server_state",
    "note",
    "payload",
];

pub struct CsvRender<W: Write> {
    out: W,
    first_ns: Option<i64>,
    header_done: bool,
}

impl<W: Write> CsvRender<W> {
    pub fn new(out: W) -> CsvRender<W> {
        CsvRender {
            out,
            first_ns: None,
            header_done: false,
        }
    }

    fn row(&mut self, cells: &[String]) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
            self.row(&header)?;
        }
        let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
        self.out.write_all(line.join(",").as_bytes())?;
        self.out.write_all(b"\r\n")
    }
}

/// A state, empty when not known yet (rather than "-", which reads as a formula).
fn state_cell(state: crate::track::state::TcpState) -> String {
    match state {
        crate::track::state::TcpState::Unknown => String::new(),
        s => s.name().to_string(),
    }
}

/// One cell: neutralised if it looks like a formula, quoted if needed.
pub fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

impl<W: Write> Render for CsvRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        let p = row.packet;
        let first = *self.first_ns.get_or_insert(p.ts_ns);
        let (proto, flags, seq, ack, len, win) = match p.transport {
            Transport::Tcp(t) => (
                "tcp".to_string(),
                t.flags.to_string(),
                row.rel_seq.map(|s| s.to_string()).unwrap_or_default(),
                row.rel_ack.map(|a| a.to_string()).unwrap_or_default(),
                t.payload_len.to_string(),
                row.window_bytes()
                    .map(|w| w.to_string())
                    .unwrap_or_default(),
            ),
            Transport::Udp(u) => (
                "udp".into(),
                String::new(),
                String::new(),
                String::new(),
                u.payload_len.to_string(),
                String::new(),
            ),
            Transport::Icmp(i) => (
                if i.v6 { "icmpv6" } else { "icmp" }.into(),
                format!("{}/{}", i.icmp_type, i.code),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
            _ => (
                "other".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        let payload = payload_column(row, 64);
        let cells = vec![
            "packet".to_string(),
            p.frame.to_string(),
            relative_time(p.ts_ns, first, false),
            row.conn.map(|c| c.id.to_string()).unwrap_or_default(),
            row.conn
                .map(|c| c.client.to_string())
                .unwrap_or_else(|| p.ip.map(|i| i.src.to_string()).unwrap_or_default()),
            row.conn
                .map(|c| c.server.to_string())
                .unwrap_or_else(|| p.ip.map(|i| i.dst.to_string()).unwrap_or_default()),
            row.conn
                .map(|c| match c.direction {
                    crate::track::flow::Direction::ClientToServer => "c2s".to_string(),
                    crate::track::flow::Direction::ServerToClient => "s2c".to_string(),
                })
                .unwrap_or_default(),
            proto,
            flags,
            seq,
            ack,
            len,
            win,
            row.states.map(|s| state_cell(s[0])).unwrap_or_default(),
            row.states.map(|s| state_cell(s[1])).unwrap_or_default(),
            escape_text(&row.note).into_owned(),
            payload,
        ];
        self.row(&cells)
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        let (ts_ns, text) = (line.ts_ns(), crate::render::explain::line_text(line));
        let text = text.as_str();
        let first = *self.first_ns.get_or_insert(ts_ns);
        let mut cells = vec![String::new(); HEADER.len()];
        cells[0] = "call".into();
        cells[2] = relative_time(ts_ns, first, false);
        cells[15] = escape_text(text).into_owned();
        self.row(&cells)
    }

    fn conn(&mut self, s: &ConnSummary) -> io::Result<()> {
        let mut cells = vec![String::new(); HEADER.len()];
        cells[0] = "conn".into();
        cells[3] = s.conn.to_string();
        cells[4] = s.client.to_string();
        cells[5] = s.server.to_string();
        cells[7] = s.proto.to_string();
        cells[8] = s.conn_state.to_string();
        cells[13] = s.client_state.unwrap_or("").to_string();
        cells[14] = s.server_state.unwrap_or("").to_string();
        cells[15] = format!("{} (history {})", outcome(s), s.history);
        self.row(&cells)
    }

    fn finish(&mut self, _end: &RunEnd) -> io::Result<()> {
        if !self.header_done {
            self.row(&[])?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("-cmd"), "'-cmd");
        assert_eq!(cell("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(cell("plain"), "plain");
    }
}

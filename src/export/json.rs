//! `--format json`: JSON Lines, one object per event.
//!
//! The schema is documented in docs/json-schema.md and kept stable: packet
//! events are `{"kind":"packet",...}`, conversation summaries
//! `{"kind":"conn",...}`; fields that do not apply are left out.
//! serde_json escapes control characters in strings; notes never carry raw
//! payload and the payload preview is escaped before it gets here.

mod call;

use std::io::{self, Write};

use serde::Serialize;

use crate::decode::Transport;
use crate::render::{payload_text, Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};

#[derive(Serialize)]
struct PacketJson<'r> {
    kind: &'static str,
    frame: u64,
    ts_ns: i64,
    // serde writes addresses as text without allocating.
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst: Option<std::net::IpAddr>,
    proto: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_flags: Option<FlagNames>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rel_seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rel_ack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    win: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    win_scale: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dir: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_state: Option<&'static str>,
    wire_len: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issue: Option<String>,
    // `events` and `note` follow, written by `JsonRender::packet`.
}

/// A row's events as a JSON array of `{"code":..., fields, "basis":...}`.
/// TCP flags as a JSON array of names, e.g. `["SYN","ACK"]`.
struct FlagNames(crate::decode::tcp::TcpFlags);

impl Serialize for FlagNames {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.names())
    }
}

#[derive(Serialize)]
struct ConnJson<'s> {
    kind: &'static str,
    #[serde(flatten)]
    summary: &'s ConnSummary,
    /// The conversation's end in words (render::explain).
    outcome: String,
}

#[derive(Serialize)]
struct EndJson {
    kind: &'static str,
    packets: u64,
    conversations: u64,
    evicted_early: u64,
    undecodable: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_received: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_dropped_kernel: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pcap_dropped_interface: Option<u32>,
}

pub struct JsonRender<W: Write> {
    out: W,
    /// Write packet events (false for `--summary`).
    rows: bool,
    /// Encoded lines not yet handed to `out`.
    line: Vec<u8>,
    /// Hand lines to `out` in blocks of this many bytes (0: each line at
    /// once, for a live view). A block at least as large as the output's
    /// BufWriter goes straight to the file, saving one copy of every byte.
    batch: usize,
    /// Packet rows also carry their header bytes and payload in hex (the
    /// classroom view's detail pane: `--web`, `--format html`).
    bytes: bool,
}

/// The block size for [`JsonRender::batched`]: the output BufWriter's capacity.
pub const BATCH: usize = 1 << 16;

impl<W: Write> JsonRender<W> {
    pub fn new(out: W, rows: bool) -> JsonRender<W> {
        JsonRender {
            out,
            rows,
            line: Vec::new(),
            batch: 0,
            bytes: false,
        }
    }

    /// Packet rows carry `headers` (the `--hex` lines) and `payload_hex`.
    pub fn with_bytes(mut self) -> JsonRender<W> {
        self.bytes = true;
        self
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Lines are written in blocks of [`BATCH`] bytes (a replay, not a live view).
    pub fn batched(mut self) -> JsonRender<W> {
        self.batch = BATCH;
        self.line.reserve(BATCH + 4096);
        self
    }

    /// One line was appended to `line`: pass it on when the block is full.
    fn line_done(&mut self) -> io::Result<()> {
        self.line.push(b'\n');
        if self.line.len() >= self.batch {
            self.out.write_all(&self.line)?;
            self.line.clear();
        }
        Ok(())
    }
}

/// The first [`HEX_BYTES`] bytes of a payload, 16 to a line.
fn payload_hex(payload: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(payload.len().min(HEX_BYTES) * 3);
    for (n, b) in payload.iter().take(HEX_BYTES).enumerate() {
        let _ = write!(hex, "{b:02x}{}", if n % 16 == 15 { "\n" } else { " " });
    }
    hex.truncate(hex.trim_end().len());
    hex
}

/// How much of a payload the detail pane shows in hex.
const HEX_BYTES: usize = 512;

fn to_io(e: serde_json::Error) -> io::Error {
    io::Error::other(e)
}

impl<W: Write> Render for JsonRender<W> {
    fn wants_notes(&self) -> bool {
        self.rows
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        if !self.rows {
            return Ok(());
        }
        let p = row.packet;
        let mut j = PacketJson {
            kind: "packet",
            frame: p.frame,
            ts_ns: p.ts_ns,
            src: p.ip.map(|ip| ip.src),
            dst: p.ip.map(|ip| ip.dst),
            proto: "other",
            sport: None,
            dport: None,
            tcp_flags: None,
            seq: None,
            ack: None,
            rel_seq: row.rel_seq,
            rel_ack: row.rel_ack,
            win: None,
            win_scale: row.window_scale,
            len: None,
            icmp_type: None,
            icmp_code: None,
            conn: row.conn.map(|c| c.id),
            dir: row.conn.map(|c| match c.direction {
                crate::track::flow::Direction::ClientToServer => "c2s",
                crate::track::flow::Direction::ServerToClient => "s2c",
            }),
            client_state: row.states.map(|s| s[0].name()),
            server_state: row.states.map(|s| s[1].name()),
            wire_len: p.wire_len,
            truncated: p.truncated,
            payload: None,
            issue: p.issue.as_ref().map(|i| i.to_string()),
        };
        match &p.transport {
            Transport::Tcp(t) => {
                j.proto = "tcp";
                j.sport = Some(t.src_port);
                j.dport = Some(t.dst_port);
                j.tcp_flags = Some(FlagNames(t.flags));
                j.seq = Some(t.seq.0);
                j.ack = t.ack.map(|a| a.0);
                j.win = Some(t.window);
                j.len = Some(t.payload_len);
            }
            Transport::Udp(u) => {
                j.proto = "udp";
                j.sport = Some(u.src_port);
                j.dport = Some(u.dst_port);
                j.len = Some(u.payload_len);
            }
            Transport::Icmp(i) => {
                j.proto = if i.v6 { "icmpv6" } else { "icmp" };
                j.icmp_type = Some(i.icmp_type);
                j.icmp_code = Some(i.code);
            }
            Transport::Other { .. } | Transport::None => {}
        }
        let payload = payload_text(row, 64);
        if !payload.is_empty() {
            j.payload = Some(&payload);
        }
        serde_json::to_writer(&mut self.line, &j).map_err(to_io)?;
        // What tracking found (schema version 2, see track::event), written
        // by hand (see Event::write_json), then the sentence.
        self.line.pop(); // the object's `}`
        self.line.extend_from_slice(b",\"events\":[");
        for (i, event) in row.events.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            event.write_json(&mut self.line);
        }
        self.line.push(b']');
        if self.bytes {
            self.line.extend_from_slice(b",\"headers\":");
            let headers = crate::render::hex::header_lines(p);
            serde_json::to_writer(&mut self.line, &headers).map_err(to_io)?;
            self.line.extend_from_slice(b",\"payload_hex\":");
            serde_json::to_writer(&mut self.line, &payload_hex(p.payload)).map_err(to_io)?;
        }
        self.line.extend_from_slice(b",\"note\":");
        serde_json::to_writer(&mut self.line, row.note.as_str()).map_err(to_io)?;
        self.line.push(b'}');
        self.line_done()
    }

    fn call(&mut self, line: &crate::call::Line) -> io::Result<()> {
        if !self.rows {
            return Ok(());
        }
        let j = call::LineJson::new(line);
        serde_json::to_writer(&mut self.line, &j).map_err(to_io)?;
        self.line_done()
    }

    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        serde_json::to_writer(
            &mut self.line,
            &ConnJson {
                kind: "conn",
                summary,
                outcome: crate::render::explain::outcome(summary),
            },
        )
        .map_err(to_io)?;
        self.line_done()
    }

    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        let e = EndJson {
            kind: "end",
            packets: end.stats.packets,
            conversations: end.stats.conversations,
            evicted_early: end.stats.evicted_early,
            undecodable: end.stats.undecodable,
            pcap_received: end.drops.map(|d| d.0),
            pcap_dropped_kernel: end.drops.map(|d| d.1),
            pcap_dropped_interface: end.drops.map(|d| d.2),
        };
        serde_json::to_writer(&mut self.line, &e).map_err(to_io)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.line.clear();
        self.out.flush()
    }
}

/// `{"kind":"lab",...}`: the lab a demo's timeline is (before its rows).
pub fn lab_line(name: &str, question: &str) -> String {
    serde_json::json!({"kind": "lab", "name": name, "question": question}).to_string()
}

/// `{"kind":"check",...}`: one of a lab's checks, as judged.
pub fn check_line(lab: &str, check: &crate::lab::Check) -> String {
    serde_json::json!({
        "kind": "check",
        "lab": lab,
        "what": check.what,
        "passed": check.passed,
        "detail": check.detail,
    })
    .to_string()
}

//! `--format json`: JSON Lines, one object per event.
//!
//! The schema is documented in docs/json-schema.md and kept stable: packet
//! events are `{"kind":"packet",...}`, conversation summaries
//! `{"kind":"conn",...}`; fields that do not apply are left out.
//! serde_json escapes control characters in strings; notes never carry raw
//! payload and the payload preview is escaped before it gets here.

mod call;
pub mod out;

use std::io::{self, Write};

use serde::Serialize;

use self::out::{key, IpCache, JsonOut};
use crate::decode::Transport;
use crate::render::{push_payload_text, Render, RowWriter, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};

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
    cache: RowCache,
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
            cache: RowCache::default(),
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

/// `rel_seq` and `rel_ack`, where the schema places them for every protocol.
fn relative(o: &mut JsonOut<'_>, row: &PacketRow<'_, '_>) {
    o.some(key!("rel_seq"), row.rel_seq);
    o.some(key!("rel_ack"), row.rel_ack);
}

/// One packet row as a JSON object (no newline) appended to `line`;
/// `bytes`: with its header bytes and payload in hex.
fn write_packet(
    row: &PacketRow<'_, '_>,
    bytes: bool,
    cache: &mut RowCache,
    line: &mut Vec<u8>,
) -> io::Result<()> {
    let RowCache { ips, scratch } = cache;
    let p = row.packet;
    // The fields of docs/json-schema.md in order; a field that does not
    // apply is left out.
    line.extend_from_slice(b"{\"kind\":\"packet\"");
    let mut o = JsonOut(line);
    o.num(key!("frame"), p.frame);
    o.num(key!("ts_ns"), p.ts_ns);
    if let Some(ip) = p.ip {
        o.ip_cached(key!("src"), ip.src, ips);
        o.ip_cached(key!("dst"), ip.dst, ips);
    }
    match &p.transport {
        Transport::Tcp(t) => {
            o.name(key!("proto"), "tcp");
            o.num(key!("sport"), t.src_port);
            o.num(key!("dport"), t.dst_port);
            o.key(key!("tcp_flags"));
            o.0.extend_from_slice(t.flags.json_names().as_bytes());
            o.num(key!("seq"), t.seq.0);
            o.some(key!("ack"), t.ack.map(|a| a.0));
            relative(&mut o, row);
            o.num(key!("win"), t.window);
            o.some(key!("win_scale"), row.window_scale);
            o.num(key!("len"), t.payload_len);
        }
        Transport::Udp(u) => {
            o.name(key!("proto"), "udp");
            o.num(key!("sport"), u.src_port);
            o.num(key!("dport"), u.dst_port);
            relative(&mut o, row);
            o.some(key!("win_scale"), row.window_scale);
            o.num(key!("len"), u.payload_len);
        }
        Transport::Icmp(i) => {
            o.name(key!("proto"), if i.v6 { "icmpv6" } else { "icmp" });
            relative(&mut o, row);
            o.some(key!("win_scale"), row.window_scale);
            o.num(key!("icmp_type"), i.icmp_type);
            o.num(key!("icmp_code"), i.code);
        }
        Transport::Other { .. } | Transport::None => {
            o.name(key!("proto"), "other");
            relative(&mut o, row);
            o.some(key!("win_scale"), row.window_scale);
        }
    }
    if let Some(c) = row.conn {
        o.num(key!("conn"), c.id);
        o.name(
            key!("dir"),
            match c.direction {
                crate::track::flow::Direction::ClientToServer => "c2s",
                crate::track::flow::Direction::ServerToClient => "s2c",
            },
        );
    }
    if let Some([client, server]) = row.states {
        o.name(key!("client_state"), client.name());
        o.name(key!("server_state"), server.name());
    }
    o.num(key!("wire_len"), p.wire_len);
    if p.truncated {
        o.flag(key!("truncated"), true);
    }
    scratch.clear();
    push_payload_text(scratch, row, 64);
    if !scratch.is_empty() {
        o.text(key!("payload"), scratch);
    }
    if let Some(issue) = &p.issue {
        o.text(key!("issue"), &issue.to_string());
    }
    line.extend_from_slice(b",\"events\":[");
    for (i, event) in row.events.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        event.write_json(line);
    }
    line.push(b']');
    if bytes {
        line.extend_from_slice(b",\"headers\":");
        let headers = crate::render::hex::header_lines(p);
        serde_json::to_writer(&mut *line, &headers).map_err(to_io)?;
        line.extend_from_slice(b",\"payload_hex\":");
        serde_json::to_writer(&mut *line, &payload_hex(p.payload)).map_err(to_io)?;
    }
    JsonOut(line).text(key!("note"), &row.note);
    line.push(b'}');
    Ok(())
}

/// [`write_packet`] for another thread (see [`RowWriter`]): a JSON row
/// depends on nothing but its own packet.
struct JsonRows {
    bytes: bool,
    cache: RowCache,
}

/// What writing lines reuses from line to line: the addresses' text, and a
/// buffer for a payload's preview or a conversation's outcome (no
/// allocation per line).
#[derive(Debug, Default)]
struct RowCache {
    ips: IpCache,
    scratch: String,
}

impl RowWriter for JsonRows {
    fn write_row(
        &mut self,
        row: &PacketRow<'_, '_>,
        _first_ns: i64,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        write_packet(row, self.bytes, &mut self.cache, out)
    }
}

impl<W: Write> Render for JsonRender<W> {
    fn wants_notes(&self) -> bool {
        self.rows
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        if !self.rows {
            return Ok(());
        }
        write_packet(row, self.bytes, &mut self.cache, &mut self.line)?;
        self.line_done()
    }

    fn row_writer(&self) -> Option<Box<dyn RowWriter>> {
        self.rows.then(|| {
            Box::new(JsonRows {
                bytes: self.bytes,
                cache: RowCache::default(),
            }) as Box<dyn RowWriter>
        })
    }

    fn packet_written(&mut self, _ts_ns: i64, bytes: &[u8]) -> io::Result<()> {
        self.line.extend_from_slice(bytes);
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
        let s = summary;
        self.line.extend_from_slice(b"{\"kind\":\"conn\"");
        let mut o = JsonOut(&mut self.line);
        o.num(key!("conn"), s.conn);
        o.name(key!("proto"), s.proto);
        o.socket(key!("client"), s.client);
        o.socket(key!("server"), s.server);
        o.num(key!("first_ns"), s.first_ns);
        o.num(key!("last_ns"), s.last_ns);
        o.num(key!("packets_client"), s.packets_client);
        o.num(key!("packets_server"), s.packets_server);
        o.num(key!("bytes_client"), s.bytes_client);
        o.num(key!("bytes_server"), s.bytes_server);
        o.name(key!("conn_state"), s.conn_state);
        o.text(key!("history"), &s.history);
        if let Some(state) = s.client_state {
            o.name(key!("client_state"), state);
        }
        if let Some(state) = s.server_state {
            o.name(key!("server_state"), state);
        }
        o.flag(key!("evicted"), s.evicted);
        o.some(key!("reused_by"), s.reused_by);
        let scratch = &mut self.cache.scratch;
        scratch.clear();
        crate::render::explain::write_outcome(s, scratch);
        JsonOut(&mut self.line).text(key!("outcome"), scratch);
        self.line.push(b'}');
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

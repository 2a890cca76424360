//! One conversation only: `--conn N` (its rows in any format) and
//! `--follow N` (its bytes both ways, as tshark's `-z follow,tcp`).
//!
//! `--follow` shows where TCP's byte stream loses message boundaries: each
//! segment's bytes with their offsets in the sender's stream, and, when the
//! calls are known (demo, trace, `--capture`), each send() and recv() with
//! the bytes it moved. Two sends can arrive in one segment, and one recv()
//! can return both.

use std::io::{self, Write};
use std::net::SocketAddr;

use super::escape::{escape_text, preview};
use super::{plural, push_relative_time, Render, RunEnd};
use crate::call::{Line, Outcome};
use crate::decode::Transport;
use crate::timeline::{ConnRef, ConnSummary, PacketRow};

/// The two ends of conversation `id`, once its first packet was seen.
#[derive(Debug, Clone, Copy)]
struct Ends {
    client: SocketAddr,
    server: SocketAddr,
}

impl Ends {
    fn of(conn: &ConnRef) -> Ends {
        Ends {
            client: conn.client,
            server: conn.server,
        }
    }

    /// 0 when a call on a socket at `local` is the client's, 1 the server's.
    fn side(&self, local: Option<SocketAddr>, remote: Option<SocketAddr>) -> Option<usize> {
        match (local, remote) {
            (Some(l), r) if l == self.client && r.is_none_or(|r| r == self.server) => Some(0),
            (Some(l), r) if l == self.server && r.is_none_or(|r| r == self.client) => Some(1),
            _ => None,
        }
    }
}

/// Whether `line` concerns the conversation: a call on one of its sockets,
/// the kernel's event about it; steps and notes always.
fn concerns(line: &Line, id: u64, ends: Option<Ends>) -> bool {
    match line {
        Line::Call(call) => ends.is_some_and(|e| e.side(call.local, call.remote).is_some()),
        Line::Kernel(k) => k.conn == Some(id),
        Line::Step { .. } | Line::Note { .. } => true,
    }
}

/// `--conn N`: passes on only conversation N's rows, calls and summary.
pub struct OneConn<'r> {
    pub inner: Box<dyn Render + 'r>,
    pub id: u64,
    ends: Option<Ends>,
}

impl<'r> OneConn<'r> {
    pub fn new(inner: Box<dyn Render + 'r>, id: u64) -> OneConn<'r> {
        OneConn {
            inner,
            id,
            ends: None,
        }
    }
}

impl Render for OneConn<'_> {
    fn wants_notes(&self) -> bool {
        self.inner.wants_notes()
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        match row.conn {
            Some(c) if c.id == self.id => {
                self.ends.get_or_insert_with(|| Ends::of(&c));
                self.inner.packet(row)
            }
            _ => Ok(()),
        }
    }
    fn call(&mut self, line: &Line) -> io::Result<()> {
        if concerns(line, self.id, self.ends) {
            self.inner.call(line)?;
        }
        Ok(())
    }
    fn conn(&mut self, summary: &ConnSummary) -> io::Result<()> {
        if summary.conn == self.id {
            self.inner.conn(summary)?;
        }
        Ok(())
    }
    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        self.inner.finish(end)
    }
}

/// `--follow N`: conversation N's bytes, segment by segment.
pub struct FollowRender<W: Write> {
    out: W,
    id: u64,
    ends: Option<Ends>,
    first_ns: Option<i64>,
    /// Payload bytes seen each way (client's, server's), and segments.
    bytes: [u64; 2],
    segments: [u64; 2],
    /// Bytes each side's send() calls handed over and recv() calls returned.
    sent: [u64; 2],
    received: [u64; 2],
    datagrams: bool,
    line: String,
}

impl<W: Write> FollowRender<W> {
    pub fn new(out: W, id: u64) -> FollowRender<W> {
        FollowRender {
            out,
            id,
            ends: None,
            first_ns: None,
            bytes: [0; 2],
            segments: [0; 2],
            sent: [0; 2],
            received: [0; 2],
            datagrams: false,
            line: String::new(),
        }
    }
}

const WHO: [&str; 2] = ["client", "server"];

impl<W: Write> Render for FollowRender<W> {
    fn wants_notes(&self) -> bool {
        false
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        let first = *self.first_ns.get_or_insert(row.packet.ts_ns);
        let Some(conn) = row.conn.filter(|c| c.id == self.id) else {
            return Ok(());
        };
        if self.ends.is_none() {
            self.ends = Some(Ends::of(&conn));
            self.datagrams = conn.proto == crate::track::flow::Proto::Udp;
            writeln!(
                self.out,
                "conversation {} ({}): client {} <-> server {}",
                self.id,
                conn.proto.name(),
                conn.client,
                conn.server
            )?;
        }
        let from = conn.direction.sender();
        let flags = match row.packet.transport {
            Transport::Tcp(t) if t.flags.fin() => Some("FIN"),
            Transport::Tcp(t) if t.flags.rst() => Some("RST"),
            _ => None,
        };
        let len = row.packet.payload.len() as u64;
        if len == 0 && flags.is_none() {
            return Ok(());
        }
        let line = &mut self.line;
        line.clear();
        line.push_str("  frame ");
        super::push_int(line, row.packet.frame);
        line.push_str("  ");
        push_relative_time(line, row.packet.ts_ns, first, false);
        line.push_str("  ");
        line.push_str(WHO[from]);
        line.push_str(if from == 0 {
            " -> server  "
        } else {
            " -> client  "
        });
        if len > 0 {
            // Offsets in the sender's byte stream: the relative sequence
            // number for TCP (1 is the first byte), a running count for UDP.
            let start = row
                .rel_seq
                .map_or(self.bytes[from] + 1, |s| u64::from(s.max(1)));
            line.push_str("bytes ");
            super::push_int(line, start);
            line.push('-');
            super::push_int(line, start + len - 1);
            line.push_str(" (");
            super::push_int(line, len);
            line.push_str(plural(len, " byte)  ", " bytes)  "));
            line.push('"');
            line.push_str(&preview(
                row.carry_in.as_slice(),
                row.packet.payload,
                1 << 20,
            ));
            line.push('"');
            self.bytes[from] += len;
            self.segments[from] += 1;
        }
        if let Some(flag) = flags {
            if len > 0 {
                line.push_str("  ");
            }
            line.push_str(flag);
        }
        writeln!(self.out, "{}", escape_text(line))
    }
    fn call(&mut self, line: &Line) -> io::Result<()> {
        let (Some(ends), Line::Call(call)) = (self.ends, line) else {
            return Ok(());
        };
        let Some(side) = ends.side(call.local, call.remote) else {
            return Ok(());
        };
        let (Outcome::Ok(returned), true) = (&call.outcome, call.op.sends() || call.op.receives())
        else {
            return Ok(());
        };
        let moved = returned.value.unwrap_or(0).max(0) as u64;
        let (verb, done) = if call.op.sends() {
            ("handed over", &mut self.sent[side])
        } else {
            ("returned", &mut self.received[side])
        };
        let text = if moved == 0 {
            format!("    {} {}() {verb} 0 bytes", WHO[side], call.op.name())
        } else {
            format!(
                "    {} {}() {verb} bytes {}-{} ({moved})",
                WHO[side],
                call.op.name(),
                *done + 1,
                *done + moved
            )
        };
        *done += moved;
        writeln!(self.out, "{}", escape_text(&text))
    }
    fn conn(&mut self, _summary: &ConnSummary) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, end: &RunEnd) -> io::Result<()> {
        if self.ends.is_none() {
            writeln!(
                self.out,
                "no conversation {} here: there are {} (numbered from 1, as in the conn column)",
                self.id, end.stats.conversations
            )?;
        } else {
            for ((who, bytes), segments) in WHO.iter().zip(self.bytes).zip(self.segments) {
                writeln!(
                    self.out,
                    "{who} sent {bytes} {} in {segments} {}",
                    plural(bytes, "byte", "bytes"),
                    if self.datagrams {
                        plural(segments, "datagram", "datagrams")
                    } else {
                        plural(segments, "segment", "segments")
                    },
                )?;
            }
        }
        self.out.flush()
    }
}

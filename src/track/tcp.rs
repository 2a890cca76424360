//! TCP: roles, relative sequence numbers, endpoint states and explanations.
//!
//! Both endpoints are followed from what crosses the wire. A segment changes
//! its sender's state when sent and its receiver's when received; on
//! loopback the two happen together, so each row shows both states after
//! the segment. Explanations follow what Linux does (see LABS.md): three
//! kinds of RST, FIN meaning "no more data from me", TIME-WAIT held by the
//! side that closed first.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::flow::Direction;
use super::note::Note;
use super::state::TcpState;
use super::{Conversation, Kind};
use crate::decode::tcp::{SeqNum, TcpSegment};
use crate::decode::Packet;
use crate::timeline::{PacketRow, Utf8Carry};

/// One side of a TCP connection as seen on the wire.
#[derive(Debug, Default, Clone)]
pub struct Endpoint {
    pub state: TcpState,
    /// Base for relative numbers: the ISN, or one less than the first
    /// sequence number seen when the SYN was not captured (as Wireshark).
    base: Option<SeqNum>,
    /// Sequence number of this side's SYN, to tell a retransmission from a new connection.
    syn_seq: Option<SeqNum>,
    syn_count: u32,
    first_syn_ns: i64,
    window_scale: Option<u8>,
    /// One past the highest sequence number this side has sent.
    next_seq: Option<SeqNum>,
    /// Sequence number of this side's FIN, once sent.
    fin_seq: Option<SeqNum>,
    fin_acked: bool,
    /// Last acknowledgment and window this side sent, for duplicate ACKs and window updates.
    last_ack: Option<SeqNum>,
    last_window: u16,
    dup_acks: u32,
    /// A UTF-8 character cut at the end of this side's last in-order segment.
    carry: Utf8Carry,
    sent_rst: bool,
}

impl Endpoint {
    /// This side's first SYN (or SYN-ACK): remember it to recognise
    /// retransmissions, and its window scale offer.
    fn record_syn(&mut self, seg: &TcpSegment, ts_ns: i64, state: TcpState) {
        self.syn_seq = Some(seg.seq);
        self.syn_count = 1;
        self.first_syn_ns = ts_ns;
        self.window_scale = seg.options.window_scale;
        self.state = state;
    }
}

#[derive(Debug, Default)]
pub struct TcpConversation {
    /// Client (0) and server (1).
    pub ends: [Endpoint; 2],
    /// The side that sent the first FIN: it will hold TIME-WAIT.
    pub first_closer: Option<Direction>,
    /// True once the handshake completed or data flowed both ways.
    pub established: bool,
    /// The SYN was answered by RST.
    pub refused: bool,
    pub retransmissions: u32,
}

impl TcpConversation {
    pub fn is_finished(&self) -> bool {
        self.refused
            || self.ends.iter().any(|e| e.sent_rst)
            || self.ends.iter().all(|e| e.state.is_finished())
    }

    /// Would a SYN from this side with this ISN start a new connection on
    /// the same 4-tuple (rather than repeat the last SYN)?
    pub fn is_new_syn(&self, from_client: bool, seq: SeqNum) -> bool {
        let end = &self.ends[usize::from(!from_client)];
        match end.syn_seq {
            Some(s) if s == seq => false,
            Some(_) => true,
            // This side never sent a SYN: a new connection only if the
            // existing one is over.
            None => self.is_finished(),
        }
    }

    pub fn sent_rst(&self, side: usize) -> bool {
        self.ends[side].sent_rst
    }

    pub fn sent_fin(&self, side: usize) -> bool {
        self.ends[side].fin_seq.is_some()
    }

    pub fn saw_syn(&self, side: usize) -> bool {
        self.ends[side].syn_seq.is_some()
    }
}

/// Who is client and who is server for a new conversation: the SYN's
/// sender is the client, a SYN-ACK's sender the server; otherwise (the
/// capture began mid-connection) the lower port is taken as the listening one.
pub fn roles(src: SocketAddr, dst: SocketAddr, seg: &TcpSegment) -> (SocketAddr, SocketAddr) {
    if seg.flags.syn() {
        if seg.flags.ack() {
            (dst, src)
        } else {
            (src, dst)
        }
    } else if src.port() < dst.port() {
        (dst, src)
    } else {
        (src, dst)
    }
}

/// Both endpoints, the sender's first.
fn split(ends: &mut [Endpoint; 2], sender: usize) -> (&mut Endpoint, &mut Endpoint) {
    let [client, server] = ends;
    if sender == 0 {
        (client, server)
    } else {
        (server, client)
    }
}

/// History letters seen in one segment, kept without allocating (a
/// segment adds at most a handful).
#[derive(Default)]
struct Letters {
    letters: [char; 8],
    len: usize,
}

impl Letters {
    fn push(&mut self, letter: char) {
        if let Some(slot) = self.letters.get_mut(self.len) {
            *slot = letter;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[char] {
        &self.letters[..self.len]
    }
}

pub fn track_segment(
    conv: &mut Conversation,
    direction: Direction,
    seg: &TcpSegment,
    packet: &Packet<'_>,
    row: &mut PacketRow<'_, '_>,
    explain: bool,
) {
    let Kind::Tcp(tcp) = &mut conv.kind else {
        return;
    };
    let me = direction.sender_role();
    let peer = direction.receiver_role();
    let sender = direction.sender();
    let server_port = conv.server.port();
    let server_addr = conv.server;
    let flags = seg.flags;
    let mut note = Note::new(std::mem::take(&mut row.note), explain);
    let mut letters = Letters::default();

    let (snd, rcv) = split(&mut tcp.ends, sender);
    if snd.base.is_none() {
        snd.base = Some(if flags.syn() {
            seg.seq
        } else {
            seg.seq.wrapping_add(u32::MAX)
        });
    }
    if let (Some(ack), None) = (seg.ack, rcv.base) {
        rcv.base = Some(ack.wrapping_add(u32::MAX));
    }
    let rel_seq = snd.base.map(|b| seg.seq.since(b));
    let rel_ack = seg.ack.and_then(|a| rcv.base.map(|b| a.since(b)));
    row.rel_seq = rel_seq;
    row.rel_ack = rel_ack;
    let rel_end = rel_seq.unwrap_or(0).wrapping_add(seg.payload_len);

    if flags.syn() && !flags.ack() {
        letters.push('s');
        if snd.syn_seq == Some(seg.seq) {
            snd.syn_count += 1;
            tcp.retransmissions += 1;
            letters.push('t');
            let waited = (packet.ts_ns - snd.first_syn_ns) as f64 / 1e9;
            let _ = write!(
                note,
                "SYN retransmitted (try {}, {waited:.1} s after the first): no SYN-ACK came back; the server's \
                 listen backlog may be full (the kernel then drops SYNs silently) or nothing answers at all; \
                 connect() keeps waiting and retrying",
                snd.syn_count
            );
        } else {
            snd.record_syn(seg, packet.ts_ns, TcpState::SynSent);
            let _ = write!(
                note,
                "handshake 1/3: the {me} asks to open a connection (connect()); its ISN is {}",
                seg.seq.0
            );
            if let Some(mss) = seg.options.mss {
                let _ = write!(note, ", MSS {mss}");
            }
            if let Some(ws) = seg.options.window_scale {
                let _ = write!(note, ", window scale {ws}");
            }
        }
    } else if flags.syn() && flags.ack() && !flags.rst() {
        letters.push('h');
        if snd.syn_seq == Some(seg.seq) {
            snd.syn_count += 1;
            tcp.retransmissions += 1;
            letters.push('t');
            note.push_str(
                "SYN-ACK retransmitted: the server's SYN-ACK has not been acknowledged yet",
            );
        } else {
            snd.record_syn(seg, packet.ts_ns, TcpState::SynReceived);
            if rcv.state == TcpState::SynSent || rcv.state == TcpState::Unknown {
                rcv.state = TcpState::Established;
            }
            let _ = write!(
                note,
                "handshake 2/3: a socket listens on port {server_port}, so the {me}'s kernel accepts: it \
                 acknowledges the {peer}'s SYN (ack = ISN+1) and sends its own ISN {}",
                seg.seq.0
            );
            if let Some(mss) = seg.options.mss {
                let _ = write!(note, ", MSS {mss}");
            }
        }
    } else if flags.rst() {
        letters.push('r');
        snd.sent_rst = true;
        let refused = rcv.syn_seq.is_some() && snd.syn_seq.is_none() && !tcp.established;
        if refused && direction == Direction::ServerToClient {
            tcp.refused = true;
            let _ = write!(
                note,
                "connection refused: nothing listens on {server_addr}, so the kernel answers the SYN with RST; \
                 connect() fails at once with ECONNREFUSED"
            );
        } else if !flags.ack() {
            let _ = write!(
                note,
                "reset from a socket that is already closed: the {me} side no longer has this connection (closed, \
                 or only a FIN-WAIT-2/TIME-WAIT remnant), so it answers the {peer}'s segment with RST; the \
                 {peer}'s next call fails with ECONNRESET or EPIPE"
            );
        } else {
            let _ = write!(
                note,
                "abortive close by the {me}: its socket was closed with SO_LINGER 0 or with unread data, so the \
                 kernel drops the connection with RST instead of FIN; no TIME-WAIT, and the {peer}'s next \
                 recv()/send() fails with ECONNRESET"
            );
        }
        snd.state = TcpState::Closed;
        rcv.state = TcpState::Closed;
    }

    // Handshake step 3: the client's ACK of the server's SYN.
    if !flags.syn() && !flags.rst() {
        if let Some(ack) = seg.ack {
            if rcv.state == TcpState::SynReceived
                && rcv.syn_seq.is_some_and(|s| ack == s.wrapping_add(1))
            {
                rcv.state = TcpState::Established;
                if snd.state == TcpState::SynSent || snd.state == TcpState::Unknown {
                    snd.state = TcpState::Established;
                }
                tcp.established = true;
                note.say(format_args!(
                        "handshake 3/3: the {me} acknowledges the {peer}'s SYN; both sides are ESTABLISHED \
                         (connect() has returned; the connection waits in the server's queue for accept())"
                    ),
                );
            }
        }
    }
    if !flags.syn() && snd.state == TcpState::Unknown {
        // Mid-connection capture: assume the connection was open.
        snd.state = TcpState::Established;
        if rcv.state == TcpState::Unknown {
            rcv.state = TcpState::Established;
        }
        tcp.established = true;
    }

    // Data.
    if seg.payload_len > 0 && !flags.rst() {
        letters.push('d');
        let expected = snd.next_seq;
        let end = seg.seq.wrapping_add(seg.payload_len);
        let in_order = expected.is_none_or(|e| seg.seq == e);
        if expected
            .is_some_and(|e| seg.payload_len <= 1 && seg.seq.wrapping_add(1) == e && !flags.fin())
        {
            note.say(format_args!(
                    "keep-alive probe: the {me} re-sends its last byte to check that the {peer} is still there"
                ),
            );
        } else if expected.is_some_and(|e| end <= e) {
            tcp.retransmissions += 1;
            letters.push('t');
            note.say(format_args!(
                    "retransmission of the {me}'s bytes {}-{}: the first copy was not acknowledged in time",
                    rel_seq.unwrap_or(0),
                    rel_end.wrapping_sub(1)
                ),
            );
        } else if let Some(e) = expected.filter(|e| seg.seq > *e) {
            note.say(format_args!(
                    "out of order: {} bytes before this segment are missing (not captured, or they arrive later)",
                    seg.seq.since(e)
                ),
            );
        } else if expected.is_some_and(|e| seg.seq < e) {
            tcp.retransmissions += 1;
            letters.push('t');
            note.say(
                "partial retransmission: part of these bytes was sent before, the rest is new",
            );
        } else {
            let first = rel_seq.unwrap_or(0);
            note.say(format_args!(
                "{} bytes of data from the {me} (bytes {first}-{} of its stream)",
                seg.payload_len,
                rel_end.wrapping_sub(1)
            ));
        }
        if in_order {
            row.carry_in = snd.carry;
            snd.carry = if packet.payload.len() as u32 == seg.payload_len {
                Utf8Carry::trailing(packet.payload)
            } else {
                Utf8Carry::default()
            };
        }
    }

    // What the acknowledgment says.
    if let (Some(ack), false) = (seg.ack, flags.rst()) {
        if let Some(fin) = rcv.fin_seq {
            if !rcv.fin_acked && ack > fin {
                rcv.fin_acked = true;
                let (before, after) = (rcv.state, ack_fin(rcv.state));
                rcv.state = after;
                let text = match after {
                    TcpState::FinWait2 => format!(
                        "ACK of the {peer}'s FIN: the {peer} is in FIN-WAIT-2, waiting for the {me} to close too"
                    ),
                    TcpState::TimeWait => format!(
                        "ACK of the {peer}'s FIN: the {peer} enters TIME-WAIT and keeps the port busy for 60 s"
                    ),
                    TcpState::Closed if before == TcpState::LastAck => format!(
                        "last ACK: the {peer}'s socket is gone (CLOSED); the {me}, who closed first, stays in \
                         TIME-WAIT for 60 s"
                    ),
                    _ => format!("acknowledges the {peer}'s FIN"),
                };
                note.say(&text);
            }
        }
        let pure_ack = seg.payload_len == 0 && !flags.syn() && !flags.fin();
        if pure_ack {
            letters.push('a');
        }
        if pure_ack && note.is_empty() {
            let outstanding = rcv.next_seq.is_some_and(|n| n > ack);
            if snd.last_ack == Some(ack) && seg.window == snd.last_window && outstanding {
                snd.dup_acks += 1;
                note.say(format_args!(
                        "duplicate ACK #{}: the {me} still expects the {peer}'s byte {}; a segment is missing \
                         (three duplicates make the {peer} retransmit at once)",
                        snd.dup_acks,
                        rel_ack.unwrap_or(0)
                    ),
                );
            } else if snd.last_ack == Some(ack) && seg.window != snd.last_window && seg.window != 0
            {
                note.say(format_args!(
                        "window update: the {me}'s program read data, so its receive buffer has room again"
                    ),
                );
            } else {
                snd.dup_acks = 0;
                let prev = snd.last_ack.and_then(|p| rcv.base.map(|b| p.since(b)));
                let received = rel_ack.unwrap_or(0).saturating_sub(1);
                let new = match prev {
                    Some(p) if rel_ack.unwrap_or(0) > p => rel_ack.unwrap_or(0) - p,
                    _ => 0,
                };
                let text = if new > 0 && received > 0 {
                    format!(
                        "ACK: the {me} confirms it has the {peer}'s bytes up to {received} ({new} new); next \
                         expected byte {}",
                        rel_ack.unwrap_or(0)
                    )
                } else if received > 0 {
                    format!("ACK: the {me} has the {peer}'s bytes up to {received}")
                } else {
                    format!("ACK from the {me}, nothing new to acknowledge")
                };
                note.say(&text);
            }
        }
    }

    // FIN: this side will send no more data.
    if flags.fin() && !flags.rst() {
        letters.push('f');
        if snd.fin_seq.is_none() {
            snd.fin_seq = Some(seg.seq.wrapping_add(seg.payload_len));
            if rcv.fin_seq.is_none() {
                tcp.first_closer = Some(direction);
                snd.state = TcpState::FinWait1;
                if !rcv.state.is_finished() {
                    rcv.state = TcpState::CloseWait;
                }
                note.say(format_args!(
                        "FIN: the {me} will send no more data (close() or shutdown(SHUT_WR)); it closed first, \
                         so it will be the side in TIME-WAIT; the {peer} reads EOF (recv() returns 0 bytes) and \
                         stays in CLOSE-WAIT until its program calls close()"
                    ),
                );
            } else {
                snd.state = TcpState::LastAck;
                let closing = rcv.state;
                rcv.state = match closing {
                    TcpState::FinWait2 | TcpState::TimeWait => TcpState::TimeWait,
                    TcpState::FinWait1 if rcv.fin_acked => TcpState::TimeWait,
                    TcpState::FinWait1 => TcpState::Closing,
                    other => other,
                };
                let text = if rcv.state == TcpState::Closing {
                    format!(
                        "FIN from the {me} too, before its ACK of the {peer}'s FIN: both closed at once \
                         (simultaneous close, CLOSING)"
                    )
                } else {
                    format!(
                        "FIN: the {me} closes too (its program called close() after reading EOF); the {peer}, \
                         who closed first, enters TIME-WAIT for 60 s"
                    )
                };
                note.say(&text);
            }
        } else {
            tcp.retransmissions += 1;
            letters.push('t');
            note.say(format_args!(
                "FIN retransmitted: the {me}'s FIN was not acknowledged yet"
            ));
        }
    }

    if seg.window == 0 && !flags.rst() {
        letters.push('w');
        note.say(format_args!(
                "zero window: the {me}'s receive buffer is full (its program is not calling recv()); the {peer} \
                 must stop sending and probe later"
            ),
        );
    }
    if note.is_empty() {
        note.push_str("segment");
    }

    // Bookkeeping after the explanation was written.
    let end = seg.seq.wrapping_add(seg.seq_len());
    snd.next_seq = Some(match snd.next_seq {
        Some(n) if n > end => n,
        _ => end,
    });
    if let Some(ack) = seg.ack {
        snd.last_ack = Some(ack);
    }
    snd.last_window = seg.window;
    let both_scale = snd.window_scale.is_some() && rcv.window_scale.is_some();
    row.window_scale = if both_scale && !flags.syn() {
        snd.window_scale
    } else {
        None
    };
    row.states = Some([tcp.ends[0].state, tcp.ends[1].state]);
    row.note = note.into_string();
    for &letter in letters.as_slice() {
        conv.mark(direction, letter);
    }
}

/// The state an endpoint moves to when its FIN is acknowledged.
fn ack_fin(state: TcpState) -> TcpState {
    match state {
        TcpState::FinWait1 => TcpState::FinWait2,
        TcpState::Closing => TcpState::TimeWait,
        TcpState::LastAck => TcpState::Closed,
        other => other,
    }
}

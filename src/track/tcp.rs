//! TCP: roles, relative sequence numbers, endpoint states and events.
//!
//! Both endpoints are followed from what crosses the wire. A segment changes
//! its sender's state when sent and its receiver's when received; on
//! loopback the two happen together, so each row shows both states after
//! the segment. What each segment shows is recorded as [`Event`]s; the
//! sentences are written elsewhere (`render::explain`).

/// A pure ACK of new data sent at least this long after that data, with
/// nothing to piggyback, is a delayed ACK (Linux waits 40 ms at least,
/// TCP_DELACK_MIN; on loopback an immediate ACK takes microseconds).
const DELAYED_ACK_MIN_NS: i64 = 30_000_000;

/// TCP payload of a full 1500-byte Ethernet frame over IPv4 (RFC 894, 20+20
/// bytes of headers); larger segments need a bigger MTU or offload.
const ETHERNET_TCP_PAYLOAD: u32 = 1460;

use std::net::SocketAddr;

use super::event::{Event, RstKind};
use super::flow::Direction;
use super::history::Letter;
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
    /// When this side sent its last segment, its last in-order data, its FIN.
    last_sent_ns: i64,
    last_data_ns: i64,
    fin_ns: i64,
    /// This side sent a probe (keep-alive or zero-window) not yet answered.
    probe_pending: bool,
    /// This side sent a segment without SYN (anything after its SYN or SYN-ACK).
    sent_since_syn: bool,
    /// This side's SYN was captured whole, options included.
    options_seen: bool,
    /// This side's SYN carried the timestamp option (RFC 7323).
    timestamps: bool,
}

impl Endpoint {
    /// This side's first SYN (or SYN-ACK): remember it to recognise
    /// retransmissions, and its window scale offer.
    fn record_syn(&mut self, seg: &TcpSegment, packet: &Packet<'_>, state: TcpState) {
        let ts_ns = packet.ts_ns;
        self.syn_seq = Some(seg.seq);
        self.syn_count = 1;
        self.first_syn_ns = ts_ns;
        self.window_scale = seg.options.window_scale;
        // A SYN cut by snaplen may have lost its options: then "no window
        // scale" is not known.
        self.options_seen = !packet.truncated;
        self.timestamps = seg.options.timestamp.is_some();
        self.state = state;
        self.last_sent_ns = ts_ns;
    }
}

#[derive(Debug, Default)]
pub struct TcpConversation {
    /// Client (0) and server (1).
    pub ends: [Endpoint; 2],
    /// The side that sent the first FIN.
    pub first_closer: Option<Direction>,
    /// Both sides sent FIN before receiving the other's: both hold TIME-WAIT.
    pub simultaneous_close: bool,
    /// The capture began mid-connection: client and server are guessed.
    pub roles_guessed: bool,
    /// A segment larger than an Ethernet frame was explained already.
    said_large: bool,
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

    /// Both SYNs carried the timestamp option, so every segment does
    /// (RFC 7323); `None` when either SYN was not captured whole.
    pub fn used_timestamps(&self) -> Option<bool> {
        let [client, server] = &self.ends;
        if !(client.options_seen && server.options_seen) {
            return None;
        }
        Some(client.timestamps && server.timestamps)
    }

    /// A new SYN from `side` (0 client, 1 server) on this conversation's
    /// 4-tuple: the states this conversation left both ends in.
    pub fn ports_reused(&self, side: usize, previous: u64, after_ns: i64) -> Event {
        Event::PortsReused {
            previous,
            after_ns,
            sender: self.ends[side].state,
            receiver: self.ends[1 - side].state,
            timestamps: self.used_timestamps(),
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

pub fn track_segment(
    conv: &mut Conversation,
    direction: Direction,
    seg: &TcpSegment,
    packet: &Packet<'_>,
    row: &mut PacketRow<'_, '_>,
) {
    let first_packet = conv.packets[0] + conv.packets[1] == 1;
    let from_listener = conv.roles_from_listener;
    let Kind::Tcp(tcp) = &mut conv.kind else {
        return;
    };
    let sender = direction.sender();
    let flags = seg.flags;
    let now = packet.ts_ns;
    let events = &mut row.events;
    // History letters of this segment, recorded once the borrows end.
    let mut letters: [Option<Letter>; 8] = [None; 8];
    let mut nletters = 0;
    let mut letter = |l: Letter| {
        if let Some(slot) = letters.get_mut(nletters) {
            *slot = Some(l);
            nletters += 1;
        }
    };

    if first_packet && !flags.syn() {
        if from_listener {
            events.push(Event::RolesFromListener);
        } else {
            // roles() could only guess from the port numbers.
            tcp.roles_guessed = true;
            events.push(Event::RolesGuessed);
        }
    }
    let (snd, rcv) = split(&mut tcp.ends, sender);
    // A RST that answers a SYN (refused) has sequence number 0, as tcpdump
    // shows it; any other first segment without SYN is numbered from 1.
    let refused = flags.rst()
        && rcv.syn_seq.is_some()
        && snd.syn_seq.is_none()
        && !tcp.established
        && direction == Direction::ServerToClient;
    if snd.base.is_none() {
        snd.base = Some(if flags.syn() || refused {
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
        letter(Letter::Syn(seg.seq.0));
        if snd.syn_seq == Some(seg.seq) {
            snd.syn_count += 1;
            tcp.retransmissions += 1;
            events.push(Event::SynRetransmitted {
                attempt: snd.syn_count,
                since_first_ns: crate::time::since(now, snd.first_syn_ns),
                since_previous_ns: crate::time::since(now, snd.last_sent_ns),
            });
        } else {
            snd.record_syn(seg, packet, TcpState::SynSent);
            events.push(Event::Syn {
                isn: seg.seq.0,
                mss: seg.options.mss,
                window_scale: seg.options.window_scale,
            });
        }
    } else if flags.syn() && flags.ack() && !flags.rst() {
        letter(Letter::SynAck(seg.seq.0));
        if snd.syn_seq == Some(seg.seq) {
            snd.syn_count += 1;
            tcp.retransmissions += 1;
            events.push(Event::SynAckRetransmitted);
        } else {
            snd.record_syn(seg, packet, TcpState::SynReceived);
            if rcv.state == TcpState::SynSent || rcv.state == TcpState::Unknown {
                rcv.state = TcpState::Established;
            }
            events.push(Event::SynAck {
                isn: seg.seq.0,
                mss: seg.options.mss,
                window_scale: seg.options.window_scale,
            });
        }
    } else if flags.rst() {
        letter(Letter::Rst(seg.seq.0));
        snd.sent_rst = true;
        let kind = if refused {
            tcp.refused = true;
            RstKind::Refused
        } else if !flags.ack() {
            RstKind::NoConnection
        } else {
            RstKind::Abort {
                before_any_reply: !snd.sent_since_syn,
            }
        };
        events.push(Event::Rst { kind });
        snd.state = TcpState::Closed;
        rcv.state = TcpState::Closed;
    }

    // Handshake step 3: the client's ACK of the server's SYN.
    let mut handshake_done = false;
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
                handshake_done = true;
                events.push(Event::HandshakeDone);
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

    // A probe: 0 or 1 byte at one below the next byte, with everything the
    // sender sent acknowledged (Linux sends no data; other systems repeat
    // the last byte).
    let probe = seg.payload_len <= 1
        && !flags.syn()
        && !flags.fin()
        && !flags.rst()
        && snd
            .next_seq
            .is_some_and(|n| seg.seq.wrapping_add(1) == n && rcv.last_ack == Some(n));
    if probe {
        let zero_window = rcv.last_ack.is_some() && rcv.last_window == 0;
        events.push(if zero_window {
            Event::ZeroWindowProbe {
                len: seg.payload_len,
            }
        } else {
            Event::KeepAlive {
                len: seg.payload_len,
                idle_ns: crate::time::since(now, snd.last_sent_ns.max(rcv.last_sent_ns)),
            }
        });
        snd.probe_pending = true;
    }

    // Data.
    if seg.payload_len > 0 && !flags.rst() && !probe {
        letter(Letter::Data);
        let expected = snd.next_seq;
        let end = seg.seq.wrapping_add(seg.payload_len);
        let in_order = expected.is_none_or(|e| seg.seq == e);
        let first = rel_seq.unwrap_or(0);
        let last = rel_end.wrapping_sub(1);
        if expected.is_some_and(|e| end <= e) {
            tcp.retransmissions += 1;
            letter(Letter::Retransmission);
            events.push(Event::Retransmission { first, last });
        } else if let Some(e) = expected.filter(|e| seg.seq > *e) {
            events.push(Event::OutOfOrder {
                missing: seg.seq.since(e),
            });
            events.push(Event::Data {
                first,
                last,
                len: seg.payload_len,
            });
        } else if expected.is_some_and(|e| seg.seq < e) {
            tcp.retransmissions += 1;
            letter(Letter::Retransmission);
            events.push(Event::PartialRetransmission { first, last });
        } else {
            events.push(Event::Data {
                first,
                last,
                len: seg.payload_len,
            });
        }
        if seg.payload_len > ETHERNET_TCP_PAYLOAD && !tcp.said_large {
            tcp.said_large = true;
            events.push(Event::LargeSegment {
                len: seg.payload_len,
            });
        }
        if in_order {
            row.carry_in = snd.carry;
            snd.carry = if packet.payload.len() as u32 == seg.payload_len {
                Utf8Carry::trailing(packet.payload)
            } else {
                Utf8Carry::default()
            };
            snd.last_data_ns = now;
        }
    }

    // What the acknowledgment says.
    if let (Some(ack), false) = (seg.ack, flags.rst()) {
        let mut fin_acked = false;
        if let Some(fin) = rcv.fin_seq {
            if !rcv.fin_acked && ack > fin {
                rcv.fin_acked = true;
                fin_acked = true;
                rcv.state = ack_fin(rcv.state);
            }
        }
        let pure_ack = seg.payload_len == 0 && !flags.syn() && !flags.fin() && !probe;
        if pure_ack {
            letter(Letter::Ack);
            // Data bytes acknowledged: the FIN takes a sequence number but is no byte.
            let fin_in_ack = u32::from(rcv.fin_seq.is_some_and(|f| ack > f));
            let received = rel_ack.unwrap_or(0).saturating_sub(1 + fin_in_ack);
            let prev = snd
                .last_ack
                .and_then(|p| rcv.base.map(|b| p.since(b).saturating_sub(1)));
            let new = match prev {
                Some(p) if received > p => received - p,
                _ => 0,
            };
            let outstanding = rcv.next_seq.is_some_and(|n| n > ack);
            // In bytes when the scale is known: agreed by both SYNs, or
            // offered by neither (then the field is the window).
            let window = scale_in_force(snd, rcv).map(|s| u64::from(seg.window) << s);
            let window_changed = seg.window != snd.last_window && seg.window != 0;
            if rcv.probe_pending && snd.last_ack == Some(ack) && !window_changed {
                rcv.probe_pending = false;
                events.push(Event::ProbeAnswer { window });
            } else if snd.last_ack == Some(ack) && seg.window == snd.last_window && outstanding {
                snd.dup_acks += 1;
                events.push(Event::DuplicateAck {
                    n: snd.dup_acks,
                    expected: rel_ack.unwrap_or(0),
                });
            } else if snd.last_ack == Some(ack) && window_changed {
                // Also when a probe is pending: the window, not the probe, made this ACK.
                rcv.probe_pending = false;
                events.push(Event::WindowUpdate { window });
            } else if new > 0 || (prev.is_none() && received > 0) {
                // The first ACK seen from a capture that began mid-connection:
                // `new` is unknown, so 0.
                snd.dup_acks = 0;
                events.push(Event::Ack { received, new });
                let delay = crate::time::since(now, rcv.last_data_ns);
                if rcv.last_data_ns > 0 && delay >= DELAYED_ACK_MIN_NS && !fin_acked {
                    events.push(Event::DelayedAck { delay_ns: delay });
                }
            } else if !fin_acked && !handshake_done {
                snd.dup_acks = 0;
                events.push(Event::AckNothingNew);
            }
        }
        if fin_acked {
            events.push(Event::FinAcked { state: rcv.state });
        }
    }

    // FIN: this side will send no more data.
    if flags.fin() && !flags.rst() {
        letter(Letter::Fin(seg.seq.wrapping_add(seg.payload_len).0));
        if snd.fin_seq.is_none() {
            snd.fin_seq = Some(seg.seq.wrapping_add(seg.payload_len));
            snd.fin_ns = now;
            match rcv.fin_seq {
                None => {
                    tcp.first_closer = Some(direction);
                    snd.state = TcpState::FinWait1;
                    if !rcv.state.is_finished() {
                        rcv.state = TcpState::CloseWait;
                    }
                    events.push(Event::Fin);
                }
                // Sent before the peer's FIN arrived (the ack does not
                // cover it): both sides were in FIN-WAIT-1, and each goes to
                // CLOSING when the other's FIN arrives (RFC 9293 3.6, case 2).
                Some(peer_fin) if !rcv.fin_acked && seg.ack.is_none_or(|a| a <= peer_fin) => {
                    tcp.simultaneous_close = true;
                    snd.state = TcpState::Closing;
                    rcv.state = TcpState::Closing;
                    events.push(Event::SimultaneousClose);
                }
                Some(_) => {
                    snd.state = TcpState::LastAck;
                    rcv.state = match rcv.state {
                        TcpState::FinWait2 | TcpState::TimeWait => TcpState::TimeWait,
                        TcpState::FinWait1 if rcv.fin_acked => TcpState::TimeWait,
                        other => other,
                    };
                    events.push(Event::AnsweringFin {
                        after_ns: crate::time::since(now, rcv.fin_ns),
                    });
                }
            }
        } else {
            tcp.retransmissions += 1;
            events.push(Event::FinRetransmitted);
        }
    }

    // An ACK and a FIN in one segment: the peer's state after both.
    for e in events.iter_mut() {
        if let Event::FinAcked { state } = e {
            *state = rcv.state;
        }
    }
    if seg.window == 0 && !flags.rst() {
        letter(Letter::ZeroWindow);
        events.push(Event::ZeroWindow);
    }
    // The receive window halved or doubled since this side's last segment
    // (both non-zero; a zero window and its reopening have events of their
    // own). Compared in bytes, so only once both SYNs set the scale.
    let same_scale = scale_in_force(snd, rcv);
    if let (Some(scale), false, true) = (
        same_scale,
        flags.syn() || flags.rst(),
        snd.syn_seq.is_some(),
    ) {
        // A SYN's window is never scaled (RFC 7323 2.2).
        let from_scale = if snd.sent_since_syn { scale } else { 0 };
        let (from, to) = (
            u64::from(snd.last_window) << from_scale,
            u64::from(seg.window) << scale,
        );
        let told = events
            .iter()
            .any(|e| matches!(e, Event::WindowUpdate { .. } | Event::ProbeAnswer { .. }));
        if from > 0 && to > 0 && !told && (to * 2 <= from || to >= from * 2) {
            events.push(Event::WindowChanged { from, to });
        }
    }
    if events.is_empty() {
        events.push(Event::Segment);
    }

    // Bookkeeping for the next segments.
    let end = seg.seq.wrapping_add(seg.seq_len());
    snd.next_seq = Some(match snd.next_seq {
        Some(n) if n > end => n,
        _ => end,
    });
    if let Some(ack) = seg.ack {
        snd.last_ack = Some(ack);
    }
    snd.last_window = seg.window;
    snd.last_sent_ns = now;
    if !flags.syn() {
        snd.sent_since_syn = true;
    }
    let both_scale = snd.window_scale.is_some() && rcv.window_scale.is_some();
    row.window_scale = if both_scale && !flags.syn() {
        snd.window_scale
    } else {
        None
    };
    row.states = Some([tcp.ends[0].state, tcp.ends[1].state]);
    for l in letters.into_iter().flatten() {
        conv.history.record(direction, l);
    }
}

/// The window scale of `snd`'s window field: its own offer when both SYNs
/// offered one, else 0; unknown when either SYN was not seen whole.
fn scale_in_force(snd: &Endpoint, rcv: &Endpoint) -> Option<u8> {
    if !(snd.options_seen && rcv.options_seen) {
        return None;
    }
    // RFC 7323 2.2: scaling is in force only when both SYNs offered it.
    Some(match (snd.window_scale, rcv.window_scale) {
        (Some(s), Some(_)) => s,
        _ => 0,
    })
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

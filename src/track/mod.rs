//! Conversations: who is client and server, TCP state per endpoint, and
//! what each packet means.
//!
//! The tracker sees packets in capture order and keeps one [`Conversation`]
//! per live TCP connection or UDP flow. Memory is bounded by the live ones:
//! closed conversations are evicted shortly after their last packet, idle
//! ones after [`IDLE_TIMEOUT_NS`], and when the table holds [`MAX_LIVE`]
//! conversations the least recently seen half goes. Each evicted
//! conversation leaves a [`ConnSummary`].

mod causes;
pub mod event;
pub mod flow;
pub mod history;
pub mod state;
mod streams;
mod summary;
mod tcp;
mod udp;

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::net::SocketAddr;

use self::event::Event;
use self::flow::{Direction, FlowKey, Proto};
use self::history::History;
use self::state::TcpState;
use self::tcp::TcpConversation;
use self::udp::UdpConversation;
use crate::decode::{IcmpMessage, LengthLie, Packet, Transport};
use crate::timeline::{ConnRef, ConnSummary, PacketRow, Utf8Carry};

/// Live conversations kept at most; past this the least recently seen half is evicted.
pub const MAX_LIVE: usize = 20_000;
/// A conversation with no packet for this long (capture time) is evicted.
pub const IDLE_TIMEOUT_NS: i64 = 300 * 1_000_000_000;
/// A finished conversation stays this long for late ACKs and retransmissions.
pub const CLOSED_GRACE_NS: i64 = 5 * 1_000_000_000;
/// How often (in packets) finished conversations past their grace are evicted.
const SWEEP_EVERY: u64 = 4096;
/// How often (capture time) the whole table is scanned for idle conversations.
const IDLE_SCAN_NS: i64 = IDLE_TIMEOUT_NS / 10;

/// Everything known about one conversation.
#[derive(Debug)]
pub struct Conversation {
    pub id: u64,
    pub proto: Proto,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Packets and payload bytes, index 0 from the client, 1 from the server.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// Zeek's history letters, by Zeek's rules.
    pub history: History,
    /// ICMP errors that answered this conversation's packets.
    pub icmp_errors: u32,
    /// Queued in [`Tracker`]'s `closing` list (it finished).
    closing: bool,
    /// No SYN was seen, and the kernel's socket table said which side listens.
    pub roles_from_listener: bool,
    pub last_icmp: Option<IcmpMessage>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Tcp(TcpConversation),
    Udp(UdpConversation),
}

impl Conversation {
    fn new(id: u64, proto: Proto, client: SocketAddr, server: SocketAddr, ts: i64) -> Conversation {
        Conversation {
            id,
            proto,
            client,
            server,
            first_ns: ts,
            last_ns: ts,
            packets: [0; 2],
            bytes: [0; 2],
            history: History::default(),
            icmp_errors: 0,
            closing: false,
            roles_from_listener: false,
            last_icmp: None,
            kind: match proto {
                Proto::Tcp => Kind::Tcp(TcpConversation::default()),
                Proto::Udp => Kind::Udp(UdpConversation::default()),
            },
        }
    }

    fn direction_of(&self, src: SocketAddr) -> Direction {
        if src == self.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }

    fn conn_ref(&self, direction: Direction) -> ConnRef {
        ConnRef {
            id: self.id,
            proto: self.proto,
            client: self.client,
            server: self.server,
            direction,
        }
    }

    fn is_finished(&self) -> bool {
        match &self.kind {
            Kind::Tcp(t) => t.is_finished(),
            Kind::Udp(_) => false,
        }
    }

    /// The summary of a conversation that is over: its history's letters
    /// are moved into it, not copied.
    fn summary(&mut self, evicted: bool) -> ConnSummary {
        let mut summary = summary::summarize(self, evicted);
        summary.history = self.history.take_text();
        summary
    }
}

/// Counters for the end of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackerStats {
    pub packets: u64,
    pub conversations: u64,
    /// Conversations evicted before the end because they were idle or the table was full.
    pub evicted_early: u64,
    pub undecodable: u64,
}

/// foldhash, seeded at random per process: several times faster than
/// SipHash on these small keys, and a capture cannot choose colliding
/// keys without knowing the seed.
///
/// Conversations are boxed: the table then holds a key and a pointer per
/// slot (48 bytes, not 550). A table grows to twice its slots when removals
/// have left it full of tombstones, and for a moment holds both: with the
/// conversations inside, that was 55 MB of a SYN flood's 64 (a million flows,
/// `tests/memory.rs`); boxed, it is 3 MB.
type LiveMap = std::collections::HashMap<FlowKey, Box<Conversation>, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub struct Tracker {
    live: LiveMap,
    next_id: u64,
    finished: Vec<ConnSummary>,
    stats: TrackerStats,
    last_sweep: u64,
    last_idle_scan_ns: Option<i64>,
    /// Finished conversations in the order they finished, with the time:
    /// evicted after their grace without scanning the whole table.
    closing: VecDeque<(i64, FlowKey, u64)>,
    /// False when nobody reads explanations (`--summary`): they are not written.
    quiet: bool,
    /// The last row's buffers, handed back by [`Tracker::recycle`].
    spare: String,
    spare_events: Vec<Event>,
    /// Live captures: asks the machine whether a TCP socket listens on an
    /// address, to tell client from server when no SYN was captured.
    listening: Option<ListenCheck>,
    /// Socket calls that may have sent a coming FIN or RST.
    causes: causes::Causes,
    /// Send and recv calls, for message boundaries.
    streams: streams::Streams,
    /// The last RSTs seen (sender, receiver, frame, time), for the
    /// kernel's reason that follows them.
    recent_rsts: VecDeque<(SocketAddr, SocketAddr, u64, i64)>,
    /// RSTs the kernel reported before their packet was seen (a reset
    /// without a socket is traced before it is sent): (sender, receiver,
    /// time, reason).
    coming_rsts: VecDeque<(
        SocketAddr,
        SocketAddr,
        i64,
        Option<crate::kernel::ResetReason>,
    )>,
}

/// Whether a TCP socket listens on an address (see [`Tracker::set_listening`]).
pub struct ListenCheck(pub Box<dyn FnMut(SocketAddr) -> bool + Send>);

impl std::fmt::Debug for ListenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenCheck")
    }
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Whether explanations are written (they are by default).
    pub fn set_explain(&mut self, explain: bool) {
        self.quiet = !explain;
    }

    /// For a live capture: how to ask whether a socket listens on an
    /// address, so that a connection captured without its SYN gets its
    /// roles from the kernel instead of a guess.
    pub fn set_listening(&mut self, check: ListenCheck) {
        self.listening = Some(check);
    }

    /// A socket call made just before the packets that follow (calls are
    /// merged in by time): the FIN or RST it sends gets it as its cause.
    /// A recv learns how many of the peer's sends it read.
    pub fn call(&mut self, call: &mut crate::call::Call) {
        self.causes.call(call);
        self.streams.call(call);
    }

    /// An event of the kernel's record: tied to its conversation (and the
    /// side whose socket it is) and, for a RST the kernel sent, to the
    /// packet that carried it.
    pub fn kernel(&mut self, k: &mut crate::call::KernelLine) {
        let (local, remote) = k.event.ends();
        if let Some(remote) = remote {
            if let Some(conv) = self.live.get(&FlowKey::new(Proto::Tcp, local, remote)) {
                k.conn = Some(conv.id);
                let side = usize::from(conv.client != local);
                k.client_side = Some(side == 0);
                if let (Kind::Tcp(tcp), crate::kernel::KernelEvent::State { old, new, .. }, true) =
                    (&conv.kind, &k.event, k.settled)
                {
                    k.inferred = Some(tcp.ends[side].state);
                    k.kernel_view = Some(match (old, new) {
                        (TcpState::Closing, TcpState::Closed) => TcpState::TimeWait,
                        // An orphan in FIN-WAIT-2 lives on as a time-wait
                        // socket: TIME-WAIT once the peer's FIN came.
                        (TcpState::FinWait2, TcpState::Closed) => {
                            if tcp.sent_fin(1 - side) {
                                TcpState::TimeWait
                            } else {
                                TcpState::FinWait2
                            }
                        }
                        (_, new) => *new,
                    });
                }
            }
            if let crate::kernel::KernelEvent::SentReset { reason, .. } = k.event {
                k.frame = self
                    .recent_rsts
                    .iter()
                    .rev()
                    .find(|r| {
                        r.0 == local
                            && r.1 == remote
                            && crate::time::apart(k.ts_ns, r.3) < 100_000_000
                    })
                    .map(|r| r.2);
                if k.frame.is_none() {
                    if self.coming_rsts.len() >= 32 {
                        self.coming_rsts.pop_front();
                    }
                    self.coming_rsts.push_back((local, remote, k.ts_ns, reason));
                }
            }
        }
    }

    /// False with `--summary`: nobody reads the rows' sentences.
    pub fn explains(&self) -> bool {
        !self.quiet
    }

    /// Hand back a row once it was rendered, so the next row reuses its
    /// buffers instead of allocating.
    /// (By reference: moving the row in cost a copy of all of it, and a
    /// stall reading the buffers back out of that copy.)
    pub fn recycle(&mut self, row: &mut PacketRow<'_, '_>) {
        self.spare = std::mem::take(&mut row.note);
        self.spare_events = std::mem::take(&mut row.events);
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    pub fn live_conversations(&self) -> usize {
        self.live.len()
    }

    /// The summaries of conversations that ended since they were last
    /// taken: drained one by one, or taken whole (by `Vec::append`: one
    /// copy, not one move per summary); the list is reused.
    pub fn finished(&mut self) -> &mut Vec<ConnSummary> {
        &mut self.finished
    }

    /// End of input: summaries of every conversation still live, in
    /// first-seen order.
    pub fn finish(&mut self) -> Vec<ConnSummary> {
        // Sorted as boxes (a pointer each), not as summaries (232 bytes
        // each): the sort moved 20,000 summaries at the end of every replay.
        let mut rest: Vec<Box<Conversation>> = self.live.drain().map(|(_, c)| c).collect();
        rest.sort_unstable_by_key(|c| c.id);
        let mut out: Vec<ConnSummary> = self.finished.drain(..).collect();
        out.extend(rest.into_iter().map(|mut c| c.summary(false)));
        out
    }

    /// The conversation for `key`, created (with the roles `roles` gives)
    /// if it is new. One hash lookup for the common case.
    fn conversation(
        &mut self,
        key: FlowKey,
        ts: i64,
        roles: impl FnOnce() -> (SocketAddr, SocketAddr),
    ) -> &mut Conversation {
        match self.live.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.next_id += 1;
                self.stats.conversations += 1;
                let (client, server) = roles();
                e.insert(Box::new(Conversation::new(
                    self.next_id,
                    key.proto,
                    client,
                    server,
                    ts,
                )))
            }
        }
    }

    /// Track one packet and explain it.
    pub fn track<'p, 'a>(&mut self, packet: &'p Packet<'a>) -> PacketRow<'p, 'a> {
        self.stats.packets += 1;
        if self.stats.packets - self.last_sweep >= SWEEP_EVERY || self.live.len() >= MAX_LIVE {
            self.sweep(packet.ts_ns);
        }
        let mut row = PacketRow {
            packet,
            conn: None,
            rel_seq: None,
            rel_ack: None,
            window_scale: None,
            states: None,
            carry_in: Utf8Carry::default(),
            events: std::mem::take(&mut self.spare_events),
            note: std::mem::take(&mut self.spare),
        };
        row.note.clear();
        row.events.clear();
        let Some(ip) = packet.ip else {
            self.stats.undecodable += 1;
            row.events.push(if packet.issue.is_some() {
                Event::NotDecoded
            } else {
                Event::NotIp
            });
            return row;
        };
        // A datagram put back together is said first: what follows is
        // about all of it, not this packet's piece.
        if let Some(r) = packet.reassembled {
            row.events.push(Event::Reassembled {
                fragments: r.fragments,
                len: r.len,
                id: r.id,
            });
        }
        // A header whose length lies is said next: what follows is read
        // from it all the same.
        match packet.length_lie {
            Some(LengthLie::Udp { field, ip_payload }) => row
                .events
                .push(Event::UdpLengthMismatch { field, ip_payload }),
            Some(LengthLie::TcpHeader {
                header_len,
                ip_payload,
            }) => row.events.push(Event::TcpHeaderLength {
                header_len,
                ip_payload,
            }),
            None => {}
        }
        match packet.transport {
            Transport::Tcp(seg) => {
                let src = SocketAddr::new(ip.src, seg.src_port);
                let dst = SocketAddr::new(ip.dst, seg.dst_port);
                let key = FlowKey::new(Proto::Tcp, src, dst);
                // A SYN on a finished connection's 4-tuple opens a new one
                // (port reuse, or a TIME-WAIT takeover).
                let reuse = seg.flags.syn()
                    && !seg.flags.ack()
                    && self.live.get(&key).is_some_and(|c| match &c.kind {
                        Kind::Tcp(t) => t.is_new_syn(src == c.client, seg.seq),
                        Kind::Udp(_) => false,
                    });
                let mut reused = None;
                if reuse {
                    if let Some(mut old) = self.live.remove(&key) {
                        let event = match &old.kind {
                            Kind::Tcp(t) => {
                                let side = usize::from(src != old.client);
                                let after_ns = crate::time::since(packet.ts_ns, old.last_ns);
                                Some(t.ports_reused(side, old.id, after_ns))
                            }
                            Kind::Udp(_) => None,
                        };
                        let summary = old.summary(false);
                        match event {
                            Some(event) => reused = Some((event, summary)),
                            None => self.finished.push(summary),
                        }
                    }
                }
                let mut listening = self.listening.take();
                let mut from_listener = false;
                let conv = self.conversation(key, packet.ts_ns, || {
                    if let (false, Some(ListenCheck(check))) = (seg.flags.syn(), listening.as_mut())
                    {
                        if check(dst) {
                            from_listener = true;
                            return (src, dst);
                        }
                        if check(src) {
                            from_listener = true;
                            return (dst, src);
                        }
                    }
                    tcp::roles(src, dst, &seg)
                });
                conv.roles_from_listener |= from_listener;
                let direction = conv.direction_of(src);
                count(conv, direction, packet.ts_ns, seg.payload_len);
                row.conn = Some(conv.conn_ref(direction));
                tcp::track_segment(conv, direction, &seg, packet, &mut row);
                let id = conv.id;
                let finished = !conv.closing && conv.is_finished();
                if finished {
                    conv.closing = true;
                    self.closing.push_back((packet.ts_ns, key, id));
                }
                self.listening = listening;
                if let Some((event, mut summary)) = reused {
                    // After the SYN's own events: "handshake 1/3", then
                    // whose ports these were.
                    row.events.push(event);
                    summary.reused_by = Some(id);
                    self.finished.push(summary);
                }
                if seg.flags.rst() {
                    // The kernel said it would send this one: its reason.
                    if let Some(i) = self.coming_rsts.iter().position(|c| {
                        c.0 == src
                            && c.1 == dst
                            && crate::time::apart(packet.ts_ns, c.2) < 100_000_000
                    }) {
                        if let Some((_, _, _, reason)) = self.coming_rsts.remove(i) {
                            row.events.push(Event::KernelReset { reason });
                        }
                    }
                    if self.recent_rsts.len() >= 32 {
                        self.recent_rsts.pop_front();
                    }
                    self.recent_rsts
                        .push_back((src, dst, packet.frame, packet.ts_ns));
                }
                if !self.causes.is_empty() {
                    self.causes.attach(src, dst, packet.ts_ns, &mut row.events);
                }
            }
            Transport::Udp(dgram) => {
                let src = SocketAddr::new(ip.src, dgram.src_port);
                let dst = SocketAddr::new(ip.dst, dgram.dst_port);
                let key = FlowKey::new(Proto::Udp, src, dst);
                // The first sender is the client.
                let conv = self.conversation(key, packet.ts_ns, || (src, dst));
                let direction = conv.direction_of(src);
                count(conv, direction, packet.ts_ns, dgram.payload_len);
                row.conn = Some(conv.conn_ref(direction));
                udp::track_datagram(conv, direction, &dgram, packet, &mut row);
            }
            Transport::Icmp(icmp) => self.track_icmp(&icmp, &mut row),
            Transport::Other { protocol } => {
                row.events.push(match ip.fragment {
                    Some(f) => Event::Fragment {
                        offset: f.offset,
                        len: packet.fragment_len,
                        id: f.id,
                        last: !f.more_fragments,
                    },
                    _ if packet.issue.is_some() => Event::NotDecoded,
                    _ => Event::OtherProtocol { protocol },
                });
            }
            Transport::None => row.events.push(if packet.issue.is_some() {
                Event::NotDecoded
            } else {
                Event::NoTransport
            }),
        }
        if packet.truncated {
            row.events.push(Event::Truncated);
        }
        row
    }

    fn track_icmp(&mut self, icmp: &IcmpMessage, row: &mut PacketRow<'_, '_>) {
        let Some(q) = icmp.quoted else {
            row.events.push(match (icmp.v6, icmp.icmp_type) {
                (false, 8) | (true, 128) => Event::EchoRequest,
                (false, 0) | (true, 129) => Event::EchoReply,
                (true, 133..=137) => Event::NeighbourDiscovery,
                _ => Event::Icmp,
            });
            return;
        };
        let proto = match q.protocol {
            6 => Some(Proto::Tcp),
            17 => Some(Proto::Udp),
            _ => None,
        };
        let (Some(proto), Some(sport), Some(dport)) = (proto, q.src_port, q.dst_port) else {
            row.events.push(Event::IcmpQuotesOther);
            return;
        };
        let quoted_src = SocketAddr::new(q.src, sport);
        let quoted_dst = SocketAddr::new(q.dst, dport);
        let key = FlowKey::new(proto, quoted_src, quoted_dst);
        let Some(conv) = self.live.get_mut(&key) else {
            row.events.push(Event::IcmpNotInCapture);
            return;
        };
        conv.icmp_errors += 1;
        conv.last_icmp = Some(*icmp);
        // The error travels back towards whoever sent the quoted packet.
        let direction = match conv.direction_of(quoted_src) {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        };
        row.conn = Some(conv.conn_ref(direction));
        let answers = match &conv.kind {
            Kind::Udp(u) => u.last_frame[direction.sender() ^ 1],
            Kind::Tcp(_) => None,
        };
        row.events
            .push(if icmp.is_port_unreachable() && proto == Proto::Udp {
                Event::PortUnreachable { answers }
            } else {
                Event::IcmpError { answers }
            });
    }

    /// Evict finished conversations past their grace time (from the
    /// `closing` queue, oldest first, without scanning the table), idle ones
    /// (a full scan, every [`IDLE_SCAN_NS`] of capture time); if the table
    /// is still full, the least recently seen half.
    fn sweep(&mut self, now: i64) {
        self.last_sweep = self.stats.packets;
        let full = |live: &LiveMap| live.len() >= MAX_LIVE;
        while let Some(&(at, key, id)) = self.closing.front() {
            if crate::time::since(now, at) <= CLOSED_GRACE_NS && !full(&self.live) {
                break;
            }
            self.closing.pop_front();
            let is_full = full(&self.live);
            // Gone already, or the 4-tuple now belongs to a newer connection.
            // (One lookup: the entry is removed in place.)
            let Entry::Occupied(entry) = self.live.entry(key) else {
                continue;
            };
            if entry.get().id != id {
                continue;
            }
            let last_ns = entry.get().last_ns;
            if crate::time::since(now, last_ns) > CLOSED_GRACE_NS || is_full {
                self.finished.push(entry.remove().summary(false));
            } else {
                // Late packets (a retransmitted FIN, say): wait from the last one.
                self.closing.push_back((last_ns, key, id));
            }
        }
        let mut early = 0;
        let finished = &mut self.finished;
        let scan_due = self
            .last_idle_scan_ns
            .is_none_or(|t| crate::time::since(now, t) >= IDLE_SCAN_NS);
        if scan_due || full(&self.live) {
            self.last_idle_scan_ns = Some(now);
            self.live.retain(|_, c| {
                let idle = crate::time::since(now, c.last_ns);
                let done = c.is_finished() && idle > CLOSED_GRACE_NS;
                let stale = idle > IDLE_TIMEOUT_NS;
                if done || stale {
                    if stale && !done {
                        early += 1;
                    }
                    finished.push(c.summary(!done));
                    false
                } else {
                    true
                }
            });
        }
        if full(&self.live) {
            let mut seen: Vec<i64> = self.live.values().map(|c| c.last_ns).collect();
            let middle = seen.len() / 2;
            let (_, cutoff, _) = seen.select_nth_unstable(middle);
            let cutoff = *cutoff;
            self.live.retain(|_, c| {
                if c.last_ns <= cutoff {
                    early += u64::from(!c.is_finished());
                    finished.push(c.summary(!c.is_finished()));
                    false
                } else {
                    true
                }
            });
        }
        self.stats.evicted_early += early;
        finished.sort_by_key(|s| s.conn);
    }
}

fn count(conv: &mut Conversation, direction: Direction, ts: i64, payload_len: u32) {
    let side = direction.sender();
    conv.packets[side] += 1;
    conv.bytes[side] += u64::from(payload_len);
    conv.last_ns = conv.last_ns.max(ts);
}

#[cfg(test)]
mod tests;

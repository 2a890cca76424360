//! What the tracker hands to renderers and exporters: one event per row.
//!
//! A packet row carries the decoded packet (borrowed for the time of one
//! render call) plus what tracking added: the conversation, the direction by
//! role, relative sequence numbers, each endpoint's state afterwards and the
//! explanation. Conversation summaries come when a conversation is evicted
//! or at the end.

use std::net::SocketAddr;

use serde::Serialize;

use crate::decode::Packet;
use crate::track::event::Event;
use crate::track::flow::{Direction, Proto};
use crate::track::state::TcpState;

/// The conversation a packet belongs to, seen from this packet.
#[derive(Debug, Clone, Copy)]
pub struct ConnRef {
    /// Conversation number, in first-seen order, from 1.
    pub id: u64,
    pub proto: Proto,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub direction: Direction,
}

/// Bytes of a UTF-8 character cut at a segment boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Carry {
    pub bytes: [u8; 3],
    pub len: u8,
}

impl Utf8Carry {
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The incomplete UTF-8 sequence at the end of `data`, if there is one.
    pub fn trailing(data: &[u8]) -> Utf8Carry {
        // Look back at most 3 bytes for the lead byte of a sequence that does
        // not fit in what remains.
        for back in 1..=3.min(data.len()) {
            let b = data[data.len() - back];
            if b & 0xC0 == 0x80 {
                continue; // continuation byte: keep looking for the lead
            }
            let need = match b {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => return Utf8Carry::default(),
            };
            if back < need {
                let mut carry = Utf8Carry {
                    bytes: [0; 3],
                    len: back as u8,
                };
                carry.bytes[..back].copy_from_slice(&data[data.len() - back..]);
                return carry;
            }
            return Utf8Carry::default();
        }
        Utf8Carry::default()
    }
}

/// One packet, decoded and tracked.
#[derive(Debug)]
pub struct PacketRow<'p, 'a> {
    pub packet: &'p Packet<'a>,
    pub conn: Option<ConnRef>,
    /// Sequence and acknowledgment numbers relative to each side's ISN, as
    /// Wireshark shows them (the SYN is 0, the first data byte 1).
    pub rel_seq: Option<u32>,
    pub rel_ack: Option<u32>,
    /// Window scale in force for this segment's window field, once both
    /// SYNs agreed on scaling.
    pub window_scale: Option<u8>,
    /// Client and server state after this segment (TCP only).
    pub states: Option<[TcpState; 2]>,
    /// Start of a character that the previous segment in this direction cut.
    pub carry_in: Utf8Carry,
    /// What tracking found in this packet, in order.
    pub events: Vec<Event>,
    /// The events in one line a student understands, written by
    /// [`crate::render::explain`] (empty with `--summary`).
    pub note: String,
}

impl PacketRow<'_, '_> {
    /// The window in bytes, if the scale is known (the raw field otherwise).
    pub fn window_bytes(&self) -> Option<u64> {
        match self.packet.transport {
            crate::decode::Transport::Tcp(t) if !t.flags.syn() => {
                Some(u64::from(t.window) << self.window_scale.unwrap_or(0))
            }
            crate::decode::Transport::Tcp(t) => Some(u64::from(t.window)),
            _ => None,
        }
    }
}

/// The end of a conversation, in words and in Zeek's terms.
#[derive(Debug, Clone, Serialize)]
pub struct ConnSummary {
    pub conn: u64,
    pub proto: &'static str,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// First and last packet, ns since the epoch.
    pub first_ns: i64,
    pub last_ns: i64,
    pub packets_client: u64,
    pub packets_server: u64,
    /// Transport payload bytes on the wire, each way.
    pub bytes_client: u64,
    pub bytes_server: u64,
    /// Zeek's conn_state: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH.
    pub conn_state: &'static str,
    /// Zeek's history: upper case for the client (originator), lower for the server.
    pub history: String,
    /// How it ended, as data; `render::explain::outcome` words it (JSON's
    /// `outcome` field is that text).
    #[serde(skip)]
    pub outcome: Outcome,
    /// Final states of client and server (TCP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_state: Option<&'static str>,
    /// True when evicted before the end (idle, or the table was full).
    pub evicted: bool,
    /// A later conversation that opened on the same ports (its SYN ended
    /// whatever TIME-WAIT this one left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_by: Option<u64>,
}

/// How a conversation ended, read off its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub end: End,
    /// No SYN from the client was captured.
    pub midstream: bool,
    /// ... and client and server were guessed from the ports.
    pub roles_guessed: bool,
    pub retransmissions: u32,
}

/// The end itself, one per Zeek conn_state (TCP) or UDP pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// REJ: the SYN was answered by RST.
    Refused,
    /// RSTOS0: the client sent SYN, then RST, with no answer.
    ClientGaveUp,
    /// RSTRH: SYN-ACK then RST from the server, the SYN not captured.
    ResetAfterMissedSyn,
    /// RSTO / RSTR.
    Aborted { by_client: bool },
    /// SF: both sent FIN; `first` is who sent the first one.
    Closed {
        first_by_client: Option<bool>,
        simultaneous: bool,
    },
    /// SH: the client sent SYN then FIN with no answer.
    SynThenFin,
    /// SHR: SYN-ACK then FIN from the server, the SYN not captured.
    ClosedAfterMissedSyn,
    /// S2 / S3: one side sent FIN, the other has not.
    HalfClosed { by_client: bool },
    /// S0: no answer to the SYN.
    NoAnswer,
    /// S1: established, still open.
    Open,
    /// OTH: the client reset, nothing from the server.
    Reset { by_client: bool },
    /// OTH otherwise.
    StillOpen,
    /// UDP, both ways.
    Datagrams,
    /// UDP to a port where ICMP said nothing is bound.
    NoServer { icmp_errors: u32 },
    /// UDP, one way, no ICMP.
    OneWay,
    /// UDP, nothing from the client.
    NoClientDatagram,
}

impl ConnSummary {
    pub fn duration_ns(&self) -> i64 {
        crate::time::since(self.last_ns, self.first_ns)
    }
}

//! What tracking found in one packet, as data.
//!
//! Each packet row carries a list of [`Event`]s. An event is either
//! *observed* (what this packet shows, read against earlier packets of the
//! same conversation: "bytes 1-5", "acknowledges 5 new bytes") or *inferred*
//! (a cause or a classification the packet does not state: a keep-alive
//! probe, a delayed ACK, roles guessed without a SYN). An inferred event
//! carries its evidence in its fields (the timing, the sequence number, the
//! earlier packet). Sentences are written from events in one place,
//! [`crate::render::explain`]; nothing in tracking writes prose, and checks
//! (labs, tests) read events, never sentences.
//!
//! In JSON each event is an object whose `code` is the variant's snake_case
//! name, with the fields below and `basis` ("observed" or "inferred");
//! docs/json-schema.md lists them.

use serde::Serialize;

use super::state::TcpState;

/// One thing a packet shows or implies. Byte numbers are relative to the
/// sender's ISN, as Wireshark shows them (the first data byte is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    // ---- Opening ----
    /// Handshake 1/3: a SYN opening a connection.
    Syn {
        isn: u32,
        mss: Option<u16>,
        window_scale: Option<u8>,
    },
    /// The same SYN again: no SYN-ACK came back.
    SynRetransmitted {
        attempt: u32,
        /// Since the first SYN and since the previous try.
        since_first_ns: i64,
        since_previous_ns: i64,
    },
    /// Handshake 2/3: the SYN-ACK, sent by the kernel for a listening socket.
    SynAck {
        isn: u32,
        mss: Option<u16>,
        window_scale: Option<u8>,
    },
    SynAckRetransmitted,
    /// Handshake 3/3: the ACK of the SYN-ACK.
    HandshakeDone,
    /// The capture began after the SYN: who is client and server is a guess
    /// (the lower port is taken as the listening one).
    RolesGuessed,
    /// The capture began after the SYN, and the kernel's socket table (live
    /// capture) shows which side listens: that side is the server.
    RolesFromListener,

    // ---- Data ----
    Data {
        first: u32,
        last: u32,
        len: u32,
    },
    /// The first segment of the conversation with more payload than one
    /// Ethernet frame carries (1460 bytes of TCP payload over IPv4).
    LargeSegment {
        len: u32,
    },
    /// Bytes this side had sent before (an earlier packet carried them).
    Retransmission {
        first: u32,
        last: u32,
    },
    /// Part of these bytes were sent before, the rest is new.
    PartialRetransmission {
        first: u32,
        last: u32,
    },
    /// Bytes before this segment are missing.
    OutOfOrder {
        missing: u32,
    },
    /// Inferred: a segment of 0 or 1 byte whose sequence number is one below
    /// the next byte (`seq_below_next`), sent after `idle_ns` of silence on
    /// a connection whose peer's window is open: Linux's keep-alive probe
    /// has no data, other systems send the last byte again.
    KeepAlive {
        len: u32,
        idle_ns: i64,
    },
    /// Inferred: the same shape as a keep-alive, sent while the peer
    /// advertises a zero window: asks whether the window has opened.
    ZeroWindowProbe {
        len: u32,
    },
    /// Inferred: the ACK that answers a probe (it repeats the last
    /// acknowledgment and states the current window).
    ProbeAnswer {
        window: Option<u64>,
    },

    // ---- Acknowledgments and windows ----
    /// Acknowledges the peer's bytes up to `received`; `new` of them for the first time.
    Ack {
        received: u32,
        new: u32,
    },
    AckNothingNew,
    /// Inferred: a pure ACK of new data sent `delay_ns` after the data it
    /// acknowledges, with nothing to piggyback on (Linux waits up to ~40 ms).
    DelayedAck {
        delay_ns: i64,
    },
    /// The same acknowledgment again while the peer has unacknowledged
    /// bytes: a segment is missing.
    DuplicateAck {
        n: u32,
        expected: u32,
    },
    /// The same acknowledgment with a new window: the receiver's program read.
    WindowUpdate {
        window: Option<u64>,
    },
    /// The sender's receive buffer is full.
    ZeroWindow,
    /// The sender's advertised window (bytes) halved or doubled since its
    /// last segment: its receive buffer is filling, or was enlarged or read.
    WindowChanged {
        from: u64,
        to: u64,
    },
    /// The peer's FIN is acknowledged; `state` is the peer's state after it.
    FinAcked {
        state: TcpState,
    },

    // ---- Closing ----
    /// The first FIN of the connection: the sender will send no more data.
    Fin,
    /// A FIN after the peer's FIN was received, `after_ns` later.
    AnsweringFin {
        after_ns: i64,
    },
    /// Inferred from the acknowledgment: this FIN was sent before the
    /// peer's FIN arrived (its ack does not cover it): both closed at once.
    SimultaneousClose,
    FinRetransmitted,
    Rst {
        kind: RstKind,
    },
    /// Inferred, with a socket call as the evidence: the sender's program
    /// made `cause` on this connection's socket `before_ns` before this
    /// FIN or RST (the calls are known: demo, serve/client --capture,
    /// trace).
    CausedBy {
        cause: Cause,
        pid: Option<u32>,
        before_ns: i64,
    },
    /// Nothing else to say about the segment.
    Segment,

    // ---- UDP ----
    Datagram {
        len: u32,
    },
    /// The first datagram of a flow: no handshake precedes it.
    NoHandshake,
    /// A server datagram after the client's datagram `to_frame`.
    Reply {
        to_frame: u64,
    },

    // ---- ICMP ----
    /// Port unreachable for a UDP datagram of this capture (`answers`: its frame).
    PortUnreachable {
        answers: Option<u64>,
    },
    /// Another ICMP error about a packet of a conversation in this capture.
    IcmpError {
        answers: Option<u64>,
    },
    /// An ICMP error about a TCP/UDP packet not in this capture.
    IcmpNotInCapture,
    /// An ICMP error quoting something other than TCP or UDP.
    IcmpQuotesOther,
    EchoRequest,
    EchoReply,
    NeighbourDiscovery,
    Icmp,

    // ---- IP and decoding ----
    /// A later fragment of a fragmented IP datagram.
    Fragment {
        offset: u32,
        id: u32,
    },
    /// The first fragment: the rest of the datagram follows.
    FirstFragment,
    OtherProtocol {
        protocol: u8,
    },
    NoTransport,
    NotIp,
    /// Decoding stopped early (the packet's `issue` says where and why).
    NotDecoded,
    /// Only part of the packet was captured (snaplen).
    Truncated,
}

/// What kind of RST this is, by what the packets show. The cause is named
/// only when the packets show it (a RST answering a SYN); otherwise the
/// explanation lists the possibilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RstKind {
    /// Answers a SYN that got no SYN-ACK: no socket listens there.
    Refused,
    /// A RST without ACK: the sender has no connection for the segment it
    /// answers (already closed, or never had it).
    NoConnection,
    /// RST+ACK on an open connection: the sender's socket was aborted.
    /// `before_any_reply`: the sender sent nothing since the handshake (a
    /// server whose listener was closed while the connection waited in its
    /// accept queue looks like this).
    Abort { before_any_reply: bool },
}

/// The call that sent a FIN or RST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// close(): FIN, or RST when received data was still unread.
    Close,
    /// close() after SO_LINGER {1, 0}: RST.
    CloseLinger0,
    /// close() of the listening socket: RST to connections still waiting
    /// in its accept queue.
    CloseListener,
    /// shutdown(SHUT_WR or SHUT_RDWR): FIN.
    Shutdown,
}

/// Whether an event is what the packet shows or a conclusion drawn from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Observed,
    Inferred,
}

impl Event {
    pub fn basis(&self) -> Basis {
        match self {
            Event::RolesGuessed
            | Event::KeepAlive { .. }
            | Event::ZeroWindowProbe { .. }
            | Event::ProbeAnswer { .. }
            | Event::DelayedAck { .. }
            | Event::CausedBy { .. }
            | Event::SimultaneousClose => Basis::Inferred,
            _ => Basis::Observed,
        }
    }

    /// The event's `code` in JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Event::Syn { .. } => "syn",
            Event::SynRetransmitted { .. } => "syn_retransmitted",
            Event::SynAck { .. } => "syn_ack",
            Event::SynAckRetransmitted => "syn_ack_retransmitted",
            Event::HandshakeDone => "handshake_done",
            Event::RolesGuessed => "roles_guessed",
            Event::RolesFromListener => "roles_from_listener",
            Event::Data { .. } => "data",
            Event::LargeSegment { .. } => "large_segment",
            Event::Retransmission { .. } => "retransmission",
            Event::PartialRetransmission { .. } => "partial_retransmission",
            Event::OutOfOrder { .. } => "out_of_order",
            Event::KeepAlive { .. } => "keep_alive",
            Event::ZeroWindowProbe { .. } => "zero_window_probe",
            Event::ProbeAnswer { .. } => "probe_answer",
            Event::Ack { .. } => "ack",
            Event::AckNothingNew => "ack_nothing_new",
            Event::DelayedAck { .. } => "delayed_ack",
            Event::DuplicateAck { .. } => "duplicate_ack",
            Event::WindowUpdate { .. } => "window_update",
            Event::ZeroWindow => "zero_window",
            Event::WindowChanged { .. } => "window_changed",
            Event::FinAcked { .. } => "fin_acked",
            Event::Fin => "fin",
            Event::AnsweringFin { .. } => "answering_fin",
            Event::SimultaneousClose => "simultaneous_close",
            Event::FinRetransmitted => "fin_retransmitted",
            Event::Rst { .. } => "rst",
            Event::CausedBy { .. } => "caused_by",
            Event::Segment => "segment",
            Event::Datagram { .. } => "datagram",
            Event::NoHandshake => "no_handshake",
            Event::Reply { .. } => "reply",
            Event::PortUnreachable { .. } => "port_unreachable",
            Event::IcmpError { .. } => "icmp_error",
            Event::IcmpNotInCapture => "icmp_not_in_capture",
            Event::IcmpQuotesOther => "icmp_quotes_other",
            Event::EchoRequest => "echo_request",
            Event::EchoReply => "echo_reply",
            Event::NeighbourDiscovery => "neighbour_discovery",
            Event::Icmp => "icmp",
            Event::Fragment { .. } => "fragment",
            Event::FirstFragment => "first_fragment",
            Event::OtherProtocol { .. } => "other_protocol",
            Event::NoTransport => "no_transport",
            Event::NotIp => "not_ip",
            Event::NotDecoded => "not_decoded",
            Event::Truncated => "truncated",
        }
    }
}

/// An event as a JSON object: `code`, its fields, then `basis`.
pub struct EventJson<'e> {
    pub event: &'e Event,
}

impl<'e> From<&'e Event> for EventJson<'e> {
    fn from(event: &'e Event) -> EventJson<'e> {
        EventJson { event }
    }
}

// Written out rather than derived: serde's derive would need `flatten` to
// add `basis`, which goes through a generic map and made `--format json`
// several percent slower on every packet.
impl Serialize for EventJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("code", self.event.code())?;
        match *self.event {
            Event::Syn {
                isn,
                mss,
                window_scale,
            }
            | Event::SynAck {
                isn,
                mss,
                window_scale,
            } => {
                m.serialize_entry("isn", &isn)?;
                m.serialize_entry("mss", &mss)?;
                m.serialize_entry("window_scale", &window_scale)?;
            }
            Event::SynRetransmitted {
                attempt,
                since_first_ns,
                since_previous_ns,
            } => {
                m.serialize_entry("attempt", &attempt)?;
                m.serialize_entry("since_first_ns", &since_first_ns)?;
                m.serialize_entry("since_previous_ns", &since_previous_ns)?;
            }
            Event::Data { first, last, len } => {
                m.serialize_entry("first", &first)?;
                m.serialize_entry("last", &last)?;
                m.serialize_entry("len", &len)?;
            }
            Event::Retransmission { first, last }
            | Event::PartialRetransmission { first, last } => {
                m.serialize_entry("first", &first)?;
                m.serialize_entry("last", &last)?;
            }
            Event::LargeSegment { len }
            | Event::ZeroWindowProbe { len }
            | Event::Datagram { len } => m.serialize_entry("len", &len)?,
            Event::OutOfOrder { missing } => m.serialize_entry("missing", &missing)?,
            Event::KeepAlive { len, idle_ns } => {
                m.serialize_entry("len", &len)?;
                m.serialize_entry("idle_ns", &idle_ns)?;
            }
            Event::ProbeAnswer { window } | Event::WindowUpdate { window } => {
                m.serialize_entry("window", &window)?
            }
            Event::Ack { received, new } => {
                m.serialize_entry("received", &received)?;
                m.serialize_entry("new", &new)?;
            }
            Event::DelayedAck { delay_ns } => m.serialize_entry("delay_ns", &delay_ns)?,
            Event::DuplicateAck { n, expected } => {
                m.serialize_entry("n", &n)?;
                m.serialize_entry("expected", &expected)?;
            }
            Event::WindowChanged { from, to } => {
                m.serialize_entry("from", &from)?;
                m.serialize_entry("to", &to)?;
            }
            Event::FinAcked { state } => m.serialize_entry("state", &state)?,
            Event::AnsweringFin { after_ns } => m.serialize_entry("after_ns", &after_ns)?,
            Event::Rst { kind } => m.serialize_entry("kind", &kind)?,
            Event::CausedBy {
                cause,
                pid,
                before_ns,
            } => {
                m.serialize_entry("cause", &cause)?;
                m.serialize_entry("pid", &pid)?;
                m.serialize_entry("before_ns", &before_ns)?;
            }
            Event::Reply { to_frame } => m.serialize_entry("to_frame", &to_frame)?,
            Event::PortUnreachable { answers } | Event::IcmpError { answers } => {
                m.serialize_entry("answers", &answers)?
            }
            Event::Fragment { offset, id } => {
                m.serialize_entry("offset", &offset)?;
                m.serialize_entry("id", &id)?;
            }
            Event::OtherProtocol { protocol } => m.serialize_entry("protocol", &protocol)?,
            Event::SynAckRetransmitted
            | Event::HandshakeDone
            | Event::RolesGuessed
            | Event::RolesFromListener
            | Event::AckNothingNew
            | Event::ZeroWindow
            | Event::Fin
            | Event::SimultaneousClose
            | Event::FinRetransmitted
            | Event::Segment
            | Event::NoHandshake
            | Event::IcmpNotInCapture
            | Event::IcmpQuotesOther
            | Event::EchoRequest
            | Event::EchoReply
            | Event::NeighbourDiscovery
            | Event::Icmp
            | Event::FirstFragment
            | Event::NoTransport
            | Event::NotIp
            | Event::NotDecoded
            | Event::Truncated => {}
        }
        m.serialize_entry("basis", &self.event.basis())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, EventJson, RstKind};

    #[test]
    fn json_names_the_code_fields_and_basis() {
        let e = Event::Data {
            first: 1,
            last: 5,
            len: 5,
        };
        let j = serde_json::to_string(&EventJson::from(&e)).unwrap();
        assert_eq!(
            j,
            r#"{"code":"data","first":1,"last":5,"len":5,"basis":"observed"}"#
        );
        let r = Event::Rst {
            kind: RstKind::Abort {
                before_any_reply: true,
            },
        };
        let j = serde_json::to_value(EventJson::from(&r)).unwrap();
        assert_eq!(j["code"], r.code());
        assert_eq!(j["kind"]["abort"]["before_any_reply"], true);
    }

    #[test]
    fn code_is_written_first() {
        for e in [
            Event::KeepAlive { len: 0, idle_ns: 1 },
            Event::SimultaneousClose,
            Event::FinAcked {
                state: crate::track::state::TcpState::TimeWait,
            },
            Event::PortUnreachable { answers: Some(2) },
        ] {
            let j = serde_json::to_value(EventJson::from(&e)).unwrap();
            assert_eq!(j["code"], e.code());
        }
    }
}

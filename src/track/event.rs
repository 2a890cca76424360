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

use super::state::TcpState;
use crate::export::json::out::{key, JsonOut};

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
    /// A SYN on the ports of an earlier conversation, `previous`, whose
    /// last packet came `after_ns` before: a new connection on the same
    /// 4-tuple (Wireshark: "TCP Port numbers reused"). `sender` and
    /// `receiver`: the states that conversation left this SYN's sender and
    /// receiver in; `timestamps`: its SYN and SYN-ACK both carried the
    /// timestamp option (`None`: not both captured whole).
    PortsReused {
        previous: u64,
        after_ns: i64,
        sender: TcpState,
        receiver: TcpState,
        timestamps: Option<bool>,
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
    /// The kernel's own record says it sent this RST, and why (`None`: a
    /// kernel before 6.10, which gives no reason). Live captures only.
    KernelReset {
        reason: Option<crate::kernel::ResetReason>,
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
    /// One piece of a fragmented IP datagram (`id`): `len` bytes of it
    /// from byte `offset`; `last`: no piece follows it in the datagram.
    Fragment {
        offset: u32,
        len: u32,
        id: u32,
        last: bool,
    },
    /// This packet's piece completed datagram `id`: `fragments` pieces put
    /// back together into `len` bytes; the row's transport is the datagram's.
    Reassembled {
        fragments: u16,
        len: u32,
        id: u32,
    },
    OtherProtocol {
        protocol: u8,
    },
    NoTransport,
    NotIp,
    /// Decoding stopped early (the packet's `issue` says where and why).
    NotDecoded,
    /// Only part of the packet was captured (snaplen).
    Truncated,
    /// UDP's length field disagrees with the IP header (both in bytes,
    /// `field` with UDP's 8-byte header).
    UdpLengthMismatch {
        field: u16,
        ip_payload: u32,
    },
    /// TCP's data offset gives an impossible header length: under 20
    /// bytes, or more than follows the IP header.
    TcpHeaderLength {
        header_len: u32,
        ip_payload: u32,
    },
}

/// What kind of RST this is, by what the packets show. The cause is named
/// only when the packets show it (a RST answering a SYN); otherwise the
/// explanation lists the possibilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The process ended with the socket open; the kernel closed it.
    ProcessExit,
}

/// Whether an event is what the packet shows or a conclusion drawn from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            Event::PortsReused { .. } => "ports_reused",
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
            Event::KernelReset { .. } => "kernel_reset",
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
            Event::Reassembled { .. } => "reassembled",
            Event::OtherProtocol { .. } => "other_protocol",
            Event::NoTransport => "no_transport",
            Event::NotIp => "not_ip",
            Event::NotDecoded => "not_decoded",
            Event::Truncated => "truncated",
            Event::UdpLengthMismatch { .. } => "udp_length_mismatch",
            Event::TcpHeaderLength { .. } => "tcp_header_length",
        }
    }
}

impl RstKind {
    fn json(self) -> &'static str {
        match self {
            RstKind::Refused => "\"refused\"",
            RstKind::NoConnection => "\"no_connection\"",
            RstKind::Abort {
                before_any_reply: true,
            } => "{\"abort\":{\"before_any_reply\":true}}",
            RstKind::Abort {
                before_any_reply: false,
            } => "{\"abort\":{\"before_any_reply\":false}}",
        }
    }
}

impl Cause {
    fn name(self) -> &'static str {
        match self {
            Cause::Close => "close",
            Cause::CloseLinger0 => "close_linger0",
            Cause::CloseListener => "close_listener",
            Cause::Shutdown => "shutdown",
            Cause::ProcessExit => "process_exit",
        }
    }
}

impl Event {
    /// The event as a JSON object (`code`, its fields, `basis`) appended to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"code\":\"");
        out.extend_from_slice(self.code().as_bytes());
        out.push(b'"');
        let mut o = JsonOut(out);
        match *self {
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
                o.num(key!("isn"), isn);
                o.opt(key!("mss"), mss);
                o.opt(key!("window_scale"), window_scale);
            }
            Event::PortsReused {
                previous,
                after_ns,
                sender,
                receiver,
                timestamps,
            } => {
                o.num(key!("previous"), previous);
                o.num(key!("after_ns"), after_ns);
                o.name(key!("sender_state"), sender.name());
                o.name(key!("receiver_state"), receiver.name());
                o.opt_flag(key!("timestamps"), timestamps);
            }
            Event::SynRetransmitted {
                attempt,
                since_first_ns,
                since_previous_ns,
            } => {
                o.num(key!("attempt"), attempt);
                o.num(key!("since_first_ns"), since_first_ns);
                o.num(key!("since_previous_ns"), since_previous_ns);
            }
            Event::Data { first, last, len } => {
                o.num(key!("first"), first);
                o.num(key!("last"), last);
                o.num(key!("len"), len);
            }
            Event::Retransmission { first, last }
            | Event::PartialRetransmission { first, last } => {
                o.num(key!("first"), first);
                o.num(key!("last"), last);
            }
            Event::LargeSegment { len }
            | Event::ZeroWindowProbe { len }
            | Event::Datagram { len } => o.num(key!("len"), len),
            Event::OutOfOrder { missing } => o.num(key!("missing"), missing),
            Event::KeepAlive { len, idle_ns } => {
                o.num(key!("len"), len);
                o.num(key!("idle_ns"), idle_ns);
            }
            Event::ProbeAnswer { window } | Event::WindowUpdate { window } => {
                o.opt(key!("window"), window)
            }
            Event::Ack { received, new } => {
                o.num(key!("received"), received);
                o.num(key!("new"), new);
            }
            Event::DelayedAck { delay_ns } => o.num(key!("delay_ns"), delay_ns),
            Event::DuplicateAck { n, expected } => {
                o.num(key!("n"), n);
                o.num(key!("expected"), expected);
            }
            Event::WindowChanged { from, to } => {
                o.num(key!("from"), from);
                o.num(key!("to"), to);
            }
            Event::FinAcked { state } => o.name(key!("state"), state.name()),
            Event::AnsweringFin { after_ns } => o.num(key!("after_ns"), after_ns),
            Event::Rst { kind } => {
                o.key(key!("kind"));
                o.0.extend_from_slice(kind.json().as_bytes());
            }
            Event::CausedBy {
                cause,
                pid,
                before_ns,
            } => {
                o.name(key!("cause"), cause.name());
                o.opt(key!("pid"), pid);
                o.num(key!("before_ns"), before_ns);
            }
            Event::KernelReset { reason } => match reason {
                Some(r) => o.name(key!("reason"), r.code()),
                None => o.null(key!("reason")),
            },
            Event::Reply { to_frame } => o.num(key!("to_frame"), to_frame),
            Event::PortUnreachable { answers } | Event::IcmpError { answers } => {
                o.opt(key!("answers"), answers)
            }
            Event::Fragment {
                offset,
                len,
                id,
                last,
            } => {
                o.num(key!("offset"), offset);
                o.num(key!("len"), len);
                o.num(key!("id"), id);
                o.flag(key!("last"), last);
            }
            Event::Reassembled { fragments, len, id } => {
                o.num(key!("fragments"), fragments);
                o.num(key!("len"), len);
                o.num(key!("id"), id);
            }
            Event::OtherProtocol { protocol } => o.num(key!("protocol"), protocol),
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
            | Event::NoTransport
            | Event::NotIp
            | Event::NotDecoded
            | Event::Truncated => {}
            Event::UdpLengthMismatch { field, ip_payload } => {
                o.num(key!("length_field"), field);
                o.num(key!("ip_payload"), ip_payload);
            }
            Event::TcpHeaderLength {
                header_len,
                ip_payload,
            } => {
                o.num(key!("header_len"), header_len);
                o.num(key!("ip_payload"), ip_payload);
            }
        }
        o.name(
            key!("basis"),
            match self.basis() {
                Basis::Observed => "observed",
                Basis::Inferred => "inferred",
            },
        );
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::{Event, RstKind};

    fn json(e: &Event) -> String {
        let mut out = Vec::new();
        e.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_names_the_code_fields_and_basis() {
        let e = Event::Data {
            first: 1,
            last: 5,
            len: 5,
        };
        let j = json(&e);
        assert_eq!(
            j,
            r#"{"code":"data","first":1,"last":5,"len":5,"basis":"observed"}"#
        );
        let r = Event::Rst {
            kind: RstKind::Abort {
                before_any_reply: true,
            },
        };
        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(j["code"], r.code());
        assert_eq!(j["kind"]["abort"]["before_any_reply"], true);
    }

    /// Every event with fields, each field set: the line is JSON, with
    /// its code first, one key per field, and the basis last.
    #[test]
    fn every_event_writes_an_object_with_its_fields() {
        use super::Cause;
        use crate::kernel::ResetReason;
        use crate::track::state::TcpState;
        let events = [
            (
                Event::Syn {
                    isn: 1,
                    mss: Some(2),
                    window_scale: Some(3),
                },
                3,
            ),
            (
                Event::SynAck {
                    isn: 1,
                    mss: None,
                    window_scale: None,
                },
                3,
            ),
            (
                Event::PortsReused {
                    previous: 1,
                    after_ns: 2,
                    sender: TcpState::TimeWait,
                    receiver: TcpState::Closed,
                    timestamps: Some(true),
                },
                5,
            ),
            (
                Event::SynRetransmitted {
                    attempt: 2,
                    since_first_ns: 3,
                    since_previous_ns: 4,
                },
                3,
            ),
            (
                Event::Data {
                    first: 1,
                    last: 2,
                    len: 2,
                },
                3,
            ),
            (Event::LargeSegment { len: 9000 }, 1),
            (Event::Retransmission { first: 1, last: 2 }, 2),
            (Event::PartialRetransmission { first: 1, last: 2 }, 2),
            (Event::OutOfOrder { missing: 5 }, 1),
            (Event::KeepAlive { len: 1, idle_ns: 7 }, 2),
            (Event::ZeroWindowProbe { len: 1 }, 1),
            (Event::ProbeAnswer { window: Some(5) }, 1),
            (
                Event::Ack {
                    received: 5,
                    new: 2,
                },
                2,
            ),
            (Event::DelayedAck { delay_ns: 40 }, 1),
            (Event::DuplicateAck { n: 2, expected: 9 }, 2),
            (Event::WindowUpdate { window: None }, 1),
            (Event::WindowChanged { from: 1, to: 2 }, 2),
            (
                Event::FinAcked {
                    state: TcpState::TimeWait,
                },
                1,
            ),
            (Event::AnsweringFin { after_ns: 5 }, 1),
            (
                Event::Rst {
                    kind: RstKind::Refused,
                },
                1,
            ),
            (
                Event::CausedBy {
                    cause: Cause::Shutdown,
                    pid: Some(7),
                    before_ns: 3,
                },
                3,
            ),
            (
                Event::KernelReset {
                    reason: Some(ResetReason::NoSocket),
                },
                1,
            ),
            (Event::Datagram { len: 4 }, 1),
            (Event::Reply { to_frame: 3 }, 1),
            (Event::PortUnreachable { answers: Some(2) }, 1),
            (Event::IcmpError { answers: None }, 1),
            (
                Event::Fragment {
                    offset: 8,
                    len: 16,
                    id: 3,
                    last: true,
                },
                4,
            ),
            (
                Event::Reassembled {
                    fragments: 2,
                    len: 30,
                    id: 3,
                },
                3,
            ),
            (Event::OtherProtocol { protocol: 47 }, 1),
            (
                Event::UdpLengthMismatch {
                    field: 9,
                    ip_payload: 20,
                },
                2,
            ),
            (
                Event::TcpHeaderLength {
                    header_len: 12,
                    ip_payload: 20,
                },
                2,
            ),
        ];
        for (e, fields) in events {
            let text = json(&e);
            let j: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{e:?} wrote {text}: {err}"));
            let object = j.as_object().unwrap();
            assert_eq!(j["code"], e.code(), "{text}");
            assert!(text.starts_with("{\"code\":") && object.contains_key("basis"));
            assert_eq!(object.len(), fields + 2, "{text}");
        }
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
            let j: serde_json::Value = serde_json::from_str(&json(&e)).unwrap();
            assert_eq!(j["code"], e.code());
        }
    }
}

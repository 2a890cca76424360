//! The only place that writes explanations: each packet's events become one
//! line a student reads.
//!
//! Wording rules (see DEVELOPERS.md, "Principles for explanations"): what
//! the packet shows is said as a fact; a cause is said only when the packets
//! show it, otherwise the possible causes are named; a prediction is worded
//! as one. Checks never read these sentences: they read the events.

mod calls;
mod kernel;

use std::fmt::Write as _;

use crate::decode::Transport;
use crate::render::plural;
use crate::timeline::{ConnSummary, End, PacketRow};
use crate::track::event::{Cause, Event, RstKind};
use crate::track::state::TcpState;

pub use calls::{call_text, failed_call_text, left_out_text, line_text, stopped_text, write_call};
pub use kernel::{kernel_text, reason_text};

/// A FIN that answers the peer's FIN this long after it means the program
/// sat in CLOSE-WAIT: it did not close when recv() returned 0.
const CLOSE_WAIT_LINGER_NS: i64 = 1_000_000_000;

/// A piece of a sentence: text, or a number written with itoa.
trait Piece {
    fn push_to(self, out: &mut String);
}

impl Piece for &str {
    fn push_to(self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for String {
    fn push_to(self, out: &mut String) {
        out.push_str(&self);
    }
}

macro_rules! number_pieces {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn push_to(self, out: &mut String) {
                crate::render::push_int(out, self);
            }
        }
    )*};
}
number_pieces!(u8, u16, u32, u64, i64, usize);

/// `say!(out, "the ", me, " sends ", n, " bytes")`: the pieces appended in
/// order, without core::fmt (whose machinery was a third of the time spent
/// writing an explanation; callgrind). Evaluates to `fmt::Result` `Ok`, as
/// `write!` into a String does.
macro_rules! say {
    ($out:expr, $($piece:expr),+ $(,)?) => {{
        $( Piece::push_to($piece, $out); )+
        Ok::<(), std::fmt::Error>(())
    }};
}

/// Write `row.note` from `row.events`.
pub fn explain(row: &mut PacketRow<'_, '_>) {
    let mut note = std::mem::take(&mut row.note);
    note.clear();
    write_note(row, &mut note);
    row.note = note;
}

/// The explanation of one row, appended to `out`.
pub fn write_note(row: &PacketRow<'_, '_>, out: &mut String) {
    let (me, peer) = match row.conn.map(|c| c.direction) {
        Some(d) => (d.sender_role(), d.receiver_role()),
        None => ("sender", "receiver"),
    };
    let mut first = true;
    for event in &row.events {
        if *event == Event::Truncated {
            // Appended to the sentence rather than a clause of its own.
            if !first {
                out.push(' ');
            }
            out.push_str("[cut by snaplen: only part of the packet was captured]");
            continue;
        }
        if !first {
            out.push_str("; ");
        }
        first = false;
        clause(row, event, me, peer, out);
    }
}

fn clause(row: &PacketRow<'_, '_>, event: &Event, me: &str, peer: &str, out: &mut String) {
    let server = row.conn.map(|c| c.server);
    // A call is known to have sent this FIN or RST: the possible causes
    // are not listed.
    let caused = || {
        row.events
            .iter()
            .any(|e| matches!(e, Event::CausedBy { .. } | Event::KernelReset { .. }))
    };
    let _ = match *event {
        Event::Syn {
            isn,
            mss,
            window_scale,
        } => {
            let _ = say!(
                out,
                "handshake 1/3: the ",
                me,
                " asks to open a connection (connect()); its ISN is ",
                isn
            );
            if let Some(mss) = mss {
                let _ = say!(out, ", MSS ", mss);
            }
            if let Some(ws) = window_scale {
                let _ = say!(out, ", window scale ", ws);
            }
            Ok(())
        }
        Event::PortsReused {
            previous,
            after_ns,
            sender,
            receiver,
            timestamps,
        } => {
            let _ = say!(out, "the same ports as connection #", previous, ", ");
            push_secs(out, after_ns);
            out.push_str(" after its last packet");
            ports_reused(sender, receiver, timestamps, me, peer, out);
            Ok(())
        }
        Event::SynRetransmitted {
            attempt,
            since_first_ns,
            since_previous_ns,
        } => write!(
            out,
            "SYN sent again (try {attempt}, {} after the previous, {} after the first): no SYN-ACK came \
             back; nothing answers at that address, or the server's listen backlog is full (the kernel \
             then drops SYNs silently); connect() keeps waiting",
            secs(since_previous_ns),
            secs(since_first_ns)
        ),
        Event::SynAck {
            isn,
            mss,
            window_scale: _,
        } => {
            let port = server.map_or(0, |s| s.port());
            let _ = say!(
                out,
                "handshake 2/3: a socket listens on port ",
                port,
                ", so the ",
                me,
                "'s kernel answers for it: it acknowledges the ",
                peer,
                "'s SYN (ack = ISN+1) and sends its own ISN ",
                isn
            );
            if let Some(mss) = mss {
                let _ = say!(out, ", MSS ", mss);
            }
            out.push_str(" (accept() later only takes the finished connection from the queue)");
            Ok(())
        }
        Event::SynAckRetransmitted => write!(
            out,
            "SYN-ACK sent again: the {peer} has not acknowledged the {me}'s SYN-ACK yet"
        ),
        Event::HandshakeDone => say!(
            out,
            "handshake 3/3: the ",
            me,
            " acknowledges the ",
            peer,
            "'s SYN; both sides are ESTABLISHED (connect() has returned; the connection waits in \
             the server's queue for accept())"
        ),
        Event::RolesGuessed => out.write_str(
            "the capture began mid-connection (no SYN seen): client and server are guessed from the \
             port numbers (the lower port taken as the listening one)",
        ),
        Event::RolesFromListener => write!(
            out,
            "the capture began mid-connection (no SYN seen); the kernel's socket table shows a socket \
             listening on port {}, so that side is the server",
            server.map_or(0, |s| s.port())
        ),
        Event::Data { first, last, len } => say!(
            out,
            len,
            " ",
            plural(u64::from(len), "byte", "bytes"),
            " of data from the ",
            me,
            " (bytes ",
            first,
            "-",
            last,
            " of its stream)"
        ),
        Event::LargeSegment { len } => write!(
            out,
            "{len} bytes in one segment, more than an Ethernet frame carries (1460): loopback's MTU \
             is 65536, and with segmentation offload (GSO/TSO) a capture sees the kernel's large \
             segments before any splitting"
        ),
        Event::Retransmission { first, last } => write!(
            out,
            "retransmission of the {me}'s bytes {first}-{last}: an earlier segment carried them and \
             no ACK for them had arrived"
        ),
        Event::PartialRetransmission { first, last } => write!(
            out,
            "partial retransmission (bytes {first}-{last}): part of these bytes was sent before, the rest is new"
        ),
        Event::OutOfOrder { missing } => write!(
            out,
            "out of order: {missing} {} before this segment are missing (not captured, or they arrive later)",
            plural(u64::from(missing), "byte", "bytes")
        ),
        Event::KeepAlive { len, idle_ns } => {
            let _ = write!(
                out,
                "keep-alive probe (by its shape): after {} of silence the {me} sends {} at one below the \
                 next byte, which the {peer} must acknowledge; it checks the {peer} is still there \
                 (SO_KEEPALIVE)",
                secs(idle_ns),
                if len == 0 { "no data" } else { "its last byte again" }
            );
            Ok(())
        }
        Event::ZeroWindowProbe { len } => write!(
            out,
            "zero-window probe (by its shape): the {peer} advertised a zero window, so the {me} sends {} \
             at one below the next byte to ask whether it has room again",
            if len == 0 { "no data" } else { "one byte" }
        ),
        Event::ProbeAnswer { window } => {
            let _ = write!(
                out,
                "answer to the {peer}'s probe: the {me} repeats its acknowledgment"
            );
            if let Some(w) = window {
                let _ = write!(out, " with a window of {w} {}", plural(w, "byte", "bytes"));
            }
            Ok(())
        }
        Event::Ack { received, new: 0 } => say!(
            out,
            "ACK: the ",
            me,
            " has the ",
            peer,
            "'s bytes up to ",
            received,
            "; next expected byte ",
            received.wrapping_add(1)
        ),
        Event::Ack { received, new } => say!(
            out,
            "ACK: the ",
            me,
            " confirms it has the ",
            peer,
            "'s bytes up to ",
            received,
            " (",
            new,
            " new); next expected byte ",
            received.wrapping_add(1)
        ),
        Event::AckNothingNew => write!(out, "ACK from the {me}, nothing new to acknowledge"),
        Event::DelayedAck { delay_ns } => write!(
            out,
            "a delayed ACK: sent {} after the data, with nothing to carry it (the kernel waits a little \
             for a reply to piggyback on)",
            secs(delay_ns)
        ),
        Event::DuplicateAck { n, expected } => write!(
            out,
            "duplicate ACK #{n}: the {me} still expects the {peer}'s byte {expected}; a segment is missing \
             (three duplicates make the {peer} retransmit at once)"
        ),
        Event::WindowUpdate { window } => {
            let _ = write!(
                out,
                "window update: the {me}'s receive buffer has room again (its program read data)"
            );
            if let Some(w) = window {
                let _ = write!(out, ": {w} {}", plural(w, "byte", "bytes"));
            }
            Ok(())
        }
        Event::WindowChanged { from, to } if to < from => write!(
            out,
            "the {me}'s window shrank from {from} to {to} bytes: its receive buffer is filling (its \
             program reads more slowly than data arrives)"
        ),
        Event::WindowChanged { from, to } => write!(
            out,
            "the {me}'s window grew from {from} to {to} bytes: its program read, or the kernel enlarged \
             the receive buffer (autotuning)"
        ),
        Event::ZeroWindow => write!(
            out,
            "zero window: the {me}'s receive buffer is full (its program is not calling recv()); the {peer} \
             must stop sending and probe later"
        ),
        Event::FinAcked { state } => match state {
            TcpState::FinWait2 => say!(
                out,
                "ACK of the ",
                peer,
                "'s FIN: the ",
                peer,
                " is in FIN-WAIT-2, waiting for the ",
                me,
                "'s FIN"
            ),
            TcpState::TimeWait => say!(
                out,
                "ACK of the ",
                peer,
                "'s FIN: the ",
                peer,
                " enters TIME-WAIT (Linux keeps it 60 s)"
            ),
            TcpState::FinWait1 | TcpState::Closing => say!(out, "ACK of the ", peer, "'s FIN"),
            TcpState::Closed => say!(
                out,
                "last ACK: the ",
                peer,
                "'s socket is gone (CLOSED); the ",
                me,
                " stays in TIME-WAIT (Linux keeps it 60 s)"
            ),
            _ => say!(out, "acknowledges the ", peer, "'s FIN"),
        },
        Event::Fin if caused() => say!(
            out,
            "FIN: the ",
            me,
            " will send no more data; the ",
            peer,
            " reads EOF (recv() returns 0) and is in CLOSE-WAIT until it closes too; if it does, the ",
            me,
            ", having closed first, will hold TIME-WAIT"
        ),
        Event::Fin => say!(
            out,
            "FIN: the ",
            me,
            " will send no more data; its program called close() or shutdown(SHUT_WR), or its \
             process ended; the ",
            peer,
            " reads EOF (recv() returns 0) and is in CLOSE-WAIT until it closes too; if it does, the ",
            me,
            ", having closed first, will hold TIME-WAIT"
        ),
        Event::AnsweringFin { after_ns } => {
            let _ = say!(out, "FIN from the ", me, " too, ");
            push_secs(out, after_ns);
            let _ = say!(out, " after the ", peer, "'s");
            if !caused() {
                out.push_str(": its program closed the socket (or its process ended)");
            }
            if after_ns >= CLOSE_WAIT_LINGER_NS {
                let _ = write!(
                    out,
                    "; it sat in CLOSE-WAIT that long: its program did not close when recv() returned 0"
                );
            }
            Ok(())
        }
        Event::SimultaneousClose => write!(
            out,
            "FIN from the {me} too, sent before the {peer}'s FIN arrived (its ack does not cover it): \
             both closed at once (simultaneous close); both sides go to CLOSING, and each enters TIME-WAIT \
             when its FIN is acknowledged"
        ),
        Event::FinRetransmitted => write!(
            out,
            "FIN sent again: the {me}'s FIN was not acknowledged yet"
        ),
        Event::Rst { kind } => rst(kind, me, peer, server, caused(), out),
        Event::KernelReset { reason } => match reason {
            Some(r) => write!(out, "the kernel's reason: {}", reason_text(r)),
            None => out.write_str("the kernel sent it (this kernel does not say why)"),
        },
        Event::CausedBy {
            cause,
            pid,
            before_ns,
        } => {
            let call = match cause {
                Cause::Close => "close()",
                Cause::CloseLinger0 => "close() after SO_LINGER {1, 0}",
                Cause::CloseListener => "close() of the listening socket",
                Cause::Shutdown => "shutdown()",
                Cause::ProcessExit => "process ending with the socket open (the kernel closed it)",
            };
            let _ = write!(out, "sent because of the {me}'s {call}");
            if let Some(pid) = pid {
                let _ = write!(out, " (pid {pid})");
            }
            let _ = write!(out, ", {} earlier", secs(before_ns));
            if cause == Cause::Close && row.events.iter().any(|e| matches!(e, Event::Rst { .. })) {
                out.push_str(": a close() that sends RST, not FIN, had received data still unread");
            }
            Ok(())
        }
        Event::Segment => out.write_str("segment"),
        Event::Datagram { len: 0 } => write!(
            out,
            "zero-length datagram from the {me}: sending an empty message in UDP still sends a datagram \
             (TCP would send nothing)"
        ),
        Event::Datagram { len } => say!(
            out,
            "datagram of ",
            len,
            " ",
            plural(u64::from(len), "byte", "bytes"),
            " from the ",
            me,
            " (one sendto() = one datagram)"
        ),
        Event::NoHandshake => out.write_str("no handshake: UDP just sends"),
        Event::Reply { to_frame } => write!(out, "reply to datagram #{to_frame}"),
        Event::PortUnreachable { answers } => {
            let dst = quoted_dst(row);
            out.push_str("ICMP port unreachable: answers ");
            answered(answers, out);
            let _ = say!(
                out,
                "; no socket is bound to ",
                dst,
                ", so the kernel discards the datagram and says so; a connected UDP socket (or one \
                 with IP_RECVERR) hears of it as ECONNREFUSED on its next call, an unconnected one \
                 just waits"
            );
            Ok(())
        }
        Event::IcmpError { answers } => {
            let _ = write!(out, "ICMP {}: answers ", icmp_name(row));
            answered(answers, out);
            Ok(())
        }
        Event::IcmpNotInCapture => write!(
            out,
            "ICMP {}: answers a packet to {} that is not in this capture",
            icmp_name(row),
            quoted_dst(row)
        ),
        Event::IcmpQuotesOther => write!(
            out,
            "ICMP {}: answers a packet that is not TCP or UDP",
            icmp_name(row)
        ),
        Event::EchoRequest => out.write_str("ping: echo request (ICMP, no ports, no connection)"),
        Event::EchoReply => out.write_str("ping: echo reply"),
        Event::NeighbourDiscovery => {
            write!(out, "IPv6 neighbour discovery: {}", icmp_name(row))
        }
        Event::Icmp => {
            let (t, c) = icmp_numbers(row);
            write!(out, "ICMP {} (type {t}, code {c})", icmp_name(row))
        }
        Event::Fragment {
            offset,
            len,
            id,
            last,
        } => {
            let end = (offset + len).saturating_sub(1);
            let piece = match (offset, last) {
                (0, _) => ", the first piece (it holds the transport header)",
                (_, true) => ", the last piece",
                _ => "",
            };
            write!(
                out,
                "IP fragment of datagram {id}: its bytes {offset}-{end}{piece}; the datagram is decoded once every piece has come (lose one, lose the datagram)"
            )
        }
        Event::Reassembled { fragments, len, id } => write!(
            out,
            "the last missing piece of datagram {id}: {fragments} IP fragments put back together into {len} bytes; the rest of this line is about the whole datagram"
        ),
        Event::OtherProtocol { protocol } => write!(
            out,
            "IP protocol {protocol} ({}), not TCP or UDP",
            protocol_name(protocol)
        ),
        Event::NoTransport => out.write_str("IP packet without a transport header"),
        Event::NotIp => out.write_str("not an IP packet"),
        Event::NotDecoded => match (&row.packet.issue, row.packet.transport) {
            (Some(issue), Transport::Other { protocol }) => {
                write!(out, "IP protocol {protocol}, not decoded further: {issue}")
            }
            (Some(issue), _) => write!(out, "not decoded: {issue}"),
            (None, _) => out.write_str("not decoded"),
        },
        Event::Truncated => Ok(()),
        Event::UdpLengthMismatch { field, ip_payload } => write!(
            out,
            "the UDP header's length field says {field} bytes, but the IP header leaves {ip_payload} for UDP: a damaged or crafted datagram (the IP header's figure is used)"
        ),
        Event::TcpHeaderLength { header_len, .. } if header_len < 20 => write!(
            out,
            "the TCP header says it is {header_len} bytes long, less than the 20 every TCP header has: a damaged or crafted segment; its fields are read as they stand"
        ),
        Event::TcpHeaderLength {
            header_len,
            ip_payload,
        } => write!(
            out,
            "the TCP header says it is {header_len} bytes long, but the IP header leaves only {ip_payload} bytes for TCP: a damaged or crafted segment; its first 20 bytes are read as they stand"
        ),
    };
}

fn rst(
    kind: RstKind,
    me: &str,
    peer: &str,
    server: Option<std::net::SocketAddr>,
    caused: bool,
    out: &mut String,
) -> std::fmt::Result {
    match kind {
        RstKind::Refused => {
            out.push_str("connection refused: nothing listens on ");
            match server {
                Some(s) => crate::render::push_socket_addr(out, s),
                None => out.push_str("that port"),
            }
            out.write_str(
                ", so the kernel answers the SYN with RST; connect() fails at once with ECONNREFUSED",
            )
        }
        RstKind::NoConnection => write!(
            out,
            "RST without ACK: the {me} has no connection for the {peer}'s segment (its socket is already \
             closed, or it never had this connection), so its kernel answers with RST; the {peer}'s next \
             call fails with ECONNRESET or EPIPE"
        ),
        RstKind::Abort { .. } if caused => write!(
            out,
            "RST: the {me}'s kernel drops the connection at once, with no FIN and no TIME-WAIT; the \
             {peer}'s next recv()/send() fails with ECONNRESET"
        ),
        RstKind::Abort { before_any_reply } => {
            write!(
                out,
                "RST: the {me}'s kernel drops the connection at once, with no FIN and no TIME-WAIT; the \
                 {peer}'s next recv()/send() fails with ECONNRESET. The packets do not show why; possible: "
            )?;
            if before_any_reply && me == "server" {
                out.write_str(
                    "the listening socket was closed while this connection waited in its accept queue \
                     (never accepted), ",
                )?;
            }
            out.write_str(
                "close() or process exit with received data still unread, close() with SO_LINGER 0, or \
                 an error the kernel hit",
            )
        }
    }
}

fn answered(frame: Option<u64>, out: &mut String) {
    let _ = match frame {
        Some(f) => say!(out, "datagram #", f),
        None => out.write_str("the packet"),
    };
}

fn quoted_dst(row: &PacketRow<'_, '_>) -> String {
    match row.packet.transport {
        Transport::Icmp(icmp) => match icmp.quoted {
            Some(q) => match q.dst_port {
                Some(p) => {
                    let mut s = String::new();
                    crate::render::push_socket_addr(&mut s, std::net::SocketAddr::new(q.dst, p));
                    s
                }
                None => q.dst.to_string(),
            },
            None => String::from("?"),
        },
        _ => String::from("?"),
    }
}

fn icmp_name(row: &PacketRow<'_, '_>) -> &'static str {
    match row.packet.transport {
        Transport::Icmp(icmp) => icmp.describe(),
        _ => "message",
    }
}

fn icmp_numbers(row: &PacketRow<'_, '_>) -> (u8, u8) {
    match row.packet.transport {
        Transport::Icmp(icmp) => (icmp.icmp_type, icmp.code),
        _ => (0, 0),
    }
}

/// Why a new connection could take an earlier one's ports, from the states
/// that connection left its two ends in (`me`: this SYN's sender). The
/// rules are Linux's (measured: tests/programs/oracle/fixed_client_port.py).
fn ports_reused(
    sender: TcpState,
    receiver: TcpState,
    timestamps: Option<bool>,
    me: &str,
    peer: &str,
    out: &mut String,
) {
    if sender == TcpState::TimeWait {
        let _ = say!(
            out,
            "; the ",
            me,
            " still held that connection in TIME-WAIT, and its kernel gave the ports to a new socket: \
             Linux does that only when the old connection used TCP timestamps"
        );
        out.push_str(match timestamps {
            Some(true) => " (it did)",
            Some(false) => " (this one did not: the client's system has other rules than Linux)",
            None => "",
        });
        out.push_str(
            ", at once for a socket bound to the port with bind(), otherwise after a second \
             if net.ipv4.tcp_tw_reuse allows",
        );
    } else if receiver == TcpState::TimeWait {
        let _ = say!(
            out,
            "; the ",
            peer,
            " still held that connection in TIME-WAIT: a socket in TIME-WAIT takes a new SYN as a new \
             connection when its sequence number is above the old connection's, or its timestamp newer \
             (RFC 6191); otherwise it answers with an ACK of the old connection"
        );
    } else if sender.is_finished() && receiver.is_finished() {
        out.push_str("; that connection had ended on both sides, so its ports were free again");
    } else {
        let _ = say!(
            out,
            "; as far as the capture shows, that connection had not ended (the ",
            me,
            " was ",
            sender.name(),
            "), but the ",
            me,
            "'s host no longer has it: its end was not captured, or the host restarted"
        );
    }
}

/// A duration as students read it: "85 µs", "40 ms", "1.0 s".
fn secs(ns: i64) -> String {
    let mut s = String::new();
    push_secs(&mut s, ns);
    s
}

/// A duration in the unit a reader takes in at a glance: `7 µs`, `12 ms`,
/// `1.5 s`.
fn push_secs(out: &mut String, ns: i64) {
    if ns < 1_000_000 {
        let _ = say!(out, ns / 1_000, " µs");
    } else if ns < 1_000_000_000 {
        let _ = say!(out, ns / 1_000_000, " ms");
    } else {
        let _ = write!(out, "{:.1} s", ns as f64 / 1e9);
    }
}

fn protocol_name(protocol: u8) -> &'static str {
    match protocol {
        0 => "IPv6 hop-by-hop",
        2 => "IGMP",
        4 => "IP in IP",
        41 => "IPv6 in IP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        59 => "no next header",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => "other",
    }
}

/// "holds TIME-WAIT" (`both`: "hold"), or until when it did.
fn time_wait(reused_by: Option<u64>, both: bool, out: &mut String) -> std::fmt::Result {
    match reused_by {
        None => say!(out, if both { "hold" } else { "holds" }, " TIME-WAIT"),
        Some(conn) => say!(
            out,
            "held TIME-WAIT until connection #",
            conn,
            " took the ports"
        ),
    }
}

/// How a conversation ended, in words (the summaries' "outcome").
pub fn outcome(s: &ConnSummary) -> String {
    let mut out = String::new();
    write_outcome(s, &mut out);
    out
}

/// [`outcome`], appended to `out` (JSON writes one per conversation line).
pub fn write_outcome(s: &ConnSummary, out: &mut String) {
    let side = |by_client: bool| if by_client { "client" } else { "server" };
    let closer = |first: Option<bool>| first.map_or("", side);
    let o = &s.outcome;
    let _ = match o.end {
        End::Refused => {
            out.push_str("refused: the SYN was answered by RST (nothing listens on ");
            crate::render::push_socket_addr(out, s.server);
            say!(out, ")")
        }
        End::ClientGaveUp => say!(out, "the client gave up with RST before any answer"),
        End::ResetAfterMissedSyn => say!(
            out,
            "capture began after the client's SYN; the server reset"
        ),
        End::Aborted { by_client } => say!(
            out,
            "aborted: the ",
            side(by_client),
            " reset the connection (RST)"
        ),
        End::Closed {
            simultaneous: true, ..
        } => {
            out.push_str("closed normally, both at once (simultaneous close): both sides ");
            time_wait(s.reused_by, true, out)
        }
        End::Closed {
            first_by_client, ..
        } => {
            let _ = say!(
                out,
                "closed normally; the ",
                closer(first_by_client),
                " closed first and "
            );
            time_wait(s.reused_by, false, out)
        }
        End::SynThenFin => say!(out, "the client sent SYN then FIN without an answer"),
        End::ClosedAfterMissedSyn => say!(
            out,
            "capture began after the client's SYN; the server closed"
        ),
        End::HalfClosed { by_client } => say!(
            out,
            "half-closed: the ",
            side(by_client),
            " sent FIN, the ",
            side(!by_client),
            " has not closed"
        ),
        End::NoAnswer => say!(out, "no answer to the SYN"),
        End::Open => say!(out, "established, still open when the capture ended"),
        End::Reset { by_client } => {
            say!(out, "the ", side(by_client), " reset the connection (RST)")
        }
        End::StillOpen => say!(out, "still open when the capture ended"),
        End::Datagrams => say!(
            out,
            s.packets_client,
            " ",
            plural(s.packets_client, "datagram", "datagrams"),
            " from the client, ",
            s.packets_server,
            " ",
            plural(s.packets_server, "datagram", "datagrams"),
            " from the server"
        ),
        End::NoServer { icmp_errors } => {
            let _ = say!(
                out,
                "no server: ",
                icmp_errors,
                " ",
                plural(u64::from(icmp_errors), "datagram", "datagrams"),
                " answered by ICMP port unreachable (nothing bound to "
            );
            crate::render::push_socket_addr(out, s.server);
            say!(out, ")")
        }
        End::OneWay => say!(out, "one way only: no reply seen"),
        End::NoClientDatagram => say!(out, "no datagram from the client"),
    };
    out.push_str(match (o.midstream, o.roles_guessed) {
        (false, _) => "",
        (true, true) => " (capture began mid-connection: client and server guessed from the ports)",
        (true, false) => " (capture began mid-connection)",
    });
    if o.retransmissions > 0 {
        let _ = say!(
            out,
            ", ",
            o.retransmissions,
            " ",
            plural(
                u64::from(o.retransmissions),
                "retransmission",
                "retransmissions"
            )
        );
    }
}

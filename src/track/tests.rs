//! Tracker tests, grouped by what the wire shows. Packets are built with
//! etherparse's PacketBuilder, decoded and tracked as a capture would be.
//! ISNs sit near u32::MAX so wraparound is always exercised.

use etherparse::PacketBuilder;

use super::event::{Event, RstKind};
use super::state::TcpState;
use super::Tracker;
use crate::capture::link::LinkType;
use crate::capture::RawFrame;
use crate::decode::decode;

const CLIENT: u16 = 40000;
const SERVER: u16 = 12333;
/// Client ISN: 10 bytes before the wrap.
const C_ISN: u32 = u32::MAX - 9;
const S_ISN: u32 = 1000;

struct Seg {
    from_client: bool,
    seq: u32,
    ack: Option<u32>,
    flags: &'static str,
    window: u16,
    payload: &'static [u8],
    /// Capture time; by default 1 ms per segment.
    at_ms: Option<i64>,
}

fn seg(
    from_client: bool,
    seq: u32,
    ack: Option<u32>,
    flags: &'static str,
    payload: &'static [u8],
) -> Seg {
    Seg {
        from_client,
        seq,
        ack,
        flags,
        window: 64,
        payload,
        at_ms: None,
    }
}

fn frame(s: &Seg) -> Vec<u8> {
    let (sp, dp) = if s.from_client {
        (CLIENT, SERVER)
    } else {
        (SERVER, CLIENT)
    };
    let mut b = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
        .tcp(sp, dp, s.seq, s.window);
    if let Some(a) = s.ack {
        b = b.ack(a);
    }
    for f in s.flags.chars() {
        b = match f {
            'S' => b.syn(),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            _ => b,
        };
    }
    let mut v = Vec::new();
    b.write(&mut v, s.payload).unwrap();
    v
}

/// One tracked segment: its events, the client's and server's state after
/// it, its conversation and relative sequence number.
struct Tracked {
    events: Vec<Event>,
    client: TcpState,
    server: TcpState,
    conn: u64,
    rel_seq: Option<u32>,
}

impl Tracked {
    fn has(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(pred)
    }
    fn states(&self) -> (TcpState, TcpState) {
        (self.client, self.server)
    }
}

fn run(tracker: &mut Tracker, segs: &[Seg]) -> Vec<Tracked> {
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            let bytes = frame(s);
            let raw = RawFrame {
                index: i as u64 + 1,
                ts_ns: s.at_ms.unwrap_or(i as i64) * 1_000_000,
                link: LinkType::Ethernet,
                orig_len: bytes.len() as u32,
                data: &bytes,
            };
            let packet = decode(&raw);
            let row = tracker.track(&packet);
            let [client, server] = row.states.expect("TCP row has states");
            Tracked {
                events: row.events.clone(),
                client,
                server,
                conn: row.conn.expect("conversation").id,
                rel_seq: row.rel_seq,
            }
        })
        .collect()
}

fn handshake() -> Vec<Seg> {
    vec![
        seg(true, C_ISN, None, "S", b""),
        seg(false, S_ISN, Some(C_ISN.wrapping_add(1)), "S", b""),
        seg(true, C_ISN.wrapping_add(1), Some(S_ISN + 1), "", b""),
    ]
}

// ---- Opening: CLOSED -> SYN-SENT -> ESTABLISHED ----

#[test]
fn handshake_marks_three_steps() {
    let rows = run(&mut Tracker::new(), &handshake());
    assert!(rows[0].has(|e| matches!(e, Event::Syn { isn, .. } if *isn == C_ISN)));
    assert_eq!(rows[0].states(), (TcpState::SynSent, TcpState::Unknown));
    assert!(rows[1].has(|e| matches!(e, Event::SynAck { isn, .. } if *isn == S_ISN)));
    assert_eq!(
        rows[1].states(),
        (TcpState::Established, TcpState::SynReceived)
    );
    assert_eq!(rows[2].events, [Event::HandshakeDone]);
    assert_eq!(
        rows[2].states(),
        (TcpState::Established, TcpState::Established)
    );
}

#[test]
fn syn_retransmission_is_not_a_new_connection() {
    let rows = run(
        &mut Tracker::new(),
        &[
            seg(true, C_ISN, None, "S", b""),
            seg(true, C_ISN, None, "S", b""),
            seg(true, C_ISN, None, "S", b""),
        ],
    );
    assert!(rows[1].has(|e| matches!(e, Event::SynRetransmitted { attempt: 2, .. })));
    assert!(rows[2].has(|e| matches!(
        e,
        Event::SynRetransmitted {
            attempt: 3,
            since_first_ns: 2_000_000,
            since_previous_ns: 1_000_000
        }
    )));
    assert_eq!(rows[2].conn, 1);
}

#[test]
fn syn_answered_by_rst_is_refused_with_sequence_zero() {
    // See: issue 14 (j): tcpdump shows the refusing RST as seq 0.
    let rows = run(
        &mut Tracker::new(),
        &[
            seg(true, C_ISN, None, "S", b""),
            seg(false, 0, Some(C_ISN.wrapping_add(1)), "R", b""),
        ],
    );
    assert_eq!(
        rows[1].events,
        [Event::Rst {
            kind: RstKind::Refused
        }]
    );
    assert_eq!(rows[1].rel_seq, Some(0));
    assert_eq!(rows[1].states(), (TcpState::Closed, TcpState::Closed));
}

#[test]
fn capture_without_syn_says_roles_are_guessed() {
    // See: issue 14 (h).
    let c = C_ISN.wrapping_add(100);
    let rows = run(
        &mut Tracker::new(),
        &[
            seg(true, c, Some(S_ISN + 1), "P", b"abc"),
            seg(false, S_ISN + 1, Some(c.wrapping_add(3)), "", b""),
        ],
    );
    assert!(rows[0].has(|e| *e == Event::RolesGuessed));
    assert!(!rows[1].has(|e| *e == Event::RolesGuessed));
}

// ---- ESTABLISHED: data, ACKs, windows ----

#[test]
fn data_and_acks_count_bytes_across_the_wrap() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "P", b"hello world!"));
    segs.push(seg(false, S_ISN + 1, Some(c1.wrapping_add(12)), "", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert_eq!(
        rows[3].events,
        [Event::Data {
            first: 1,
            last: 12,
            len: 12
        }]
    );
    assert_eq!(
        rows[4].events,
        [Event::Ack {
            received: 12,
            new: 12
        }]
    );
}

#[test]
fn an_ack_40_ms_after_the_data_is_a_delayed_ack() {
    // See: issue 14 (p).
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "P", b"hi"));
    let mut late = seg(false, S_ISN + 1, Some(c1.wrapping_add(2)), "", b"");
    late.at_ms = Some(3 + 40);
    segs.push(late);
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[4].has(|e| matches!(
        e,
        Event::DelayedAck {
            delay_ns: 40_000_000
        }
    )));
}

#[test]
fn retransmission_duplicate_ack_zero_window_and_update() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    segs.push(seg(true, c1, Some(s1), "P", b"aaaa"));
    segs.push(seg(true, c1.wrapping_add(4), Some(s1), "P", b"bbbb"));
    // The SYN-ACK already acknowledged up to c1: both of these repeat it
    // while 8 bytes are outstanding.
    segs.push(seg(false, s1, Some(c1), "", b""));
    segs.push(seg(false, s1, Some(c1), "", b""));
    segs.push(seg(true, c1, Some(s1), "P", b"aaaa")); // retransmission
    let mut zero = seg(false, s1, Some(c1.wrapping_add(8)), "", b"");
    zero.window = 0;
    segs.push(zero);
    segs.push(seg(false, s1, Some(c1.wrapping_add(8)), "", b"")); // window opens again
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[5].has(|e| matches!(e, Event::DuplicateAck { n: 1, expected: 1 })));
    assert!(rows[6].has(|e| matches!(e, Event::DuplicateAck { n: 2, .. })));
    assert_eq!(
        rows[7].events,
        [Event::Retransmission { first: 1, last: 4 }]
    );
    assert!(rows[8].has(|e| *e == Event::ZeroWindow));
    assert!(rows[9].has(|e| matches!(e, Event::WindowUpdate { .. })));
}

#[test]
fn gap_in_sequence_is_out_of_order() {
    let mut segs = handshake();
    segs.push(seg(
        true,
        C_ISN.wrapping_add(11),
        Some(S_ISN + 1),
        "P",
        b"late",
    ));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[3].has(|e| matches!(e, Event::OutOfOrder { missing: 10 })));
}

#[test]
fn keep_alive_probe_resends_one_byte_before_next() {
    // The 1-byte form other systems send, once everything was acknowledged.
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "P", b"x"));
    segs.push(seg(false, S_ISN + 1, Some(c1.wrapping_add(1)), "", b""));
    segs.push(seg(true, c1, Some(S_ISN + 1), "", b"x"));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[5].has(|e| matches!(e, Event::KeepAlive { len: 1, .. })));
}

#[test]
fn linux_keep_alive_has_no_data_and_its_answer_is_named() {
    // See: issue 14 (b): seq one below the next byte, no payload.
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    let mut probe = seg(true, C_ISN, Some(s1), "", b"");
    probe.at_ms = Some(1002);
    segs.push(probe);
    let mut answer = seg(false, s1, Some(c1), "", b"");
    answer.at_ms = Some(1003);
    segs.push(answer);
    let rows = run(&mut Tracker::new(), &segs);
    assert!(
        rows[3].has(
            |e| matches!(e, Event::KeepAlive { len: 0, idle_ns } if *idle_ns == 1_000_000_000)
        ),
        "{:?}",
        rows[3].events
    );
    assert!(
        rows[4].has(|e| matches!(e, Event::ProbeAnswer { .. })),
        "{:?}",
        rows[4].events
    );
    assert_eq!(
        rows[4].states(),
        (TcpState::Established, TcpState::Established)
    );
}

#[test]
fn probe_into_a_zero_window_is_a_zero_window_probe() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    segs.push(seg(true, c1, Some(s1), "P", b"data"));
    let mut full = seg(false, s1, Some(c1.wrapping_add(4)), "", b"");
    full.window = 0;
    segs.push(full);
    segs.push(seg(true, c1.wrapping_add(3), Some(s1), "", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[5].has(|e| matches!(e, Event::ZeroWindowProbe { len: 0 })));
}

// ---- Closing: FIN-WAIT, CLOSE-WAIT, TIME-WAIT ----

#[test]
fn four_segment_close_puts_the_first_closer_in_time_wait() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    segs.push(seg(false, s1, Some(c1), "F", b"")); // server closes first
    segs.push(seg(true, c1, Some(s1 + 1), "", b"")); // delayed ACK of the FIN
    segs.push(seg(true, c1, Some(s1 + 1), "F", b""));
    segs.push(seg(false, s1 + 1, Some(c1.wrapping_add(1)), "", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert_eq!(rows[3].events, [Event::Fin]);
    assert_eq!(rows[3].states(), (TcpState::CloseWait, TcpState::FinWait1));
    assert!(rows[4].has(|e| matches!(
        e,
        Event::FinAcked {
            state: TcpState::FinWait2
        }
    )));
    assert_eq!(rows[4].states(), (TcpState::CloseWait, TcpState::FinWait2));
    assert!(rows[5].has(|e| matches!(
        e,
        Event::AnsweringFin {
            after_ns: 2_000_000
        }
    )));
    assert_eq!(rows[5].states(), (TcpState::LastAck, TcpState::TimeWait));
    assert_eq!(rows[6].states(), (TcpState::Closed, TcpState::TimeWait));
}

#[test]
fn simultaneous_close_leaves_both_in_time_wait() {
    // See: issue 14 (a): FINs cross; ss lists both sockets in TIME-WAIT.
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    segs.push(seg(true, c1, Some(s1), "F", b""));
    segs.push(seg(false, s1, Some(c1), "F", b"")); // FIN that does not ack the client's FIN
    segs.push(seg(true, c1.wrapping_add(1), Some(s1 + 1), "", b""));
    segs.push(seg(false, s1 + 1, Some(c1.wrapping_add(1)), "", b""));
    let mut tracker = Tracker::new();
    let rows = run(&mut tracker, &segs);
    assert!(rows[4].has(|e| *e == Event::SimultaneousClose));
    assert_eq!(rows[4].states(), (TcpState::Closing, TcpState::Closing));
    assert_eq!(rows[5].states(), (TcpState::Closing, TcpState::TimeWait));
    assert_eq!(rows[6].states(), (TcpState::TimeWait, TcpState::TimeWait));
    let summary = &tracker.finish()[0];
    assert_eq!(
        (summary.client_state, summary.server_state),
        (Some("TIME-WAIT"), Some("TIME-WAIT"))
    );
}

#[test]
fn fin_long_after_the_peers_fin_shows_how_long_close_wait_lasted() {
    // See: issue 14 (c).
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    segs.push(seg(true, c1, Some(s1), "F", b""));
    segs.push(seg(false, s1, Some(c1.wrapping_add(1)), "", b""));
    let mut late = seg(false, s1, Some(c1.wrapping_add(1)), "F", b"");
    late.at_ms = Some(3 + 2500);
    segs.push(late);
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[5].has(|e| matches!(
        e,
        Event::AnsweringFin {
            after_ns: 2_500_000_000
        }
    )));
}

#[test]
fn rst_without_ack_comes_from_a_socket_without_the_connection() {
    let mut segs = handshake();
    segs.push(seg(false, S_ISN + 1, None, "R", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert_eq!(
        rows[3].events,
        [Event::Rst {
            kind: RstKind::NoConnection
        }]
    );
}

#[test]
fn rst_with_ack_after_handshake_is_an_abort_and_says_if_before_any_reply() {
    // See: issue 14 (e): a server RST before it sent anything is what a
    // closed listener does to connections still in its accept queue.
    let mut segs = handshake();
    segs.push(seg(false, S_ISN + 1, Some(C_ISN.wrapping_add(1)), "R", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert_eq!(
        rows[3].events,
        [Event::Rst {
            kind: RstKind::Abort {
                before_any_reply: true
            }
        }]
    );
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "P", b"x"));
    segs.push(seg(true, c1.wrapping_add(1), Some(S_ISN + 1), "R", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert_eq!(
        rows[4].events,
        [Event::Rst {
            kind: RstKind::Abort {
                before_any_reply: false
            }
        }]
    );
}

#[test]
fn new_syn_on_a_finished_tuple_starts_a_new_conversation() {
    let mut tracker = Tracker::new();
    let mut segs = handshake();
    segs.push(seg(true, C_ISN.wrapping_add(1), Some(S_ISN + 1), "R", b""));
    // Linux's TIME-WAIT takeover picks ISN = old + 65537.
    segs.push(seg(true, C_ISN.wrapping_add(65537), None, "S", b""));
    let rows = run(&mut tracker, &segs);
    assert_eq!(rows[3].conn, 1);
    assert_eq!(rows[4].conn, 2);
    // The client's RST closed it on both sides.
    assert!(rows[4].has(|e| matches!(
        e,
        Event::PortsReused {
            previous: 1,
            sender: TcpState::Closed,
            receiver: TcpState::Closed,
            ..
        }
    )));
    let summaries = tracker.finish();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0].conn_state, "RSTO");
    assert_eq!(summaries[0].reused_by, Some(2));
    assert_eq!(summaries[1].conn_state, "S0");
    assert_eq!(summaries[1].reused_by, None);
}

/// A handshake, then the first closer's FIN, the answering FIN and the
/// last ACK: the first closer holds TIME-WAIT.
fn closed_by(client_first: bool) -> Vec<Seg> {
    let mut segs = handshake();
    let (c1, s1) = (C_ISN.wrapping_add(1), S_ISN + 1);
    let (mine, theirs) = if client_first { (c1, s1) } else { (s1, c1) };
    segs.push(seg(client_first, mine, Some(theirs), "F", b""));
    segs.push(seg(
        !client_first,
        theirs,
        Some(mine.wrapping_add(1)),
        "F",
        b"",
    ));
    segs.push(seg(
        client_first,
        mine.wrapping_add(1),
        Some(theirs.wrapping_add(1)),
        "",
        b"",
    ));
    segs
}

#[test]
fn a_new_syn_on_ports_in_time_wait_says_whose_time_wait_it_was() {
    for client_first in [true, false] {
        let mut segs = closed_by(client_first);
        segs.push(seg(true, C_ISN.wrapping_add(65537), None, "S", b""));
        let rows = run(&mut Tracker::new(), &segs);
        let holder = if client_first {
            rows[5].client
        } else {
            rows[5].server
        };
        assert_eq!(holder, TcpState::TimeWait);
        let (sender, receiver) = if client_first {
            (TcpState::TimeWait, TcpState::Closed)
        } else {
            (TcpState::Closed, TcpState::TimeWait)
        };
        // After the SYN's own event; the old SYNs had no options but were
        // whole: no timestamps, known.
        assert!(matches!(rows[6].events[0], Event::Syn { .. }));
        assert_eq!(
            rows[6].events[1..],
            [Event::PortsReused {
                previous: 1,
                after_ns: 1_000_000,
                sender,
                receiver,
                timestamps: Some(false),
            }]
        );
        assert_eq!(rows[6].conn, 2);
    }
}

#[test]
fn a_syn_sent_again_or_a_first_syn_does_not_reuse_ports() {
    let mut segs = handshake();
    segs.insert(1, seg(true, C_ISN, None, "S", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows
        .iter()
        .all(|r| !r.has(|e| matches!(e, Event::PortsReused { .. }))));
}

// ---- UDP ----

#[test]
fn only_the_server_replies_in_udp() {
    // See: issue 14 (g): two client datagrams, then one answer.
    let mut tracker = Tracker::new();
    let mut events = Vec::new();
    for (i, (from_client, payload)) in [(true, &b"a"[..]), (true, b"b"), (false, b"c")]
        .into_iter()
        .enumerate()
    {
        let (sp, dp) = if from_client {
            (CLIENT, SERVER)
        } else {
            (SERVER, CLIENT)
        };
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .udp(sp, dp)
            .write(&mut bytes, payload)
            .unwrap();
        let raw = RawFrame {
            index: i as u64 + 1,
            ts_ns: i as i64,
            link: LinkType::Ethernet,
            orig_len: bytes.len() as u32,
            data: &bytes,
        };
        let packet = decode(&raw);
        events.push(tracker.track(&packet).events.clone());
    }
    assert!(events[0].contains(&Event::NoHandshake));
    assert!(!events[1]
        .iter()
        .any(|e| matches!(e, Event::Reply { .. } | Event::NoHandshake)));
    assert!(events[2].contains(&Event::Reply { to_frame: 2 }));
    let summary = &tracker.finish()[0];
    assert_eq!((summary.packets_client, summary.packets_server), (2, 1));
}

// ---- Zeek's conn_state and history ----

#[test]
fn unanswered_syn_retries_are_s0_with_history_s() {
    // See: issue 14 (i): the backlog lab's retried SYNs; Zeek logs "S", not "ST".
    let mut tracker = Tracker::new();
    run(
        &mut tracker,
        &[
            seg(true, C_ISN, None, "S", b""),
            seg(true, C_ISN, None, "S", b""),
            seg(true, C_ISN, None, "S", b""),
        ],
    );
    let s = &tracker.finish()[0];
    assert_eq!((s.conn_state, s.history.as_str()), ("S0", "S"));
}

#[test]
fn reset_precedence_follows_zeek() {
    // Refused: REJ. Established then reset by the server: RSTR, even after
    // the client's FIN (Zeek checks the responder's RST first).
    let mut tracker = Tracker::new();
    run(
        &mut tracker,
        &[
            seg(true, C_ISN, None, "S", b""),
            seg(false, 0, Some(C_ISN.wrapping_add(1)), "R", b""),
        ],
    );
    assert_eq!(tracker.finish()[0].conn_state, "REJ");
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "F", b""));
    segs.push(seg(false, S_ISN + 1, Some(c1.wrapping_add(1)), "R", b""));
    let mut tracker = Tracker::new();
    run(&mut tracker, &segs);
    let s = &tracker.finish()[0];
    assert_eq!((s.conn_state, s.history.as_str()), ("RSTR", "ShAFr"));
}

//! Tracker tests, grouped by what the wire shows. Packets are built with
//! etherparse's PacketBuilder, decoded and tracked as a capture would be.
//! ISNs sit near u32::MAX so wraparound is always exercised.

use etherparse::PacketBuilder;

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

/// Track segments; per segment: (note, client state, server state, conn id).
fn run(tracker: &mut Tracker, segs: &[Seg]) -> Vec<(String, TcpState, TcpState, u64)> {
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            let bytes = frame(s);
            let raw = RawFrame {
                index: i as u64 + 1,
                ts_ns: i as i64 * 1_000_000,
                link: LinkType::Ethernet,
                orig_len: bytes.len() as u32,
                data: &bytes,
            };
            let packet = decode(&raw);
            let row = tracker.track(&packet);
            let [c, s] = row.states.expect("TCP row has states");
            (row.note.clone(), c, s, row.conn.expect("conversation").id)
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
    assert!(rows[0].0.starts_with("handshake 1/3"));
    assert_eq!(
        (rows[0].1, rows[0].2),
        (TcpState::SynSent, TcpState::Unknown)
    );
    assert!(rows[1].0.starts_with("handshake 2/3"));
    assert_eq!(
        (rows[1].1, rows[1].2),
        (TcpState::Established, TcpState::SynReceived)
    );
    assert!(rows[2].0.starts_with("handshake 3/3"));
    assert_eq!(
        (rows[2].1, rows[2].2),
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
    assert!(
        rows[1].0.starts_with("SYN retransmitted (try 2"),
        "{}",
        rows[1].0
    );
    assert!(rows[2].0.starts_with("SYN retransmitted (try 3"));
    assert_eq!(rows[2].3, 1);
}

#[test]
fn syn_answered_by_rst_is_refused() {
    let rows = run(
        &mut Tracker::new(),
        &[
            seg(true, C_ISN, None, "S", b""),
            seg(false, 0, Some(C_ISN.wrapping_add(1)), "R", b""),
        ],
    );
    assert!(rows[1].0.starts_with("connection refused"), "{}", rows[1].0);
    assert!(rows[1].0.contains("ECONNREFUSED"));
    assert_eq!((rows[1].1, rows[1].2), (TcpState::Closed, TcpState::Closed));
}

// ---- ESTABLISHED: data, ACKs, windows ----

#[test]
fn data_and_acks_count_bytes_across_the_wrap() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "P", b"hello world!"));
    segs.push(seg(false, S_ISN + 1, Some(c1.wrapping_add(12)), "", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(
        rows[3]
            .0
            .contains("12 bytes of data from the client (bytes 1-12"),
        "{}",
        rows[3].0
    );
    assert!(
        rows[4].0.contains("the client's bytes up to 12 (12 new)"),
        "{}",
        rows[4].0
    );
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
    assert!(rows[5].0.starts_with("duplicate ACK #1"), "{}", rows[5].0);
    assert!(rows[6].0.starts_with("duplicate ACK #2"), "{}", rows[6].0);
    assert!(
        rows[7]
            .0
            .starts_with("retransmission of the client's bytes 1-4"),
        "{}",
        rows[7].0
    );
    assert!(rows[8].0.contains("zero window"), "{}", rows[8].0);
    assert!(rows[9].0.starts_with("window update"), "{}", rows[9].0);
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
    assert!(
        rows[3].0.starts_with("out of order: 10 bytes"),
        "{}",
        rows[3].0
    );
}

#[test]
fn keep_alive_probe_resends_one_byte_before_next() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    segs.push(seg(true, c1, Some(S_ISN + 1), "P", b"x"));
    segs.push(seg(true, c1, Some(S_ISN + 1), "", b"x"));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(rows[4].0.starts_with("keep-alive probe"), "{}", rows[4].0);
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
    assert!(rows[3].0.contains("the server will send no more data"));
    assert_eq!(
        (rows[3].1, rows[3].2),
        (TcpState::CloseWait, TcpState::FinWait1)
    );
    assert_eq!(
        (rows[4].1, rows[4].2),
        (TcpState::CloseWait, TcpState::FinWait2)
    );
    assert_eq!(
        (rows[5].1, rows[5].2),
        (TcpState::LastAck, TcpState::TimeWait)
    );
    assert_eq!(
        (rows[6].1, rows[6].2),
        (TcpState::Closed, TcpState::TimeWait)
    );
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut segs = handshake();
    let c1 = C_ISN.wrapping_add(1);
    let s1 = S_ISN + 1;
    segs.push(seg(true, c1, Some(s1), "F", b""));
    segs.push(seg(false, s1, Some(c1), "F", b"")); // FIN that does not ack the client's FIN
    segs.push(seg(true, c1.wrapping_add(1), Some(s1 + 1), "", b""));
    segs.push(seg(false, s1 + 1, Some(c1.wrapping_add(1)), "", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert_eq!(rows[4].1, TcpState::Closing, "{}", rows[4].0);
    assert_eq!(rows[6].1, TcpState::TimeWait);
}

#[test]
fn rst_without_ack_comes_from_a_closed_socket() {
    let mut segs = handshake();
    segs.push(seg(false, S_ISN + 1, None, "R", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(
        rows[3]
            .0
            .starts_with("reset from a socket that is already closed"),
        "{}",
        rows[3].0
    );
}

#[test]
fn rst_with_ack_after_handshake_is_an_abortive_close() {
    let mut segs = handshake();
    segs.push(seg(true, C_ISN.wrapping_add(1), Some(S_ISN + 1), "R", b""));
    let rows = run(&mut Tracker::new(), &segs);
    assert!(
        rows[3].0.starts_with("abortive close by the client"),
        "{}",
        rows[3].0
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
    assert_eq!(rows[3].3, 1);
    assert_eq!(rows[4].3, 2);
    let summaries = tracker.finish();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0].conn_state, "RSTO");
    assert_eq!(summaries[1].conn_state, "S0");
}

//! The end of a conversation in Zeek's terms (conn_state, history) and in words.

use super::flow::Direction;
use super::tcp::TcpConversation;
use super::{Conversation, Kind};
use crate::timeline::{ConnSummary, End, Outcome};

pub fn summarize(conv: &Conversation, evicted: bool) -> ConnSummary {
    let (conn_state, outcome, states) = match &conv.kind {
        Kind::Tcp(tcp) => {
            let (state, outcome) = tcp_outcome(conv, tcp);
            (
                state,
                outcome,
                Some((tcp.ends[0].state.name(), tcp.ends[1].state.name())),
            )
        }
        Kind::Udp(_) => {
            let (state, outcome) = udp_outcome(conv);
            (state, outcome, None)
        }
    };
    ConnSummary {
        conn: conv.id,
        proto: conv.proto.name(),
        client: conv.client,
        server: conv.server,
        first_ns: conv.first_ns,
        last_ns: conv.last_ns,
        packets_client: conv.packets[0],
        packets_server: conv.packets[1],
        bytes_client: conv.bytes[0],
        bytes_server: conv.bytes[1],
        conn_state,
        // Taken from the conversation by Conversation::summary.
        history: String::new(),
        outcome,
        client_state: states.map(|s| s.0),
        server_state: states.map(|s| s.1),
        evicted,
        reused_by: None,
    }
}

/// An endpoint's state as Zeek's TCP analyzer names it, from what it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZeekState {
    Inactive,
    SynSent,
    SynAckSent,
    /// Sent something, but no SYN was seen (midstream).
    Partial,
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

fn zeek_state(conv: &Conversation, tcp: &TcpConversation, side: usize) -> ZeekState {
    if tcp.sent_rst(side) {
        ZeekState::Reset
    } else if tcp.sent_fin(side) {
        ZeekState::Closed
    } else if tcp.saw_syn(side) && tcp.established {
        ZeekState::Established
    } else if tcp.saw_syn(side) {
        if side == 0 {
            ZeekState::SynSent
        } else {
            ZeekState::SynAckSent
        }
    } else if conv.packets[side] > 0 {
        ZeekState::Partial
    } else {
        ZeekState::Inactive
    }
}

/// Zeek's conn_state, in the order Zeek decides it (conn/main.zeek), and
/// the end it names.
fn conn_state(conv: &Conversation, tcp: &TcpConversation) -> (&'static str, End) {
    use ZeekState::{Closed, Established, Inactive, Partial, Reset, SynAckSent, SynSent};
    let (os, rs) = (zeek_state(conv, tcp, 0), zeek_state(conv, tcp, 1));
    let o_inactive = matches!(os, Inactive | Partial);
    let r_inactive = matches!(rs, Inactive | Partial);
    let first_by_client = tcp.first_closer.map(|d| d == Direction::ClientToServer);
    if rs == Reset {
        if matches!(os, SynSent | SynAckSent)
            || (os == Reset && conv.bytes[0] == 0 && conv.bytes[1] == 0)
        {
            ("REJ", End::Refused)
        } else if o_inactive {
            ("RSTRH", End::ResetAfterMissedSyn)
        } else {
            ("RSTR", End::Aborted { by_client: false })
        }
    } else if os == Reset {
        if r_inactive {
            // Zeek: history matches /^?S[^HAFGIQ]*R.*/.
            let h = conv.history.as_str();
            let h = h.strip_prefix('^').unwrap_or(h);
            let rstos0 = h.strip_prefix('S').is_some_and(|rest| {
                rest.chars()
                    .take_while(|c| !"HAFGIQ".contains(*c))
                    .any(|c| c == 'R')
            });
            if rstos0 {
                ("RSTOS0", End::ClientGaveUp)
            } else {
                ("OTH", End::Reset { by_client: true })
            }
        } else {
            ("RSTO", End::Aborted { by_client: true })
        }
    } else if rs == Closed && os == Closed {
        (
            "SF",
            End::Closed {
                first_by_client,
                simultaneous: tcp.simultaneous_close,
            },
        )
    } else if os == Closed {
        if r_inactive {
            ("SH", End::SynThenFin)
        } else {
            ("S2", End::HalfClosed { by_client: true })
        }
    } else if rs == Closed {
        if o_inactive {
            ("SHR", End::ClosedAfterMissedSyn)
        } else {
            ("S3", End::HalfClosed { by_client: false })
        }
    } else if os == SynSent && rs == Inactive {
        ("S0", End::NoAnswer)
    } else if os == Established && rs == Established {
        ("S1", End::Open)
    } else {
        ("OTH", End::StillOpen)
    }
}

fn tcp_outcome(conv: &Conversation, tcp: &TcpConversation) -> (&'static str, Outcome) {
    let (state, end) = conn_state(conv, tcp);
    (
        state,
        Outcome {
            end,
            midstream: !tcp.saw_syn(0),
            roles_guessed: tcp.roles_guessed,
            retransmissions: tcp.retransmissions,
        },
    )
}

fn udp_outcome(conv: &Conversation) -> (&'static str, Outcome) {
    let icmp = conv.last_icmp.filter(|i| i.is_port_unreachable());
    let (state, end) = match (conv.packets[0] > 0, conv.packets[1] > 0) {
        (true, true) => ("SF", End::Datagrams),
        (true, false) if icmp.is_some() => (
            "S0",
            End::NoServer {
                icmp_errors: conv.icmp_errors,
            },
        ),
        (true, false) => ("S0", End::OneWay),
        _ => ("OTH", End::NoClientDatagram),
    };
    (
        state,
        Outcome {
            end,
            midstream: false,
            roles_guessed: false,
            retransmissions: 0,
        },
    )
}

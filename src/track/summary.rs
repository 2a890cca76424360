//! The end of a conversation in Zeek's terms (conn_state, history) and in words.

use super::flow::Direction;
use super::tcp::TcpConversation;
use super::{Conversation, Kind};
use crate::timeline::ConnSummary;

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
        history: conv.history.as_str().to_string(),
        outcome,
        client_state: states.map(|s| s.0),
        server_state: states.map(|s| s.1),
        evicted,
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

/// Zeek's conn_state, in the order Zeek decides it (conn/main.zeek).
fn conn_state(conv: &Conversation, tcp: &TcpConversation) -> &'static str {
    use ZeekState::{Closed, Established, Inactive, Partial, Reset, SynAckSent, SynSent};
    let (os, rs) = (zeek_state(conv, tcp, 0), zeek_state(conv, tcp, 1));
    let o_inactive = matches!(os, Inactive | Partial);
    let r_inactive = matches!(rs, Inactive | Partial);
    if rs == Reset {
        if matches!(os, SynSent | SynAckSent)
            || (os == Reset && conv.bytes[0] == 0 && conv.bytes[1] == 0)
        {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
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
                "RSTOS0"
            } else {
                "OTH"
            }
        } else {
            "RSTO"
        }
    } else if rs == Closed && os == Closed {
        "SF"
    } else if os == Closed {
        if r_inactive {
            "SH"
        } else {
            "S2"
        }
    } else if rs == Closed {
        if o_inactive {
            "SHR"
        } else {
            "S3"
        }
    } else if os == SynSent && rs == Inactive {
        "S0"
    } else if os == Established && rs == Established {
        "S1"
    } else {
        "OTH"
    }
}

fn tcp_outcome(conv: &Conversation, tcp: &TcpConversation) -> (&'static str, String) {
    let state = conn_state(conv, tcp);
    let retries = if tcp.retransmissions > 0 {
        format!(
            ", {}",
            count(
                u64::from(tcp.retransmissions),
                "retransmission",
                "retransmissions"
            )
        )
    } else {
        String::new()
    };
    let midstream = if tcp.saw_syn(0) {
        ""
    } else if tcp.roles_guessed {
        " (capture began mid-connection: client and server guessed from the ports)"
    } else {
        " (capture began mid-connection)"
    };
    let closer = match tcp.first_closer {
        Some(Direction::ClientToServer) => "client",
        Some(Direction::ServerToClient) => "server",
        None => "",
    };
    let text = match state {
        "REJ" => format!(
            "refused: the SYN was answered by RST (nothing listens on {})",
            conv.server
        ),
        "RSTOS0" => "the client gave up with RST before any answer".to_string(),
        "RSTRH" => "capture began after the client's SYN; the server reset".to_string(),
        "RSTO" => "aborted: the client reset the connection (RST)".to_string(),
        "RSTR" => "aborted: the server reset the connection (RST)".to_string(),
        "SF" if tcp.simultaneous_close => {
            "closed normally, both at once (simultaneous close): both sides hold TIME-WAIT"
                .to_string()
        }
        "SF" => format!("closed normally; the {closer} closed first and holds TIME-WAIT"),
        "SH" => "the client sent SYN then FIN without an answer".to_string(),
        "SHR" => "capture began after the client's SYN; the server closed".to_string(),
        "S2" => "half-closed: the client sent FIN, the server has not closed".to_string(),
        "S3" => "half-closed: the server sent FIN, the client has not closed".to_string(),
        "S0" => "no answer to the SYN".to_string(),
        "S1" => "established, still open when the capture ended".to_string(),
        _ if tcp.sent_rst(0) || tcp.sent_rst(1) => {
            let by = if tcp.sent_rst(0) { "client" } else { "server" };
            format!("the {by} reset the connection (RST)")
        }
        _ if tcp.sent_fin(0) && tcp.sent_fin(1) => {
            format!("closed; the {closer} closed first")
        }
        _ => "still open when the capture ended".to_string(),
    };
    (state, format!("{text}{midstream}{retries}"))
}

fn udp_outcome(conv: &Conversation) -> (&'static str, String) {
    let icmp = conv.last_icmp.filter(|i| i.is_port_unreachable());
    match (conv.packets[0] > 0, conv.packets[1] > 0) {
        (true, true) => (
            "SF",
            format!(
                "{} from the client, {} from the server",
                count(conv.packets[0], "datagram", "datagrams"),
                count(conv.packets[1], "datagram", "datagrams")
            ),
        ),
        (true, false) if icmp.is_some() => (
            "S0",
            format!(
                "no server: {} answered by ICMP port unreachable (nothing bound to {})",
                count(u64::from(conv.icmp_errors), "datagram", "datagrams"),
                conv.server
            ),
        ),
        (true, false) => ("S0", "one way only: no reply seen".to_string()),
        _ => ("OTH", "no datagram from the client".to_string()),
    }
}

/// "1 datagram", "2 datagrams".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

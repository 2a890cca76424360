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
        history: conv.history.clone(),
        outcome,
        client_state: states.map(|s| s.0),
        server_state: states.map(|s| s.1),
        evicted,
    }
}

fn tcp_outcome(conv: &Conversation, tcp: &TcpConversation) -> (&'static str, String) {
    let orig_syn = tcp.saw_syn(0);
    let resp_synack = tcp.saw_syn(1);
    let (orig_fin, resp_fin) = (tcp.sent_fin(0), tcp.sent_fin(1));
    let (orig_rst, resp_rst) = (tcp.sent_rst(0), tcp.sent_rst(1));
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
    if orig_syn && !resp_synack {
        return if resp_rst {
            (
                "REJ",
                format!(
                    "refused: the SYN was answered by RST (nothing listens on {})",
                    conv.server
                ),
            )
        } else if orig_rst {
            (
                "RSTOS0",
                "the client gave up with RST before any answer".to_string(),
            )
        } else if orig_fin {
            (
                "SH",
                "the client sent SYN then FIN without an answer".to_string(),
            )
        } else {
            ("S0", format!("no answer to the SYN{retries}"))
        };
    }
    if resp_synack && !orig_syn {
        return if resp_rst {
            (
                "RSTRH",
                "capture began after the client's SYN; the server reset".to_string(),
            )
        } else if resp_fin {
            (
                "SHR",
                "capture began after the client's SYN; the server closed".to_string(),
            )
        } else {
            ("OTH", "capture began after the client's SYN".to_string())
        };
    }
    let midstream = if orig_syn {
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
    let (state, text) = if orig_rst || resp_rst {
        let by = if orig_rst { "client" } else { "server" };
        (
            if orig_rst { "RSTO" } else { "RSTR" },
            format!("aborted: the {by} reset the connection (RST)"),
        )
    } else if orig_fin && resp_fin && tcp.simultaneous_close {
        (
            "SF",
            "closed normally, both at once (simultaneous close): both sides hold TIME-WAIT"
                .to_string(),
        )
    } else if orig_fin && resp_fin {
        (
            "SF",
            format!("closed normally; the {closer} closed first and holds TIME-WAIT"),
        )
    } else if orig_fin {
        (
            "S2",
            "half-closed: the client sent FIN, the server has not closed".to_string(),
        )
    } else if resp_fin {
        (
            "S3",
            "half-closed: the server sent FIN, the client has not closed".to_string(),
        )
    } else if orig_syn {
        (
            "S1",
            "established, still open when the capture ended".to_string(),
        )
    } else {
        ("OTH", "still open when the capture ended".to_string())
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

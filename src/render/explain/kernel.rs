//! The kernel's events in words: `kernel: the server's socket ESTABLISHED -> CLOSE-WAIT`.

use std::fmt::Write as _;

use crate::call::KernelLine;
use crate::kernel::{KernelEvent, ResetReason};
use crate::sockets::errno_name;
use crate::track::state::TcpState;

/// Whose socket: "the client's socket 127.0.0.1:52962" when the tracker
/// tied it to a conversation, else its address.
fn whose(k: &KernelLine, local: std::net::SocketAddr) -> String {
    match k.client_side {
        Some(true) => format!("the client's socket {local}"),
        Some(false) => format!("the server's socket {local}"),
        None => format!("socket {local}"),
    }
}

/// What a reset reason means, for a student.
pub fn reason_text(reason: ResetReason) -> &'static str {
    match reason {
        ResetReason::NotSpecified => "the kernel gave no reason",
        ResetReason::NoSocket => "no socket for this segment: nothing listens there, or the connection is gone",
        ResetReason::AbortOnClose => "its program closed the socket with received data still unread",
        ResetReason::AbortOnLinger => {
            "closed with TCP_LINGER2 below 0: the kernel would not wait in FIN-WAIT-2 for the peer's FIN"
        }
        ResetReason::AbortOnState => {
            "the kernel tore the connection down at once (close() after SO_LINGER {1, 0}, the \
             listening socket closed while the connection waited for accept(), or \
             connect(AF_UNSPEC)), and the peer must be told"
        }
        ResetReason::AbortOnData => "data arrived for a socket its program had already closed",
        ResetReason::AbortOnMemory => "out of memory for closed (orphaned) sockets",
        ResetReason::KeepaliveTimeout => "its keep-alive probes went unanswered",
        ResetReason::TimewaitSocket => "a TIME-WAIT socket answered a segment that did not fit",
        ResetReason::BadAck => "the segment acknowledged data never sent (or too old)",
        ResetReason::BadSegment => "the segment's flags were invalid, or a SYN came inside the window",
        ResetReason::Other => "a reason this program does not know",
    }
}

/// Where the kernel's state and the packets' differ, say so and why when
/// it is known. (Agreement says nothing: JSON's `agrees` has it.)
fn against_inference(k: &KernelLine, out: &mut String) {
    let (Some(inferred), Some(kernel)) = (k.inferred, k.kernel_view) else {
        return;
    };
    if inferred == kernel || inferred == TcpState::Unknown {
        return;
    }
    let _ = match kernel {
        TcpState::FinWait1 | TcpState::LastAck => write!(
            out,
            "; the packets still say {inferred}: they show the close with this socket's FIN, which \
             leaves after any data still queued"
        ),
        TcpState::Closed
            if !matches!(
                inferred,
                TcpState::SynSent | TcpState::SynReceived | TcpState::Listen
            ) =>
        {
            write!(
                out,
                "; the packets still say {inferred}: they show the abort with this socket's RST"
            )
        }
        _ => write!(out, "; the packets alone say {inferred}"),
    };
}

/// One line for a kernel event.
pub fn kernel_text(k: &KernelLine) -> String {
    let mut out = String::from("kernel: ");
    let _ = match &k.event {
        KernelEvent::State {
            local,
            remote,
            old,
            new,
        } => {
            if local.port() == 0 {
                let _ = write!(out, "a new socket {old} -> {new}");
            } else {
                let _ = write!(out, "{} {old} -> {new}", whose(k, *local));
            }
            match (old, new, remote) {
                (TcpState::Closed, TcpState::SynSent, _) => {
                    out.push_str(" (connect(): its port is chosen next)")
                }
                (TcpState::Closing, TcpState::Closed, _) => out.push_str(
                    ": Linux replaces the socket with a small TIME-WAIT socket here; TIME-WAIT is \
                     never reported as a state (ss lists it)",
                ),
                (TcpState::FinWait2, TcpState::Closed, _) => out.push_str(match k.kernel_view {
                    Some(TcpState::TimeWait) => {
                        ": this is the socket entering TIME-WAIT: Linux replaces it with a small \
                         time-wait socket and reports CLOSED, never TIME-WAIT (ss lists it)"
                    }
                    Some(TcpState::FinWait2) => {
                        ": closed by its program before the peer's FIN came, the socket lives on as \
                         a small time-wait socket still in FIN-WAIT-2, waiting for that FIN (up to \
                         net.ipv4.tcp_fin_timeout, 60 s); Linux reports CLOSED (ss lists it)"
                    }
                    _ => {
                        ": Linux replaces the socket with a small time-wait socket here, never \
                         reported as a state (ss lists it): in TIME-WAIT if the peer's FIN came, \
                         otherwise still FIN-WAIT-2, waiting for it"
                    }
                }),
                (TcpState::Listen, TcpState::SynReceived, _) => {
                    out.push_str(" (a new socket for the connection, not yet accepted)")
                }
                _ => {}
            }
            against_inference(k, &mut out);
            Ok(())
        }
        KernelEvent::SentReset {
            local,
            remote,
            state,
            reason,
        } => {
            let _ = write!(out, "{} sent a RST to {remote}", whose(k, *local));
            if let Some(frame) = k.frame {
                let _ = write!(out, " (#{frame})");
            }
            if let Some(state) = state {
                let _ = write!(out, " in {state}");
            }
            match reason {
                Some(r) => write!(out, ": {}", reason_text(*r)),
                None => out.write_str(": this kernel does not say why"),
            }
        }
        KernelEvent::ReceivedReset { local, .. } => {
            write!(
                out,
                "{} received the RST: its next call fails",
                whose(k, *local)
            )
        }
        KernelEvent::Retransmit {
            local,
            remote,
            state,
        } => {
            let _ = write!(
                out,
                "{} sends a segment to {remote} again",
                whose(k, *local)
            );
            if let Some(s) = state {
                let _ = write!(out, " ({s})");
            }
            out.write_str(": it was not acknowledged in time")
        }
        KernelEvent::SynAckRetransmit { local, remote } => write!(
            out,
            "{} sends its SYN-ACK to {remote} again: the handshake's last ACK did not come",
            whose(k, *local)
        ),
        KernelEvent::Probe {
            local,
            figures:
                crate::kernel::ProbeFigures {
                    data_len,
                    cwnd,
                    ssthresh,
                    snd_wnd,
                    srtt_us,
                    rcv_wnd,
                },
            ..
        } => {
            let _ = write!(
                out,
                "{} after a segment of {data_len} bytes: congestion window {cwnd} segments, ",
                whose(k, *local)
            );
            let _ = match ssthresh {
                Some(s) => write!(out, "slow-start threshold {s}, "),
                None => out.write_str("in slow start (no threshold yet), "),
            };
            write!(
                out,
                "smoothed RTT {srtt_us} µs, peer's window {snd_wnd} bytes, its own {rcv_wnd} bytes"
            )
        }
        KernelEvent::SocketError {
            local, errno, udp, ..
        } => {
            let name = match errno_name(*errno) {
                "E?" => format!("errno {errno}"),
                name => name.to_string(),
            };
            write!(
                out,
                "error {name} handed to the {} socket {local}: its next call returns it",
                if *udp { "UDP" } else { "TCP" }
            )
        }
    };
    out
}

//! Causes from calls: when the socket calls are known (demo, serve/client
//! `--capture`, trace), a FIN or RST is tied to the close() or shutdown()
//! that sent it, on the same socket, shortly before. Without calls nothing
//! here runs and the explanation names the possible causes instead.

use std::net::SocketAddr;

use super::event::{Cause, Event};
use crate::call::{Call, Op, SocketKind};

/// How long after a call its FIN or RST may follow: a FIN waits behind
/// queued data (a zero window can hold it for seconds).
const WITHIN_NS: i64 = 10_000_000_000;

/// At most this many calls wait for their packet (a program that closes
/// many sockets whose packets were not captured cannot grow the list).
const MAX_PENDING: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Pending {
    local: SocketAddr,
    /// `None` for a listening socket.
    remote: Option<SocketAddr>,
    cause: Cause,
    pid: Option<u32>,
    ts_ns: i64,
}

#[derive(Debug, Default)]
pub struct Causes {
    pending: Vec<Pending>,
    /// Sockets with SO_LINGER {1, 0} set: their close() aborts.
    linger0: Vec<(SocketAddr, Option<SocketAddr>)>,
}

impl Causes {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Hear of a call that succeeded on a TCP socket with a known address.
    pub fn call(&mut self, call: &Call) {
        let (Some(local), Some(SocketKind::Tcp), Some(_)) =
            (call.local, call.socket, call.returned())
        else {
            return;
        };
        let ends = (local, call.remote);
        let cause = match call.op {
            Op::Setsockopt => {
                if let Some((name, value)) = &call.args.option {
                    if name == "SO_LINGER" && value.ends_with("l_linger=0}") {
                        self.linger0.push(ends);
                        self.linger0.truncate(MAX_PENDING);
                    }
                }
                return;
            }
            Op::Shutdown if matches!(call.args.how, Some("SHUT_WR" | "SHUT_RDWR")) => {
                Cause::Shutdown
            }
            Op::ProcessExit if call.remote.is_some() => Cause::ProcessExit,
            Op::Close if call.remote.is_none() => Cause::CloseListener,
            Op::Close => match self.linger0.iter().position(|&e| e == ends) {
                Some(i) => {
                    self.linger0.swap_remove(i);
                    Cause::CloseLinger0
                }
                None => Cause::Close,
            },
            _ => return,
        };
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(Pending {
            local,
            remote: call.remote,
            cause,
            pid: call.pid,
            ts_ns: call.ts_ns,
        });
    }

    /// If `events` (of a segment `src -> dst` at `ts_ns`) hold a FIN or
    /// RST, add the call that sent it, when one is pending.
    pub fn attach(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        ts_ns: i64,
        events: &mut Vec<Event>,
    ) {
        self.pending
            .retain(|p| crate::time::since(ts_ns, p.ts_ns) <= WITHIN_NS);
        let fin = events.iter().any(|e| {
            matches!(
                e,
                Event::Fin | Event::AnsweringFin { .. } | Event::SimultaneousClose
            )
        });
        let rst = events.iter().any(|e| matches!(e, Event::Rst { .. }));
        if !fin && !rst {
            return;
        }
        // The newest call on this connection's socket; for a RST, also a
        // listener closed on the same port (its queued connections reset).
        let found = self.pending.iter().rposition(|p| {
            p.ts_ns <= ts_ns
                && if p.remote.is_some() {
                    p.local == src && p.remote == Some(dst)
                } else {
                    rst && p.local.port() == src.port()
                        && (p.local.ip().is_unspecified() || p.local.ip() == src.ip())
                }
        });
        let Some(i) = found else { return };
        let p = self.pending[i];
        // A connection's close sends one FIN or RST; a listener's close
        // may reset several connections.
        if p.remote.is_some() {
            self.pending.remove(i);
        }
        events.push(Event::CausedBy {
            cause: p.cause,
            pid: p.pid,
            before_ns: crate::time::since(ts_ns, p.ts_ns),
        });
    }
}

//! Message boundaries, from calls: when both ends' calls are known (demo,
//! trace of both programs), each recv is matched against the peer's sends
//! by byte offset, so a recv that returns the bytes of two sends says so:
//! TCP keeps no message boundaries.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::call::{Call, SocketKind};

/// At most this many connections are followed at once.
const MAX_STREAMS: usize = 4096;

/// One direction of a connection, from its sender's calls.
#[derive(Debug, Default)]
struct Stream {
    /// Where each send not yet wholly read ends, as a byte offset.
    send_ends: std::collections::VecDeque<u64>,
    sent: u64,
    read: u64,
}

/// Keyed by the sender's (local, remote) addresses.
#[derive(Debug, Default)]
pub struct Streams {
    streams: HashMap<(SocketAddr, SocketAddr), Stream>,
}

impl Streams {
    /// Hear of a call; a recv gets `from_sends`, how many of the peer's
    /// sends its bytes came from, when the peer's sends were seen.
    pub fn call(&mut self, call: &mut Call) {
        let (Some(local), Some(remote), Some(SocketKind::Tcp)) =
            (call.local, call.remote, call.socket)
        else {
            return;
        };
        let op = call.op;
        let Some(returned) = call.returned_mut() else {
            return;
        };
        let n = returned
            .value
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        if op.sends() && n > 0 {
            if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&(local, remote)) {
                self.streams.clear();
            }
            let s = self.streams.entry((local, remote)).or_default();
            s.sent += n;
            s.send_ends.push_back(s.sent);
        } else if op.receives() && n > 0 {
            // Bytes read before any send was seen (the capture started
            // late, or the sender is not traced): nothing is said.
            let Some(s) = self.streams.get_mut(&(remote, local)) else {
                return;
            };
            let (from, to) = (s.read, s.read + n);
            if to > s.sent {
                self.streams.remove(&(remote, local));
                return;
            }
            // Sends wholly read before are gone from the list: the first
            // one left starts at or before `from`.
            let mut start = from;
            let mut count = 0u32;
            for &end in &s.send_ends {
                if end > from && start < to {
                    count += 1;
                }
                start = end;
                if end >= to {
                    break;
                }
            }
            while s.send_ends.front().is_some_and(|&e| e <= to) {
                s.send_ends.pop_front();
            }
            s.read = to;
            returned.from_sends = Some(count);
        } else if op == crate::call::Op::Close {
            self.streams.remove(&(local, remote));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Streams;
    use crate::call::{Call, Op, Outcome, Returned, SocketKind};

    fn call(op: Op, from: &str, to: &str, n: i64) -> Call {
        let mut c = Call::new(op)
            .on(SocketKind::Tcp)
            .ends(from.parse().ok(), to.parse().ok());
        c.outcome = Outcome::Ok(Returned {
            value: Some(n),
            ..Returned::default()
        });
        c
    }

    #[test]
    fn a_recv_of_two_sends_counts_both() {
        let (a, b) = ("127.0.0.1:1000", "127.0.0.1:2000");
        let mut s = Streams::default();
        s.call(&mut call(Op::Send, a, b, 22));
        s.call(&mut call(Op::Send, a, b, 22));
        let mut r = call(Op::Recv, b, a, 44);
        s.call(&mut r);
        assert_eq!(r.returned().unwrap().from_sends, Some(2));
        // One send read in two recvs: each is part of one send.
        s.call(&mut call(Op::Send, a, b, 10));
        let mut r = call(Op::Recv, b, a, 4);
        s.call(&mut r);
        assert_eq!(r.returned().unwrap().from_sends, Some(1));
        let mut r = call(Op::Recv, b, a, 6);
        s.call(&mut r);
        assert_eq!(r.returned().unwrap().from_sends, Some(1));
    }
}

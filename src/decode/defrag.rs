//! IP reassembly: the fragments of one datagram are gathered until it is
//! whole, and the datagram is decoded at the fragment that completed it, as
//! tshark does. Each fragment row says which datagram it belongs to and
//! which bytes it carries.
//!
//! etherparse's `IpDefragBuf` puts the bytes together (a later fragment
//! overwrites what an earlier one carried, where they overlap). Its pool
//! has no bounds (its documentation says so), so this keeps its own, with
//! limits: [`MAX_DATAGRAMS`], [`MAX_BYTES`], [`MAX_FRAGMENTS`] and
//! [`TIMEOUT_NS`] of capture time, Linux's `ipfrag_time`.

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::defrag::IpDefragBuf;
use etherparse::{IpFragOffset, IpNumber};

use super::{Packet, Reassembled, Transport};

/// Datagrams being put together at once; past this the oldest is dropped.
pub const MAX_DATAGRAMS: usize = 256;
/// Bytes held for unfinished datagrams, in all.
pub const MAX_BYTES: usize = 4 << 20;
/// Fragments of one datagram.
pub const MAX_FRAGMENTS: u16 = 256;
/// An unfinished datagram is dropped after this long (capture time).
pub const TIMEOUT_NS: i64 = 30 * 1_000_000_000;

/// One datagram: RFC 791's (source, destination, protocol, identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    id: u32,
}

struct Partial {
    buf: IpDefragBuf,
    first_ns: i64,
    fragments: u16,
}

/// Gathers fragments; hands back each packet, the completing one with its
/// datagram decoded.
#[derive(Default)]
pub struct Reassembler {
    pending: HashMap<Key, Partial>,
    /// The last datagram put together (the packet returned borrows it).
    done: Vec<u8>,
}

impl Reassembler {
    pub fn new() -> Reassembler {
        Reassembler::default()
    }

    fn held(&self) -> usize {
        self.pending.values().map(|p| p.buf.data().len()).sum()
    }

    /// Drop the unfinished datagrams that are too old, and, to make room
    /// for `more` bytes, the oldest ones.
    fn make_room(&mut self, now: i64, more: usize) {
        self.pending
            .retain(|_, p| crate::time::since(now, p.first_ns) <= TIMEOUT_NS);
        while !self.pending.is_empty()
            && (self.pending.len() >= MAX_DATAGRAMS || self.held() + more > MAX_BYTES)
        {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_ns)
                .map(|(k, _)| *k);
            if let Some(key) = oldest {
                self.pending.remove(&key);
            }
        }
    }

    /// `packet` as it goes on: unchanged unless it is the fragment that
    /// completes a datagram, which then carries the datagram's transport.
    /// Inlined, so that a packet that is no fragment (nearly all) is not
    /// moved in and out (a copy of 232 bytes each way).
    #[inline]
    pub fn feed<'b>(&'b mut self, packet: Packet<'b>) -> Packet<'b> {
        match (packet.ip, packet.transport) {
            (Some(ip), Transport::Other { .. }) if ip.fragment.is_some() => self.fragment(packet),
            _ => packet,
        }
    }

    fn fragment<'b>(&'b mut self, mut packet: Packet<'b>) -> Packet<'b> {
        let (Some(ip), Transport::Other { protocol }) = (packet.ip, packet.transport) else {
            return packet;
        };
        let Some(fragment) = ip.fragment else {
            return packet;
        };
        // A fragment the capture cut cannot be put back together.
        if packet.truncated || packet.payload.len() as u32 != packet.fragment_len {
            return packet;
        }
        let Ok(offset) = u16::try_from(fragment.offset / 8).map(IpFragOffset::try_new) else {
            return packet;
        };
        let Ok(offset) = offset else {
            return packet;
        };
        let key = Key {
            src: ip.src,
            dst: ip.dst,
            protocol,
            id: fragment.id,
        };
        if !self.pending.contains_key(&key) {
            self.make_room(packet.ts_ns, packet.payload.len());
            self.pending.insert(
                key,
                Partial {
                    buf: IpDefragBuf::new(IpNumber(protocol), Vec::new(), Vec::new()),
                    first_ns: packet.ts_ns,
                    fragments: 0,
                },
            );
        }
        let Some(partial) = self.pending.get_mut(&key) else {
            return packet;
        };
        partial.fragments = partial.fragments.saturating_add(1);
        let added = partial
            .buf
            .add(offset, fragment.more_fragments, packet.payload);
        if added.is_err() || partial.fragments > MAX_FRAGMENTS {
            // Fragments that contradict each other (two ends), or too many:
            // this datagram is given up, as a kernel would.
            self.pending.remove(&key);
            return packet;
        }
        if !partial.buf.is_complete() {
            return packet;
        }
        let Some(partial) = self.pending.remove(&key) else {
            return packet;
        };
        let fragments = partial.fragments;
        self.done = partial.buf.take_bufs().0;
        packet.reassembled = Some(Reassembled {
            fragments,
            len: self.done.len() as u32,
            id: fragment.id,
        });
        super::datagram_transport(protocol, ip.src.is_ipv6(), &self.done, &mut packet);
        packet
    }

    /// Datagrams still waiting for fragments.
    pub fn unfinished(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::link::LinkType;
    use crate::capture::RawFrame;
    use crate::decode::decode;

    /// A raw IPv4 fragment of UDP datagram `id`.
    fn fragment(id: u16, offset: u16, more: bool, bytes: &[u8]) -> Vec<u8> {
        let flags = if more { 0x2000 } else { 0 } | (offset / 8);
        let total = (20 + bytes.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&flags.to_be_bytes());
        p.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(bytes);
        p
    }

    /// Feed `data` at `ts_ns`; whether it completed a datagram.
    fn feed(r: &mut Reassembler, data: &[u8], ts_ns: i64) -> bool {
        let frame = RawFrame {
            index: 1,
            ts_ns,
            link: LinkType::RawIp,
            orig_len: data.len() as u32,
            data,
        };
        r.feed(decode(&frame)).reassembled.is_some()
    }

    fn datagram() -> Vec<u8> {
        let mut d = vec![0x9c, 0x41, 0x23, 0x28, 0, 24, 0, 0];
        d.extend_from_slice(&[b'x'; 16]);
        d
    }

    #[test]
    fn pieces_in_any_order_make_the_datagram_once() {
        let d = datagram();
        let mut r = Reassembler::new();
        assert!(!feed(&mut r, &fragment(7, 16, false, &d[16..]), 0));
        assert_eq!(r.unfinished(), 1);
        assert!(feed(&mut r, &fragment(7, 0, true, &d[..16]), 1));
        assert_eq!(r.unfinished(), 0);
    }

    #[test]
    fn a_datagram_older_than_the_timeout_is_dropped() {
        let d = datagram();
        let mut r = Reassembler::new();
        feed(&mut r, &fragment(8, 0, true, &d[..16]), 0);
        // Another datagram's piece, past the timeout, sweeps the old one.
        feed(&mut r, &fragment(9, 0, true, &d[..16]), TIMEOUT_NS + 1);
        assert!(!feed(
            &mut r,
            &fragment(8, 16, false, &d[16..]),
            TIMEOUT_NS + 2
        ));
    }

    #[test]
    fn pending_datagrams_are_bounded_and_the_oldest_goes() {
        let d = datagram();
        let mut r = Reassembler::new();
        for id in 0..(MAX_DATAGRAMS as u16 + 10) {
            feed(&mut r, &fragment(id, 0, true, &d[..16]), i64::from(id));
        }
        assert_eq!(r.unfinished(), MAX_DATAGRAMS);
        // Datagram 0 was dropped to make room; the newest still completes.
        assert!(!feed(&mut r, &fragment(0, 16, false, &d[16..]), 1_000));
        let newest = MAX_DATAGRAMS as u16 + 9;
        assert!(feed(&mut r, &fragment(newest, 16, false, &d[16..]), 1_001));
    }

    #[test]
    fn pieces_that_disagree_on_the_end_give_the_datagram_up() {
        let d = datagram();
        let mut r = Reassembler::new();
        feed(&mut r, &fragment(5, 16, false, &d[16..]), 0);
        // A second "last" piece ending elsewhere.
        feed(&mut r, &fragment(5, 8, false, &d[8..16]), 1);
        assert_eq!(r.unfinished(), 0);
        assert!(!feed(&mut r, &fragment(5, 0, true, &d[..16]), 2));
    }
}

//! Zeek's connection history, by its rules (base/protocols/conn/main.zeek):
//! upper case for the originator (client), lower case for the responder;
//! `a` and `d` at most once per direction; `s`, `h`, `f` and `r` again only
//! when the sequence number differs from the last packet with that flag;
//! `t` (retransmitted payload) and `w` (zero window) logarithmically: the
//! 1st, 10th, 100th, ... occurrence.

use super::flow::Direction;

#[derive(Debug, Default, Clone)]
pub struct History {
    text: String,
    /// Per direction: last sequence number seen with s, h, f, r.
    last_seq: [[Option<u32>; 4]; 2],
    /// Per direction: how many t and w seen.
    counts: [[u64; 2]; 2],
}

/// One history letter, with what its repetition rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    /// A SYN without ACK, at this sequence number.
    Syn(u32),
    /// A SYN+ACK.
    SynAck(u32),
    /// A pure ACK.
    Ack,
    /// A packet with payload.
    Data,
    Fin(u32),
    Rst(u32),
    /// A packet with retransmitted payload.
    Retransmission,
    ZeroWindow,
}

impl History {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The history's letters, taken (the conversation is over): the
    /// summary keeps them without a copy.
    pub fn take_text(&mut self) -> String {
        std::mem::take(&mut self.text)
    }

    pub fn record(&mut self, direction: Direction, letter: Letter) {
        let side = direction.sender();
        let add = match letter {
            Letter::Ack => !self.has(direction, 'a'),
            Letter::Data => !self.has(direction, 'd'),
            Letter::Syn(seq) => self.new_seq(side, 0, seq),
            Letter::SynAck(seq) => self.new_seq(side, 1, seq),
            Letter::Fin(seq) => self.new_seq(side, 2, seq),
            Letter::Rst(seq) => self.new_seq(side, 3, seq),
            Letter::Retransmission => self.count(side, 0),
            Letter::ZeroWindow => self.count(side, 1),
        };
        if add {
            let c = match letter {
                Letter::Syn(_) => 's',
                Letter::SynAck(_) => 'h',
                Letter::Ack => 'a',
                Letter::Data => 'd',
                Letter::Fin(_) => 'f',
                Letter::Rst(_) => 'r',
                Letter::Retransmission => 't',
                Letter::ZeroWindow => 'w',
            };
            self.text.push(match direction {
                Direction::ClientToServer => c.to_ascii_uppercase(),
                Direction::ServerToClient => c,
            });
        }
    }

    fn has(&self, direction: Direction, lower: char) -> bool {
        let c = match direction {
            Direction::ClientToServer => lower.to_ascii_uppercase(),
            Direction::ServerToClient => lower,
        };
        self.text.contains(c)
    }

    fn new_seq(&mut self, side: usize, flag: usize, seq: u32) -> bool {
        let last = &mut self.last_seq[side][flag];
        let new = *last != Some(seq);
        *last = Some(seq);
        new
    }

    /// True on the 1st, 10th, 100th, ... occurrence.
    fn count(&mut self, side: usize, which: usize) -> bool {
        let n = &mut self.counts[side][which];
        *n += 1;
        let mut power = 1;
        while power < *n {
            power *= 10;
        }
        power == *n
    }
}

#[cfg(test)]
mod tests {
    use super::{History, Letter};
    use crate::track::flow::Direction::{ClientToServer as C, ServerToClient as S};

    #[test]
    fn retried_syns_are_one_letter_and_new_isns_another() {
        let mut h = History::default();
        for _ in 0..3 {
            h.record(C, Letter::Syn(7));
        }
        assert_eq!(h.as_str(), "S");
        h.record(C, Letter::Syn(9));
        assert_eq!(h.as_str(), "SS");
    }

    #[test]
    fn retransmissions_are_logarithmic_and_acks_once() {
        let mut h = History::default();
        for _ in 0..100 {
            h.record(S, Letter::Retransmission);
            h.record(S, Letter::Ack);
        }
        assert_eq!(h.as_str(), "tatt");
    }
}

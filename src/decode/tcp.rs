//! TCP as decoded from the wire: sequence numbers, flags and options.

use std::cmp::Ordering;
use std::fmt;

/// A TCP sequence number. Comparisons follow RFC 9293 §3.4 serial-number
/// arithmetic, so 5 comes "after" 4294967290 across the wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Distance from `base` forward to `self`, modulo 2^32.
    pub fn since(self, base: SeqNum) -> u32 {
        self.0.wrapping_sub(base.0)
    }

    pub fn wrapping_add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some((self.0.wrapping_sub(other.0) as i32).cmp(&0))
    }
}

/// The eight flag bits, in header order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
    /// Names in bit order, which is also Wireshark's order.
    pub const NAMES: [(u8, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(bit, _)| self.has(*bit))
            .map(|(_, name)| name)
    }

    /// Wireshark's form, `SYN,ACK` (`none` for no flag), appended to `out`
    /// (the Display form, without core::fmt: it is in every text row).
    pub fn push_names(self, out: &mut String) {
        out.push_str(&flag_texts()[usize::from(self.0)].0);
    }

    /// The flags as a JSON array of names, `["SYN","ACK"]`.
    pub fn json_names(self) -> &'static str {
        &flag_texts()[usize::from(self.0)].1
    }

    /// tcpdump's compact form: `S`, `S.`, `P.`, `F.`, `R`, `.` for a bare ACK.
    pub fn tcpdump(self) -> String {
        let mut s = String::with_capacity(4);
        for (bit, c) in [
            (Self::FIN, 'F'),
            (Self::SYN, 'S'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.has(bit) {
                s.push(c);
            }
        }
        if self.ack() {
            s.push('.');
        }
        if s.is_empty() {
            s.push('-');
        }
        s
    }
}

/// Each flag byte's names, as text and as a JSON array, made once: every
/// row shows its packet's flags, and joining the names each time was a
/// tenth of writing a text row (callgrind).
fn flag_texts() -> &'static [(String, String)] {
    static TEXTS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    TEXTS.get_or_init(|| {
        (0..=255u8)
            .map(|byte| {
                let names: Vec<&str> = TcpFlags(byte).names().collect();
                let text = if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(",")
                };
                let json = format!(
                    "[{}]",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                (text, json)
            })
            .collect()
    })
}

impl fmt::Display for TcpFlags {
    /// Wireshark's form: `SYN,ACK`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = String::new();
        self.push_names(&mut names);
        f.write_str(&names)
    }
}

/// The options students meet on loopback (RFC 9293, 7323, 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// Number of SACK blocks carried (each says "I have these bytes too").
    pub sack_blocks: u8,
    /// (TSval, TSecr)
    pub timestamp: Option<(u32, u32)>,
}

/// One TCP segment. `ack` is present only when the ACK flag is set, so the
/// acknowledgment field of a SYN (meaningless, often 0) cannot be misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: TcpFlags,
    /// The raw window field; multiply by 2^scale once the handshake agreed one.
    pub window: u16,
    pub options: TcpOptions,
    /// Payload bytes on the wire (from the IP length, so snaplen does not shrink it).
    pub payload_len: u32,
}

impl TcpSegment {
    /// Sequence space this segment occupies: payload plus one for SYN and for FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

#[cfg(test)]
mod tests {
    use super::{SeqNum, TcpFlags};

    #[test]
    fn seq_compares_across_wraparound() {
        let before = SeqNum(u32::MAX - 5);
        let after = before.wrapping_add(10);
        assert_eq!(after, SeqNum(4));
        assert!(before < after);
        assert_eq!(after.since(before), 10);
    }

    #[test]
    fn flags_print_like_wireshark_and_tcpdump() {
        let f = TcpFlags(TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(f.to_string(), "SYN,ACK");
        assert_eq!(f.tcpdump(), "S.");
        assert_eq!(TcpFlags(TcpFlags::RST).tcpdump(), "R");
        assert_eq!(TcpFlags(TcpFlags::ACK).tcpdump(), ".");
    }

    #[test]
    fn every_flag_byte_is_named_in_text_and_json() {
        for byte in 0..=255u8 {
            let flags = TcpFlags(byte);
            let names: Vec<&str> = flags.names().collect();
            let mut text = String::new();
            flags.push_names(&mut text);
            let want = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(",")
            };
            assert_eq!(text, want);
            assert_eq!(flags.to_string(), want);
            let json: Vec<String> = serde_json::from_str(flags.json_names()).unwrap();
            assert_eq!(json, names);
        }
    }
}

//! Link types: which header sits in front of the IP packet.
//!
//! Numbers are LINKTYPE_* values from pcap/pcapng file headers, plus the few
//! DLT_* values libpcap reports for live captures that differ from them
//! (DLT_RAW is 12 on Linux, 14 on OpenBSD; files say LINKTYPE_RAW = 101).

use std::fmt;

/// The link-layer framing of a frame, decided once per interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// BSD loopback (macOS `lo0`): a 4-byte address family in the byte order of
    /// the capturing host.
    Null,
    /// Ethernet, possibly with VLAN tags. Linux `lo` uses an all-zero header.
    Ethernet,
    /// OpenBSD loopback: like `Null`, but the family is always big-endian.
    Loop,
    /// Linux cooked capture v1 (`-i any` on older libpcap, `-y LINUX_SLL`).
    LinuxSll,
    /// Linux cooked capture v2 (`-i any`, tcpdump's default there).
    LinuxSll2,
    /// Raw IP, version read from the first nibble.
    RawIp,
    /// Raw IPv4 only.
    Ipv4,
    /// Raw IPv6 only.
    Ipv6,
    /// Anything else, with its number, so the error can name it.
    Unknown(u32),
}

impl LinkType {
    /// From a LINKTYPE_ number (file header or pcapng IDB) or a DLT_ number
    /// (libpcap's `datalink()`); the two agree except for raw IP.
    pub fn from_number(n: u32) -> LinkType {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::RawIp,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }

    /// The LINKTYPE_ number written to files.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Unknown(n) => n,
        }
    }

    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Unknown(_))
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkType::Null => f.write_str("NULL (BSD loopback)"),
            LinkType::Ethernet => f.write_str("EN10MB (Ethernet)"),
            LinkType::Loop => f.write_str("LOOP (OpenBSD loopback)"),
            LinkType::LinuxSll => f.write_str("LINUX_SLL (Linux cooked v1)"),
            LinkType::LinuxSll2 => f.write_str("LINUX_SLL2 (Linux cooked v2)"),
            LinkType::RawIp => f.write_str("RAW (raw IP)"),
            LinkType::Ipv4 => f.write_str("IPV4 (raw IPv4)"),
            LinkType::Ipv6 => f.write_str("IPV6 (raw IPv6)"),
            LinkType::Unknown(n) => write!(f, "{n} ({})", linktype_name(*n)),
        }
    }
}

/// Names of common link types wirelab does not decode, so the error says
/// more than a number.
fn linktype_name(n: u32) -> &'static str {
    match n {
        6 => "IEEE802_5 token ring",
        9 => "PPP",
        10 => "FDDI",
        50 => "PPP_HDLC",
        104 => "C_HDLC",
        105 => "IEEE802_11 Wi-Fi",
        119 => "IEEE802_11_PRISM",
        127 => "IEEE802_11_RADIOTAP",
        143 => "DOCSIS",
        147..=162 => "USER",
        192 => "PPI",
        195 => "IEEE802_15_4",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        220 => "USB_LINUX_MMAPPED",
        253 => "NETLINK",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::LinkType;

    #[test]
    fn raw_ip_numbers_agree_between_dlt_and_linktype() {
        assert_eq!(LinkType::from_number(12), LinkType::RawIp);
        assert_eq!(LinkType::from_number(101), LinkType::RawIp);
        assert_eq!(LinkType::RawIp.number(), 101);
    }

    #[test]
    fn unknown_link_type_names_itself() {
        assert_eq!(
            LinkType::from_number(127).to_string(),
            "127 (IEEE802_11_RADIOTAP)"
        );
        assert!(!LinkType::from_number(127).is_supported());
    }
}

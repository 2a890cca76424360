//! `--hex`: each packet's IP and TCP/UDP header bytes as they travel, with
//! the fields they encode underneath, so byte order can be seen: port 12333
//! is the two bytes `30 2d`, most significant first (network byte order).
//! The fields are read again from the bytes here, not from the decoder, so
//! the view shows exactly what is on the wire.

use std::fmt::Write as _;

use crate::decode::{Packet, Transport};

/// Said once, before the first packet's bytes.
pub const BYTE_ORDER_NOTE: &str = "network byte order: multi-byte fields travel most significant \
byte first (big-endian), so port 12333 = 0x302d is sent as 30 2d; htons()/ntohs() convert to and \
from the host's order (little-endian on x86 and ARM)";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn u16_at(b: &[u8], at: usize) -> Option<(String, u16)> {
    let s = b.get(at..at + 2)?;
    Some((hex(s), u16::from_be_bytes([s[0], s[1]])))
}

fn u32_at(b: &[u8], at: usize) -> Option<(String, u32)> {
    let s = b.get(at..at + 4)?;
    Some((hex(s), u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
}

/// The lines for one packet: each header's bytes, then its fields with the
/// bytes that encode them. Empty when the packet has no TCP/UDP header.
pub fn header_lines(packet: &Packet<'_>) -> Vec<String> {
    let (ip, transport) = match packet
        .headers
        .split_at_checked(packet.ip_header_len as usize)
    {
        Some(parts) if !packet.headers.is_empty() => parts,
        _ => return Vec::new(),
    };
    let mut lines = Vec::new();
    match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => {
            lines.push(format!("IPv4 header ({} bytes): {}", ip.len(), hex(ip)));
            let mut l = format!(
                "  {:02x} = version 4, header {} x 4 = {} bytes",
                ip[0],
                ip[0] & 0x0f,
                usize::from(ip[0] & 0x0f) * 4
            );
            if let Some((h, v)) = u16_at(ip, 2) {
                let _ = write!(l, "; {h} = total length {v}");
            }
            let proto = match ip[9] {
                1 => " (ICMP)",
                6 => " (TCP)",
                17 => " (UDP)",
                _ => "",
            };
            let _ = write!(
                l,
                "; {:02x} = TTL {}; {:02x} = protocol {}{proto}",
                ip[8], ip[8], ip[9], ip[9]
            );
            lines.push(l);
            lines.push(format!(
                "  {} = source {}.{}.{}.{}; {} = destination {}.{}.{}.{}",
                hex(&ip[12..16]),
                ip[12],
                ip[13],
                ip[14],
                ip[15],
                hex(&ip[16..20]),
                ip[16],
                ip[17],
                ip[18],
                ip[19]
            ));
        }
        Some(6) if ip.len() >= 40 => {
            lines.push(format!("IPv6 header ({} bytes): {}", ip.len(), hex(ip)));
            if let Some((h, v)) = u16_at(ip, 4) {
                lines.push(format!(
                    "  {h} = payload length {v}; {:02x} = next header {}; {:02x} = hop limit {}",
                    ip[6], ip[6], ip[7], ip[7]
                ));
            }
            lines.push(format!(
                "  {} = source; {} = destination",
                hex(&ip[8..24]),
                hex(&ip[24..40])
            ));
        }
        _ => lines.push(format!("IP header ({} bytes): {}", ip.len(), hex(ip))),
    }
    let name = match packet.transport {
        Transport::Tcp(_) => "TCP",
        _ => "UDP",
    };
    lines.push(format!(
        "{name} header ({} bytes): {}",
        transport.len(),
        hex(transport)
    ));
    let (Some((sh, sp)), Some((dh, dp))) = (u16_at(transport, 0), u16_at(transport, 2)) else {
        return lines;
    };
    lines.push(format!(
        "  {sh} = source port {sp} (0x{sp:04x}); {dh} = destination port {dp} (0x{dp:04x})"
    ));
    match packet.transport {
        Transport::Tcp(_) => {
            if let (Some((qh, q)), Some((ah, a))) = (u32_at(transport, 4), u32_at(transport, 8)) {
                lines.push(format!(
                    "  {qh} = sequence number {q}; {ah} = acknowledgment number {a}"
                ));
            }
            if let (Some((fh, f)), Some((wh, w))) = (u16_at(transport, 12), u16_at(transport, 14)) {
                let names: Vec<&str> = [
                    (0x100, "NS"),
                    (0x80, "CWR"),
                    (0x40, "ECE"),
                    (0x20, "URG"),
                    (0x10, "ACK"),
                    (0x08, "PSH"),
                    (0x04, "RST"),
                    (0x02, "SYN"),
                    (0x01, "FIN"),
                ]
                .into_iter()
                .filter(|(bit, _)| f & bit != 0)
                .map(|(_, n)| n)
                .collect();
                lines.push(format!(
                    "  {fh} = data offset {} x 4 = {} bytes, flag bits 0x{:03x} ({}); {wh} = window {w}",
                    f >> 12,
                    usize::from(f >> 12) * 4,
                    f & 0x1ff,
                    names.join(",")
                ));
            }
        }
        _ => {
            if let (Some((lh, l)), Some((ch, _))) = (u16_at(transport, 4), u16_at(transport, 6)) {
                lines.push(format!(
                    "  {lh} = length {l} (header + data); {ch} = checksum"
                ));
            }
        }
    }
    lines
}

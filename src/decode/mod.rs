//! Decoding frames into owned, typed packets.
//!
//! # Contract
//! [`decode`] takes any bytes and never panics: etherparse's lax slicers read
//! as far as the bytes go, and wirelab strips the link headers etherparse
//! lacks (Linux SLL2, BSD NULL/LOOP) with bounds-checked reads. What could not
//! be decoded is reported in [`Packet::issue`] (which layer, and why), not as
//! an error: one damaged packet never stops a replay.
//!
//! Lengths come from the IP header, not from the captured bytes, so a packet
//! cut by snaplen still reports its real payload length and is marked
//! `truncated`. Checksums are not verified: on loopback they are offloaded
//! and "wrong" in every capture, and a teaching tool must not flag that.
//!
//! The packet borrows its payload from the frame; everything else is copied
//! out, so trackers and renderers can keep what they need.

pub mod defrag;
pub mod tcp;

use std::net::IpAddr;

use etherparse::err::Layer;
use etherparse::{
    EtherType, IpNumber, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket, TcpOptionElement,
    TransportSlice,
};

use self::tcp::{SeqNum, TcpFlags, TcpOptions, TcpSegment};
use crate::capture::link::LinkType;
use crate::capture::RawFrame;

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    pub frame: u64,
    pub ts_ns: i64,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// The capture kept fewer bytes than the wire carried (snaplen).
    pub truncated: bool,
    pub ip: Option<IpInfo>,
    pub transport: Transport,
    /// The transport payload bytes that were captured (may be shorter than
    /// the payload length on the wire).
    pub payload: &'a [u8],
    /// Where and why decoding stopped early, if it did (boxed: it is rare,
    /// and every packet is the smaller by 32 bytes to copy).
    pub issue: Option<Box<DecodeIssue>>,
    /// The captured IP and TCP/UDP header bytes, as they are on the wire
    /// (for the `--hex` view); empty for other packets.
    pub headers: &'a [u8],
    /// How many of `headers` are the IP header (with IPv6 extension headers).
    pub ip_header_len: u32,
    /// A transport header whose length disagrees with the IP header: the
    /// header is decoded all the same (as tshark does) and this says how.
    pub length_lie: Option<LengthLie>,
    /// A fragment: how many bytes of the datagram it carries (on the wire).
    pub fragment_len: u32,
    /// The datagram this packet completed, reassembled from its fragments
    /// (decode::defrag): its transport was decoded from all of them.
    pub reassembled: Option<Reassembled>,
}

impl Packet<'_> {
    /// This packet without its borrowed bytes (`payload` and `headers`
    /// empty), to be kept past its frame; whoever keeps it keeps the bytes.
    pub fn detached(&self) -> Packet<'static> {
        Packet {
            frame: self.frame,
            ts_ns: self.ts_ns,
            wire_len: self.wire_len,
            truncated: self.truncated,
            ip: self.ip,
            transport: self.transport,
            payload: &[],
            issue: self.issue.clone(),
            headers: &[],
            ip_header_len: self.ip_header_len,
            length_lie: self.length_lie,
            fragment_len: self.fragment_len,
            reassembled: self.reassembled,
        }
    }
}

/// A datagram rebuilt from its IP fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembled {
    pub fragments: u16,
    /// The datagram's transport bytes (IP payload), all fragments together.
    pub len: u32,
    pub id: u32,
}

/// A TCP or UDP header whose own length disagrees with the IP header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthLie {
    /// UDP's length field (its 8-byte header included) is not what the IP
    /// header leaves for UDP. The IP header's figure is used.
    Udp { field: u16, ip_payload: u32 },
    /// TCP's data offset gives a header shorter than the 20-byte minimum,
    /// or longer than what follows the IP header.
    TcpHeader { header_len: u32, ip_payload: u32 },
}

/// Where `part` starts inside `whole`, if it is a sub-slice of it.
fn offset_in(whole: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Set when this packet is one fragment of a larger IP datagram.
    pub fragment: Option<Fragment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Byte offset of this fragment in the original datagram.
    pub offset: u32,
    pub more_fragments: bool,
    pub id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpSegment),
    Udp(UdpDatagram),
    Icmp(IcmpMessage),
    /// An IP protocol wirelab does not decode (its number), or a non-first
    /// fragment, whose transport header is in another packet.
    Other {
        protocol: u8,
    },
    /// No IP packet at all (ARP, a damaged header, ...).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram {
    pub src_port: u16,
    pub dst_port: u16,
    /// Payload bytes on the wire; 0 for an empty datagram.
    pub payload_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpMessage {
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// For error messages: the header of the packet this one answers.
    pub quoted: Option<Quoted>,
}

impl IcmpMessage {
    /// Port unreachable: ICMP 3/3 or ICMPv6 1/4.
    pub fn is_port_unreachable(&self) -> bool {
        (!self.v6 && self.icmp_type == 3 && self.code == 3)
            || (self.v6 && self.icmp_type == 1 && self.code == 4)
    }

    /// A short name, as tcpdump and Wireshark print it.
    pub fn describe(&self) -> &'static str {
        match (self.v6, self.icmp_type, self.code) {
            (false, 0, _) | (true, 129, _) => "echo reply",
            (false, 8, _) | (true, 128, _) => "echo request",
            (false, 3, 0) => "network unreachable",
            (false, 3, 1) => "host unreachable",
            (false, 3, 2) => "protocol unreachable",
            (false, 3, 3) | (true, 1, 4) => "port unreachable",
            (false, 3, 4) => "fragmentation needed",
            (false, 3, _) | (true, 1, _) => "destination unreachable",
            (false, 11, _) | (true, 3, _) => "time exceeded",
            (false, 12, _) | (true, 4, _) => "parameter problem",
            (true, 2, _) => "packet too big",
            (true, 133, _) => "router solicitation",
            (true, 134, _) => "router advertisement",
            (true, 135, _) => "neighbor solicitation",
            (true, 136, _) => "neighbor advertisement",
            (true, 143, _) => "multicast listener report v2",
            _ => "other ICMP message",
        }
    }
}

/// The start of the packet an ICMP error quotes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

/// Why decoding stopped before the end of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeIssue {
    /// The layer that could not be read: "link", "ip", "tcp", ...
    pub layer: &'static str,
    pub reason: String,
}

impl std::fmt::Display for DecodeIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} header: {}", self.layer, self.reason)
    }
}

fn issue(layer: &'static str, reason: impl Into<String>) -> Option<Box<DecodeIssue>> {
    Some(Box::new(DecodeIssue {
        layer,
        reason: reason.into(),
    }))
}

/// BSD address families that mean IPv4 / IPv6 in a NULL or LOOP header
/// (IPv6 is 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS).
fn family_is_ip(af: u32) -> bool {
    matches!(af, 2 | 24 | 28 | 30)
}

/// Strip the link header and slice the rest; `Err` says why nothing could be sliced.
fn slice_link(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, DecodeIssue> {
    let short = |need: usize| DecodeIssue {
        layer: "link",
        reason: format!(
            "{link} header needs {need} bytes, only {} captured",
            data.len()
        ),
    };
    let from_ip = |bytes| {
        LaxSlicedPacket::from_ip(bytes).map_err(|e| DecodeIssue {
            layer: "ip",
            reason: e.to_string(),
        })
    };
    match link {
        LinkType::Ethernet => LaxSlicedPacket::from_ethernet(data).map_err(|_| short(14)),
        LinkType::Null | LinkType::Loop => {
            let Some(header) = data.get(..4) else {
                return Err(short(4));
            };
            let raw = [header[0], header[1], header[2], header[3]];
            // NULL is in the capturing host's byte order, which the file does
            // not record; LOOP is big-endian. Accept either.
            let af = if family_is_ip(u32::from_le_bytes(raw)) {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            if !family_is_ip(af) {
                return Err(DecodeIssue {
                    layer: "link",
                    reason: format!("loopback address family {af} is not IPv4 or IPv6"),
                });
            }
            from_ip(&data[4..])
        }
        LinkType::LinuxSll => {
            // 16 bytes: packet type, ARPHRD, address length, 8 address bytes, protocol.
            let Some(proto) = data.get(14..16) else {
                return Err(short(16));
            };
            let ether_type = EtherType(u16::from_be_bytes([proto[0], proto[1]]));
            Ok(LaxSlicedPacket::from_ether_type(ether_type, &data[16..]))
        }
        LinkType::LinuxSll2 => {
            // 20 bytes: protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 address bytes.
            if data.len() < 20 {
                return Err(short(20));
            }
            let ether_type = EtherType(u16::from_be_bytes([data[0], data[1]]));
            Ok(LaxSlicedPacket::from_ether_type(ether_type, &data[20..]))
        }
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => from_ip(data),
        LinkType::Unknown(_) => Err(DecodeIssue {
            layer: "link",
            reason: format!("unsupported link type {link}"),
        }),
    }
}

/// Payload length on the wire of the IP packet, from its header: when the
/// capture cut the packet, the slice is shorter than this.
fn ip_payload_wire_len(net: &LaxNetSlice<'_>, payload: &LaxIpPayloadSlice<'_>) -> u32 {
    if !payload.incomplete {
        return payload.payload.len() as u32;
    }
    match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            u32::from(h.total_len()).saturating_sub(u32::from(h.ihl()) * 4)
        }
        LaxNetSlice::Ipv6(v6) => u32::from(v6.header().payload_length())
            .saturating_sub(v6.extensions().slice().len() as u32),
        LaxNetSlice::Arp(_) => payload.payload.len() as u32,
    }
}

fn tcp_options(tcp: &etherparse::TcpSlice<'_>) -> TcpOptions {
    let mut options = TcpOptions::default();
    for element in tcp.options_iterator() {
        match element {
            Ok(TcpOptionElement::MaximumSegmentSize(mss)) => options.mss = Some(mss),
            Ok(TcpOptionElement::WindowScale(scale)) => options.window_scale = Some(scale),
            Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => {
                options.sack_permitted = true
            }
            Ok(TcpOptionElement::SelectiveAcknowledgement(_, rest)) => {
                options.sack_blocks = 1 + rest.iter().flatten().count() as u8;
            }
            Ok(TcpOptionElement::Timestamp(val, ecr)) => options.timestamp = Some((val, ecr)),
            Ok(TcpOptionElement::Noop) => {}
            // A damaged option list ends the options, not the packet.
            Err(_) => break,
        }
    }
    options
}

/// The header an ICMP error quotes: IP header plus the first 8 payload bytes.
fn quoted(bytes: &[u8]) -> Option<Quoted> {
    let inner = LaxSlicedPacket::from_ip(bytes).ok()?;
    let (src, dst) = match inner.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
        ),
        LaxNetSlice::Ipv6(v6) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    let payload = inner.ip_payload()?;
    let protocol = payload.ip_number.0;
    // Only 8 bytes of a TCP header are quoted, so etherparse cannot slice
    // it; the ports are its first four bytes either way.
    let ports = if matches!(payload.ip_number, IpNumber::TCP | IpNumber::UDP) {
        payload.payload.get(..4).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            )
        })
    } else {
        None
    };
    Some(Quoted {
        src,
        dst,
        protocol,
        src_port: ports.map(|p| p.0),
        dst_port: ports.map(|p| p.1),
    })
}

/// Decode one frame. Never panics, whatever the bytes.
pub fn decode<'a>(frame: &RawFrame<'a>) -> Packet<'a> {
    decode_common(frame).unwrap_or_else(|| decode_any(frame))
}

/// The packet of `frame` before anything is decoded.
fn empty_packet<'a>(frame: &RawFrame<'a>) -> Packet<'a> {
    Packet {
        frame: frame.index,
        ts_ns: frame.ts_ns,
        wire_len: frame.orig_len,
        truncated: frame.is_truncated(),
        ip: None,
        transport: Transport::None,
        payload: &[],
        issue: None,
        headers: &[],
        ip_header_len: 0,
        length_lie: None,
        fragment_len: 0,
        reassembled: None,
    }
}

/// The common case, decoded the short way: a whole (uncut) IPv4 packet,
/// not a fragment, carrying TCP or UDP, behind an Ethernet, Linux cooked or
/// raw-IP link header. etherparse's strict slicers of each header do it;
/// its layered lax slicer, which [`decode_any`] needs for everything else,
/// was a third of the reading thread's time (callgrind). `None` for any
/// other frame. The result is the same as [`decode_any`]'s (a test decodes
/// every frame of the repository's captures, and damaged copies of them,
/// both ways).
fn decode_common<'a>(frame: &RawFrame<'a>) -> Option<Packet<'a>> {
    const IPV4: [u8; 2] = [0x08, 0x00];
    if frame.is_truncated() {
        return None;
    }
    let data = frame.data;
    let ip_bytes = match frame.link {
        LinkType::Ethernet if data.get(12..14)? == IPV4 => &data[14..],
        LinkType::LinuxSll if data.get(14..16)? == IPV4 => &data[16..],
        LinkType::LinuxSll2 if data.get(0..2)? == IPV4 && data.len() >= 20 => &data[20..],
        LinkType::RawIp | LinkType::Ipv4 => data,
        _ => return None,
    };
    let v4 = etherparse::Ipv4Slice::from_slice(ip_bytes).ok()?;
    let h = v4.header();
    if v4.is_payload_fragmented() || v4.extensions().auth.is_some() {
        return None;
    }
    let ip_payload = v4.payload();
    let transport = match ip_payload.ip_number {
        IpNumber::TCP => {
            TransportSlice::Tcp(etherparse::TcpSlice::from_slice(ip_payload.payload).ok()?)
        }
        IpNumber::UDP => {
            TransportSlice::Udp(etherparse::UdpSlice::from_slice_lax(ip_payload.payload).ok()?)
        }
        _ => return None,
    };
    let mut packet = empty_packet(frame);
    packet.ip = Some(IpInfo {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        ttl: h.ttl(),
        fragment: None,
    });
    let wire_len = ip_payload.payload.len() as u32;
    transport_from(&transport, ip_payload.payload, wire_len, &mut packet);
    set_headers(
        frame.data,
        offset_in(frame.data, h.slice()),
        offset_in(frame.data, ip_payload.payload),
        &mut packet,
    );
    Some(packet)
}

/// Any frame, as far as its bytes go.
fn decode_any<'a>(frame: &RawFrame<'a>) -> Packet<'a> {
    let mut packet = empty_packet(frame);
    let sliced = match slice_link(frame.link, frame.data) {
        Ok(sliced) => sliced,
        Err(e) => {
            packet.issue = Some(Box::new(e));
            return packet;
        }
    };
    if let Some((err, layer)) = &sliced.stop_err {
        packet.issue = issue(layer_name(*layer), err.to_string());
    }
    let Some(net) = sliced.net.as_ref() else {
        if packet.issue.is_none() {
            packet.issue = issue("link", "not an IP packet");
        }
        return packet;
    };
    let ip_payload = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let fragment = v4.is_payload_fragmented().then(|| Fragment {
                offset: u32::from(h.fragments_offset().value()) * 8,
                more_fragments: h.more_fragments(),
                id: u32::from(h.identification()),
            });
            packet.ip = Some(IpInfo {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                ttl: h.ttl(),
                fragment,
            });
            v4.payload()
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            // The fragment header, among the extension headers.
            let fragment = ipv6_fragment(h.next_header().0, v6.extensions().slice());
            packet.ip = Some(IpInfo {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                ttl: h.hop_limit(),
                fragment,
            });
            v6.payload()
        }
        LaxNetSlice::Arp(_) => {
            packet.issue = None;
            return packet;
        }
    };
    let wire_len = ip_payload_wire_len(net, ip_payload);
    let ip_start = match net {
        LaxNetSlice::Ipv4(v4) => offset_in(frame.data, v4.header().slice()),
        LaxNetSlice::Ipv6(v6) => offset_in(frame.data, v6.header().slice()),
        LaxNetSlice::Arp(_) => None,
    };
    let transport_start = offset_in(frame.data, ip_payload.payload);
    if packet.ip.is_some_and(|ip| ip.fragment.is_some()) {
        // One piece of a larger datagram: its transport header (if this is
        // the first piece) describes the whole datagram, not these bytes.
        // The bytes are kept for reassembly (decode::defrag), which decodes
        // the datagram at the fragment that completes it, as tshark does.
        packet.transport = Transport::Other {
            protocol: ip_payload.ip_number.0,
        };
        packet.payload = ip_payload.payload;
        packet.fragment_len = wire_len;
        return packet;
    }
    match &sliced.transport {
        Some(transport) => transport_from(transport, ip_payload.payload, wire_len, &mut packet),
        None => {
            packet.transport = match (
                ip_payload.ip_number,
                fixed_tcp_header(ip_payload.payload, wire_len),
            ) {
                // The snaplen cut into the TCP options, or the header's
                // length is impossible: the fixed header is still there, as
                // tcpdump and tshark show it.
                (IpNumber::TCP, Some((seg, header_len))) => {
                    if header_len < 20 || header_len > wire_len {
                        packet.length_lie = Some(LengthLie::TcpHeader {
                            header_len,
                            ip_payload: wire_len,
                        });
                    }
                    Transport::Tcp(seg)
                }
                _ => Transport::Other {
                    protocol: ip_payload.ip_number.0,
                },
            };
        }
    }
    set_headers(frame.data, ip_start, transport_start, &mut packet);
    packet
}

/// `packet.headers`: the IP and TCP/UDP header bytes, from where the IP
/// header (`ip_start`) and the transport header (`transport_start`) begin
/// in `data`.
fn set_headers<'a>(
    data: &'a [u8],
    ip_start: Option<usize>,
    transport_start: Option<usize>,
    packet: &mut Packet<'a>,
) {
    if let (Some(ip), Some(tp), Transport::Tcp(_) | Transport::Udp(_)) =
        (ip_start, transport_start, &packet.transport)
    {
        let header_len = match packet.transport {
            Transport::Tcp(_) => data.get(tp + 12).map_or(20, |b| usize::from(b >> 4) * 4),
            _ => 8,
        };
        let end = offset_in(data, packet.payload)
            .filter(|_| !packet.payload.is_empty())
            .unwrap_or((tp + header_len).min(data.len()));
        if ip <= tp && tp <= end {
            packet.headers = &data[ip..end];
            packet.ip_header_len = u32::try_from(tp - ip).unwrap_or(u32::MAX);
        }
    }
}

/// The transport header and payload of a sliced TCP, UDP or ICMP packet
/// into `packet`. `ip_payload`: the bytes after the IP header (captured);
/// `wire_len`: their length on the wire.
fn transport_from<'a>(
    transport: &TransportSlice<'a>,
    ip_payload: &'a [u8],
    wire_len: u32,
    packet: &mut Packet<'a>,
) {
    match transport {
        TransportSlice::Tcp(tcp) => {
            let flags = TcpFlags(tcp.slice().get(13).copied().unwrap_or(0));
            packet.transport = Transport::Tcp(TcpSegment {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: SeqNum(tcp.sequence_number()),
                ack: flags.ack().then(|| SeqNum(tcp.acknowledgment_number())),
                flags,
                window: tcp.window_size(),
                options: tcp_options(tcp),
                payload_len: wire_len.saturating_sub(tcp.header_len() as u32),
            });
            packet.payload = tcp.payload();
        }
        TransportSlice::Udp(udp) => {
            let field = udp.length();
            // An IPv6 jumbogram's UDP length is 0 (RFC 2675): not a lie.
            if u32::from(field) != wire_len && field != 0 {
                packet.length_lie = Some(LengthLie::Udp {
                    field,
                    ip_payload: wire_len,
                });
                if packet.issue.is_none() {
                    packet.issue = issue(
                        "udp",
                        format!(
                            "the length field says {field} bytes, the IP header leaves {wire_len}"
                        ),
                    );
                }
            }
            packet.transport = Transport::Udp(UdpDatagram {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                payload_len: wire_len.saturating_sub(8),
            });
            packet.payload = match packet.length_lie {
                // The length field cut the payload short: show what the IP
                // header says is there, as the length reported is.
                Some(_) => ip_payload.get(8..).unwrap_or_default(),
                None => udp.payload(),
            };
        }
        TransportSlice::Icmpv4(icmp) => {
            // Error messages quote the packet they answer.
            let is_error = matches!(icmp.type_u8(), 3 | 4 | 5 | 11 | 12);
            packet.transport = icmp_message(
                false,
                icmp.type_u8(),
                icmp.code_u8(),
                is_error,
                icmp.payload(),
            );
            packet.payload = icmp.payload();
        }
        TransportSlice::Icmpv6(icmp) => {
            let is_error = matches!(icmp.type_u8(), 1..=4);
            packet.transport = icmp_message(
                true,
                icmp.type_u8(),
                icmp.code_u8(),
                is_error,
                icmp.payload(),
            );
            packet.payload = icmp.payload();
        }
    }
}

/// The fragment header among an IPv6 packet's extension headers (`ext`,
/// as far as they were captured; `next`: the IPv6 header's next header).
/// Walked by hand with bounds checks: etherparse's iterator over a lax
/// slice reads past a cut extension header and panics (seen on tcpdump's
/// malformed captures).
fn ipv6_fragment(mut next: u8, mut ext: &[u8]) -> Option<Fragment> {
    loop {
        let len = match next {
            // Hop-by-hop, routing, destination options: (length + 1) * 8.
            0 | 43 | 60 => (usize::from(*ext.get(1)?) + 1) * 8,
            // Authentication header: (length + 2) * 4.
            51 => (usize::from(*ext.get(1)?) + 2) * 4,
            44 => {
                let h = ext.get(..8)?;
                let offset_flags = u16::from_be_bytes([h[2], h[3]]);
                let fragment = Fragment {
                    offset: u32::from(offset_flags >> 3) * 8,
                    more_fragments: offset_flags & 1 == 1,
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                };
                // An "atomic" fragment (offset 0, no more) is a whole datagram.
                return (fragment.offset > 0 || fragment.more_fragments).then_some(fragment);
            }
            _ => return None,
        };
        next = *ext.first()?;
        ext = ext.get(len..)?;
    }
}

/// The transport of a reassembled datagram (`bytes`: its whole IP
/// payload), into `packet`.
fn datagram_transport<'a>(protocol: u8, v6: bool, bytes: &'a [u8], packet: &mut Packet<'a>) {
    let len = bytes.len() as u32;
    let sliced = match IpNumber(protocol) {
        IpNumber::TCP => etherparse::TcpSlice::from_slice(bytes)
            .ok()
            .map(TransportSlice::Tcp),
        IpNumber::UDP => etherparse::UdpSlice::from_slice_lax(bytes)
            .ok()
            .map(TransportSlice::Udp),
        IpNumber::ICMP if !v6 => etherparse::Icmpv4Slice::from_slice(bytes)
            .ok()
            .map(TransportSlice::Icmpv4),
        IpNumber::IPV6_ICMP if v6 => etherparse::Icmpv6Slice::from_slice(bytes)
            .ok()
            .map(TransportSlice::Icmpv6),
        _ => None,
    };
    match sliced {
        Some(transport) => transport_from(&transport, bytes, len, packet),
        None => packet.transport = Transport::Other { protocol },
    }
}

fn icmp_message(v6: bool, icmp_type: u8, code: u8, is_error: bool, payload: &[u8]) -> Transport {
    Transport::Icmp(IcmpMessage {
        v6,
        icmp_type,
        code,
        quoted: if is_error { quoted(payload) } else { None },
    })
}

/// The 20-byte fixed TCP header, when the options after it were not
/// captured or the header's length field is impossible; options are left
/// empty and no payload bytes are available. With the header length it
/// claims. The payload length is what the IP header leaves after that
/// claim, as tshark counts it.
fn fixed_tcp_header(bytes: &[u8], ip_payload_wire_len: u32) -> Option<(TcpSegment, u32)> {
    let h = bytes.get(..20)?;
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let header_len = u32::from(h[12] >> 4) * 4;
    let flags = TcpFlags(h[13]);
    let segment = TcpSegment {
        src_port: be16(0),
        dst_port: be16(2),
        seq: SeqNum(be32(4)),
        ack: flags.ack().then(|| SeqNum(be32(8))),
        flags,
        window: be16(14),
        options: TcpOptions::default(),
        payload_len: ip_payload_wire_len.saturating_sub(header_len),
    };
    Some((segment, header_len))
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Ethernet2Header
        | Layer::LinuxSllHeader
        | Layer::VlanHeader
        | Layer::MacsecHeader
        | Layer::MacsecPacket
        | Layer::EtherPayload
        | Layer::Arp => "link",
        Layer::IpHeader
        | Layer::Ipv4Header
        | Layer::Ipv4Packet
        | Layer::Ipv6Header
        | Layer::Ipv6Packet => "ip",
        Layer::TcpHeader => "tcp",
        Layer::UdpHeader | Layer::UdpPayload => "udp",
        Layer::Icmpv4 | Layer::Icmpv4Timestamp | Layer::Icmpv4TimestampReply => "icmp",
        Layer::Icmpv6 => "icmpv6",
        _ => "ip extension",
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_any, decode_common};
    use crate::capture::file::FileSource;
    use crate::capture::{FrameSource, RawFrame};

    /// Both decoders on `frame`: where the short way decodes, it says what
    /// the long way says.
    fn agree(frame: &RawFrame<'_>) -> bool {
        match decode_common(frame) {
            Some(short) => {
                let long = decode_any(frame);
                assert_eq!(
                    format!("{short:?}"),
                    format!("{long:?}"),
                    "frame {} of link {}",
                    frame.index,
                    frame.link
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_short_way_decodes_as_the_long_way_on_every_capture_and_damaged_copies() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut files: Vec<_> = ["lab", "linktypes", "built", "tcpdump"]
            .iter()
            .flat_map(|d| {
                std::fs::read_dir(dir.join(d))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x != "md"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "captures/ holds {} files", files.len());
        let (mut short, mut damaged) = (0, 0);
        for path in &files {
            let Ok(mut source) = FileSource::open(path) else {
                continue;
            };
            while let Ok(Some(frame)) = source.next_frame() {
                if agree(&frame) {
                    short += 1;
                }
                // Every byte changed, and every shorter copy.
                let mut bytes = frame.data.to_vec();
                for at in 0..bytes.len() {
                    let was = bytes[at];
                    for value in [0, 0xff, was ^ 0x40, was.wrapping_add(1)] {
                        bytes[at] = value;
                        let copy = RawFrame {
                            data: &bytes,
                            ..frame
                        };
                        if agree(&copy) {
                            damaged += 1;
                        }
                    }
                    bytes[at] = was;
                }
                for len in 0..bytes.len() {
                    let cut = RawFrame {
                        data: &bytes[..len],
                        orig_len: len as u32,
                        ..frame
                    };
                    agree(&cut);
                }
            }
        }
        // The test means something only if the short way was taken.
        assert!(short > 100, "only {short} frames took the short way");
        assert!(
            damaged > 1000,
            "only {damaged} damaged frames took the short way"
        );
    }
}

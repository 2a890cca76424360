"""What the capture builders share (scripts/length_lies.py, fragments.py,
icmp_cuts.py): IPv4/IPv6 headers, UDP and TCP headers, and a classic pcap
of raw IP frames (link type 101) with fixed timestamps, so that a
rebuilt file is byte for byte the same."""
import struct


def checksum(data):
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ipv4(proto, payload, src, dst, ident=1, flags_offset=0x4000, total=None):
    """An IPv4 header (checksum filled in) and `payload`; `total` may lie."""
    total = total if total is not None else 20 + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, ident, flags_offset, 64, proto, 0, src, dst)
    return h[:10] + struct.pack('!H', checksum(h)) + h[12:] + payload


def ipv6(next_header, payload, src, dst):
    return struct.pack('!IHBB16s16s', 0x60000000, len(payload), next_header, 64, src, dst) + payload


def udp(sport, dport, data, length=None):
    """A UDP header (checksum 0) and `data`; `length` may lie."""
    length = length if length is not None else 8 + len(data)
    return struct.pack('!HHHH', sport, dport, length, 0) + data


def tcp(sport, dport, seq, ack, flags, data=b'', offset=5):
    """A TCP header with data offset `offset` (in 4-byte words, may lie)."""
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, offset << 4, flags, 65535, 0, 0) + data


def write_pcap(path, frames):
    """`frames`: (bytes, captured length or None), one every millisecond
    from a fixed time."""
    out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101)
    for i, (frame, cut) in enumerate(frames):
        kept = frame[:cut] if cut else frame
        out += struct.pack('<IIII', 1700000000, i * 1000, len(kept), len(frame)) + kept
    with open(path, 'wb') as fh:
        fh.write(out)

"""Write a raw-IP pcap of fragmented UDP datagrams (IPv4 and IPv6) for
decode_vs_tshark:
    python3 scripts/fragments.py OUT.pcap
Datagrams (each 3000 bytes of UDP payload, fragments of 1232 bytes):
  A IPv4, fragments in order
  B IPv4, fragments out of order (last, first, middle)
  C IPv4, fragments in order, the middle one sent twice with an overlap
  D IPv4, the middle fragment missing (never completes)
  E IPv6, fragments in order
  F IPv6, fragments out of order
  G IPv4, not fragmented (a small datagram beside them)
Timestamps are fixed, so the file is the same every time."""
import struct
import sys

from rawip import ipv4, ipv6, udp, write_pcap

SRC4, DST4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SRC6 = bytes.fromhex('fd000000000000000000000000000001')
DST6 = bytes.fromhex('fd000000000000000000000000000002')


def v4_fragment(ident, offset, more, chunk, proto=17):
    return ipv4(proto, chunk, SRC4, DST4, ident, (0x2000 if more else 0) | (offset // 8))


def v6_fragment(ident, offset, more, chunk, proto=17):
    frag = struct.pack('!BBHI', proto, 0, (offset // 8) << 3 | (1 if more else 0), ident)
    return ipv6(44, frag + chunk, SRC6, DST6)


def pieces(datagram, size=1232):
    return [(o, o + size < len(datagram), datagram[o:o + size]) for o in range(0, len(datagram), size)]


def payload(tag):
    return (tag * 3000)[:3000]


packets = []
a = pieces(udp(40001, 9000, payload(b'A')))
packets += [v4_fragment(101, o, m, c) for o, m, c in a]
b = pieces(udp(40002, 9000, payload(b'B')))
packets += [v4_fragment(102, o, m, c) for o, m, c in [b[2], b[0], b[1]]]
c = pieces(udp(40003, 9000, payload(b'C')))
overlap = (c[1][0] - 16, True, udp(40003, 9000, payload(b'C'))[c[1][0] - 16:c[1][0] - 16 + 1232])
packets += [v4_fragment(103, o, m, ch) for o, m, ch in [c[0], overlap, c[1], c[2]]]
d = pieces(udp(40004, 9000, payload(b'D')))
packets += [v4_fragment(104, o, m, ch) for o, m, ch in [d[0], d[2]]]
e = pieces(udp(40005, 9000, payload(b'E')))
packets += [v6_fragment(105, o, m, ch) for o, m, ch in e]
f = pieces(udp(40006, 9000, payload(b'F')))
packets += [v6_fragment(106, o, m, ch) for o, m, ch in [f[1], f[2], f[0]]]
packets.append(ipv4(17, udp(40007, 9000, b'small'), SRC4, DST4, 107))
write_pcap(sys.argv[1], [(p, None) for p in packets])

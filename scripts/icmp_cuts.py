"""Write a raw-IP pcap of ICMP errors whose quoted packet is cut or odd,
and ICMP messages cut by the capture, for decode_vs_tshark:
    python3 scripts/icmp_cuts.py OUT.pcap
Frames: 1 port unreachable quoting a whole IPv4+UDP header (honest);
2 quoting the IP header and 4 bytes of UDP; 3 quoting 10 bytes of an IP
header; 4 quoting nothing; 5 quoting an inner header whose total length
claims 1000 bytes; 6 time exceeded quoting a TCP header's first 8 bytes;
7 an ICMPv6 port unreachable quoting 20 bytes of an IPv6 header;
8 an echo request cut by the capture after 2 bytes of ICMP (snaplen);
9 a port unreachable cut by the capture inside the quoted header;
10 quoting an inner header whose IHL claims 60 bytes (28 there);
11 quoting an inner header of version 6 in ICMPv4; 12 quoting an inner
header whose IHL is 2 (8 bytes, below the minimum)."""
import struct
import sys

from rawip import ipv4 as ip4, ipv6, udp, write_pcap

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
A6 = bytes.fromhex('fd000000000000000000000000000001')
B6 = bytes.fromhex('fd000000000000000000000000000002')


def ipv4(proto, payload, src=B, dst=A, total=None):
    return ip4(proto, payload, src, dst, ident=7, total=total)


def icmp(t, c, body):
    return struct.pack('!BBHI', t, c, 0, 0) + body


inner_udp = ipv4(17, udp(40001, 53, b'question....'), src=A, dst=B)
inner_tcp = ipv4(6, struct.pack('!HHI', 40002, 80, 12345), src=A, dst=B)
packets = [
    (ipv4(1, icmp(3, 3, inner_udp[:28])), None),
    (ipv4(1, icmp(3, 3, inner_udp[:24])), None),
    (ipv4(1, icmp(3, 3, inner_udp[:10])), None),
    (ipv4(1, icmp(3, 3, b'')), None),
    (ipv4(1, icmp(3, 3, ipv4(17, udp(40003, 53, b'', length=980), src=A, dst=B, total=1000))), None),
    (ipv4(1, icmp(11, 0, inner_tcp[:28])), None),
]
inner6 = ipv6(17, udp(40004, 53, b''), A6, B6)
packets.append((ipv6(58, struct.pack('!BBHI', 1, 4, 0, 0) + inner6[:20], B6, A6), None))
echo = ipv4(1, icmp(8, 0, b'ping' * 8), src=A, dst=B)
packets.append((echo, 22))
packets.append((ipv4(1, icmp(3, 3, inner_udp[:28])), 40))
packets.append((ipv4(1, icmp(3, 3, bytes([0x4f]) + inner_udp[1:28])), None))
packets.append((ipv4(1, icmp(3, 3, bytes([0x65]) + inner_udp[1:28])), None))
packets.append((ipv4(1, icmp(3, 3, bytes([0x42]) + inner_udp[1:28])), None))

write_pcap(sys.argv[1], packets)

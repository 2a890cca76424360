"""Write a raw-IP pcap of TCP and UDP headers whose lengths disagree with
the IP header (and honest ones beside them), for decode_vs_tshark:
    python3 scripts/length_lies.py OUT.pcap
Frames: 1 UDP honest; 2 UDP length 100 > IP payload; 3 UDP length 4 < 8;
4 UDP length 10 < IP payload; 5 TCP SYN honest; 6 TCP data offset 60 >
22 bytes there; 7 TCP data offset 12 < 20; 8 TCP data offset 32, options
missing."""
import struct, sys
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ipv4(proto, payload, ident=1, total=None):
    total = total if total is not None else 20 + len(payload)
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, ident, 0x4000, 64, proto, 0, bytes([127,0,0,1]), bytes([127,0,0,2]))
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload
def udp(sport, dport, data, length=None):
    length = length if length is not None else 8 + len(data)
    return struct.pack('!HHHH', sport, dport, length, 0) + data
def tcp(sport, dport, seq, ack, flags, data=b'', offset=5, opts=b''):
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, offset << 4, flags, 65535, 0, 0) + opts + data
pkts = []
d = b'twelve bytes'
pkts.append(ipv4(17, udp(40001, 7, d)))                 # 1 honest
pkts.append(ipv4(17, udp(40002, 7, d, length=100)))     # 2 UDP length longer than the IP payload
pkts.append(ipv4(17, udp(40003, 7, d, length=4)))       # 3 UDP length below its own header
pkts.append(ipv4(17, udp(40004, 7, d, length=10)))      # 4 UDP length shorter than the IP payload
pkts.append(ipv4(6, tcp(40005, 80, 1000, 0, 0x02)))     # 5 honest SYN
pkts.append(ipv4(6, tcp(40006, 80, 1000, 5, 0x18, b'hi', offset=15)))   # 6 data offset 60 > 22 bytes there
pkts.append(ipv4(6, tcp(40007, 80, 1000, 5, 0x18, b'hi there', offset=3)))  # 7 data offset 12 < 20
pkts.append(ipv4(6, tcp(40008, 80, 1000, 5, 0x10, b'', offset=8)))      # 8 data offset 32: 12 option bytes missing
out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101)
for i, p in enumerate(pkts):
    out += struct.pack('<IIII', 1700000000 + i, 0, len(p), len(p)) + p
open(sys.argv[1], 'wb').write(out)

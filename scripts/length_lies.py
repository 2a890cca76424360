"""Write a raw-IP pcap of TCP and UDP headers whose lengths disagree with
the IP header (and honest ones beside them), for decode_vs_tshark:
    python3 scripts/length_lies.py OUT.pcap
Frames: 1 UDP honest; 2 UDP length 100 > IP payload; 3 UDP length 4 < 8;
4 UDP length 10 < IP payload; 5 TCP SYN honest; 6 TCP data offset 60 >
22 bytes there; 7 TCP data offset 12 < 20; 8 TCP data offset 32, options
missing."""
import sys

from rawip import ipv4, tcp, udp, write_pcap

A, B = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2])
d = b'twelve bytes'
write_pcap(sys.argv[1], [(ipv4(proto, p, A, B), None) for proto, p in [
    (17, udp(40001, 7, d)),
    (17, udp(40002, 7, d, length=100)),
    (17, udp(40003, 7, d, length=4)),
    (17, udp(40004, 7, d, length=10)),
    (6, tcp(40005, 80, 1000, 0, 0x02)),
    (6, tcp(40006, 80, 1000, 5, 0x18, b'hi', offset=15)),
    (6, tcp(40007, 80, 1000, 5, 0x18, b'hi there', offset=3)),
    (6, tcp(40008, 80, 1000, 5, 0x10, b'', offset=8)),
]])

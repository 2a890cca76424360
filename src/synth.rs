//! Synthetic loopback captures, deterministic, for benchmarks and for the
//! memory regression test: `cargo run --release --example gen_capture`
//! writes one to a file.
//!
//! [`Kind::Echo`]: many short TCP echo connections (handshake, 5 bytes each
//! way with their ACKs, FIN both ways), every 8th connect refused (SYN,
//! RST), every 8th a UDP datagram to a closed port answered by ICMP port
//! unreachable. [`Kind::SynFlood`]: one SYN per distinct flow, to show that
//! memory stays bounded. Classic pcap, Ethernet like Linux `lo`, snaplen 256.

use std::io::{self, Write};

use etherparse::{Icmpv4Type, PacketBuilder};

const SNAPLEN: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Echo,
    SynFlood,
}

struct Writer<W: Write> {
    out: W,
    ts_us: u64,
    written: u64,
}

impl<W: Write> Writer<W> {
    fn record(&mut self, frame: &[u8]) -> io::Result<()> {
        self.ts_us += 7;
        let cap = frame.len().min(SNAPLEN as usize);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&((self.ts_us / 1_000_000) as u32).to_le_bytes());
        header[4..8].copy_from_slice(&((self.ts_us % 1_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(cap as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&frame[..cap])?;
        self.written += 1;
        Ok(())
    }
}

fn tcp(
    src: u16,
    dst: u16,
    seq: u32,
    ack: Option<u32>,
    flags: &str,
    payload: &[u8],
) -> io::Result<Vec<u8>> {
    let mut b = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
        .tcp(src, dst, seq, 64);
    if let Some(a) = ack {
        b = b.ack(a);
    }
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            _ => b,
        };
    }
    let mut v = Vec::with_capacity(128);
    b.write(&mut v, payload).map_err(io::Error::other)?;
    Ok(v)
}

/// One segment: from the client?, seq offset from the sender's ISN, ack
/// offset from the peer's ISN (none on the first SYN), flags, payload.
type Step = (bool, u32, Option<u32>, &'static str, &'static [u8]);

/// One echo connection: handshake, "hello" each way with its ACK, FIN
/// both ways, the last ACK.
const ECHO_EXCHANGE: &[Step] = &[
    (true, 0, None, "S", b""),
    (false, 0, Some(1), "S", b""),
    (true, 1, Some(1), "", b""),
    (true, 1, Some(1), "P", b"hello"),
    (false, 1, Some(6), "", b""),
    (false, 1, Some(6), "P", b"hello"),
    (true, 6, Some(6), "", b""),
    (true, 6, Some(6), "F", b""),
    (false, 6, Some(7), "F", b""),
    (true, 7, Some(7), "", b""),
];

/// Write a capture of at least `target` packets to `out`; returns how many.
pub fn write_capture(out: impl Write, target: u64, kind: Kind) -> io::Result<u64> {
    let mut w = Writer {
        out: io::BufWriter::with_capacity(1 << 20, out),
        ts_us: 1_700_000_000_000_000,
        written: 0,
    };
    // pcap global header: magic, v2.4, zone 0, sigfigs 0, snaplen, Ethernet.
    let mut gh = Vec::new();
    gh.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    gh.extend_from_slice(&2u16.to_le_bytes());
    gh.extend_from_slice(&4u16.to_le_bytes());
    gh.extend_from_slice(&[0; 8]);
    gh.extend_from_slice(&SNAPLEN.to_le_bytes());
    gh.extend_from_slice(&1u32.to_le_bytes());
    w.out.write_all(&gh)?;

    let mut i: u64 = 0;
    while w.written < target {
        i += 1;
        let client = 32768 + (i * 2 % 28000) as u16;
        if kind == Kind::SynFlood {
            // A distinct 4-tuple per SYN: vary the source address too.
            let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            let mut v = Vec::with_capacity(80);
            PacketBuilder::ethernet2([0; 6], [0; 6])
                .ipv4(src, [127, 0, 0, 1], 64)
                .tcp(client, 12333, i as u32, 64)
                .syn()
                .write(&mut v, &[])
                .map_err(io::Error::other)?;
            w.record(&v)?;
            continue;
        }
        let server = 12333;
        let c_isn = (i as u32).wrapping_mul(2_654_435_761);
        let s_isn = c_isn ^ 0x5bd1_e995;
        match i % 8 {
            0 => {
                w.record(&tcp(client, 12334, c_isn, None, "S", &[])?)?;
                w.record(&tcp(
                    12334,
                    client,
                    0,
                    Some(c_isn.wrapping_add(1)),
                    "R",
                    &[],
                )?)?;
            }
            4 => {
                let mut v = Vec::new();
                PacketBuilder::ethernet2([0; 6], [0; 6])
                    .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                    .udp(client, 12335)
                    .write(&mut v, b"ping")
                    .map_err(io::Error::other)?;
                w.record(&v)?;
                // ICMP port unreachable quoting the IP header and 8 bytes.
                let quoted = &v[14..14 + 28];
                let mut icmp = Vec::new();
                PacketBuilder::ethernet2([0; 6], [0; 6])
                    .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                    .icmpv4(Icmpv4Type::DestinationUnreachable(
                        etherparse::icmpv4::DestUnreachableHeader::Port,
                    ))
                    .write(&mut icmp, quoted)
                    .map_err(io::Error::other)?;
                w.record(&icmp)?;
            }
            _ => {
                for &(from_client, seq_off, ack_off, flags, payload) in ECHO_EXCHANGE {
                    let (src, dst, seq, peer) = if from_client {
                        (client, server, c_isn, s_isn)
                    } else {
                        (server, client, s_isn, c_isn)
                    };
                    let ack = ack_off.map(|o| peer.wrapping_add(o));
                    w.record(&tcp(
                        src,
                        dst,
                        seq.wrapping_add(seq_off),
                        ack,
                        flags,
                        payload,
                    )?)?;
                }
            }
        }
    }
    w.out.flush()?;
    Ok(w.written)
}

//! Robustness beyond the fixed captures: every past fuzz crash, random
//! packets built with etherparse read back field by field, and every
//! packet cut at every length.

use std::path::Path;

use etherparse::PacketBuilder;
use proptest::prelude::*;
use wirelab::capture::link::LinkType;
use wirelab::capture::RawFrame;
use wirelab::decode::{decode, Transport};

use crate::common::repo;

fn regressions(target: &str) -> Vec<std::path::PathBuf> {
    let dir = repo().join("tests/fuzz-regressions").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    files.sort();
    files
}

#[test]
fn past_fuzz_crashes_stay_fixed() {
    let packets = regressions("packets");
    let replays = regressions("replay");
    // An empty folder would make this test pass without testing anything.
    assert!(
        packets.len() + replays.len() > 0,
        "tests/fuzz-regressions/ has no input"
    );
    for path in packets {
        wirelab::fuzzing::packets(&std::fs::read(&path).unwrap());
    }
    for path in replays {
        wirelab::fuzzing::replay(&std::fs::read(&path).unwrap());
    }
}

fn frame(data: &[u8], orig_len: usize) -> RawFrame<'_> {
    RawFrame {
        index: 1,
        ts_ns: 0,
        link: LinkType::Ethernet,
        orig_len: orig_len as u32,
        data,
    }
}

fn tcp_packet(
    v6: bool,
    ports: (u16, u16),
    seq: u32,
    ack: Option<u32>,
    (syn, fin): (bool, bool),
    window: u16,
    payload: &[u8],
) -> Vec<u8> {
    let base = PacketBuilder::ethernet2([1; 6], [2; 6]);
    let ip = if v6 {
        base.ipv6([0xfe; 16], [0x20; 16], 64)
    } else {
        base.ipv4([10, 0, 0, 1], [127, 0, 0, 1], 64)
    };
    let mut b = ip.tcp(ports.0, ports.1, seq, window);
    if let Some(a) = ack {
        b = b.ack(a);
    }
    if syn {
        b = b.syn();
    }
    if fin {
        b = b.fin();
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// What etherparse built, wirelab decodes: addresses, ports, seq, ack
    /// (only with ACK set), flags, window, payload.
    #[test]
    fn built_tcp_packets_decode_to_their_fields(
        v6 in any::<bool>(),
        ports in (1u16.., 1u16..),
        seq in any::<u32>(),
        ack in proptest::option::of(any::<u32>()),
        syn in any::<bool>(),
        fin in any::<bool>(),
        window in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let bytes = tcp_packet(v6, ports, seq, ack, (syn, fin), window, &payload);
        let packet = decode(&frame(&bytes, bytes.len()));
        let ip = packet.ip.expect("IP decoded");
        prop_assert_eq!(ip.src.is_ipv6(), v6);
        let Transport::Tcp(t) = packet.transport else {
            return Err(TestCaseError::fail("not TCP"));
        };
        prop_assert_eq!((t.src_port, t.dst_port), ports);
        prop_assert_eq!(t.seq.0, seq);
        prop_assert_eq!(t.ack.map(|a| a.0), ack);
        prop_assert_eq!(t.flags.syn(), syn);
        prop_assert_eq!(t.flags.fin(), fin);
        prop_assert_eq!(t.window, window);
        prop_assert_eq!(t.payload_len as usize, payload.len());
        prop_assert_eq!(packet.payload, &payload[..]);
        prop_assert!(!packet.truncated);
    }

    /// A UDP datagram: ports and payload.
    #[test]
    fn built_udp_datagrams_decode_to_their_fields(
        ports in (1u16.., 1u16..),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 2], 64)
            .udp(ports.0, ports.1)
            .write(&mut bytes, &payload)
            .unwrap();
        let packet = decode(&frame(&bytes, bytes.len()));
        let Transport::Udp(u) = packet.transport else {
            return Err(TestCaseError::fail("not UDP"));
        };
        prop_assert_eq!((u.src_port, u.dst_port), ports);
        prop_assert_eq!(u.payload_len as usize, payload.len());
        prop_assert_eq!(packet.payload, &payload[..]);
    }

    /// Cut at every length (as a snaplen would): no panic, and the packet is
    /// marked truncated whenever bytes are missing.
    #[test]
    fn every_cut_decodes_without_panic(
        v6 in any::<bool>(),
        seq in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let bytes = tcp_packet(v6, (40000, 12333), seq, Some(7), (false, true), 512, &payload);
        for cut in 0..=bytes.len() {
            let packet = decode(&frame(&bytes[..cut], bytes.len()));
            prop_assert_eq!(packet.truncated, cut < bytes.len());
            wirelab::fuzzing::packets(&[0, cut.min(255) as u8]);
        }
    }
}

#[test]
fn random_packets_replay_through_a_pcapng_file() {
    // The whole path: built packets, written by wirelab's pcapng writer,
    // read back by the file reader, decoded, with every field and the
    // nanosecond timestamp intact.
    let dir = std::env::temp_dir().join(format!("wirelab-prop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("built.pcapng");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(
            &proptest::collection::vec(
                (
                    any::<u32>(),
                    any::<u16>(),
                    proptest::collection::vec(any::<u8>(), 0..100),
                ),
                1..20,
            ),
            |packets| {
                let frames: Vec<Vec<u8>> = packets
                    .iter()
                    .map(|(seq, port, payload)| {
                        tcp_packet(
                            false,
                            (*port.max(&1), 12333),
                            *seq,
                            Some(1),
                            (false, false),
                            64,
                            payload,
                        )
                    })
                    .collect();
                write_pcapng(&path, &frames);
                let mut source = wirelab::capture::file::FileSource::open(&path).unwrap();
                use wirelab::capture::FrameSource;
                let mut i = 0;
                while let Some(f) = source.next_frame().unwrap() {
                    let packet = decode(&f);
                    let Transport::Tcp(t) = packet.transport else {
                        return Err(TestCaseError::fail("not TCP"));
                    };
                    prop_assert_eq!(t.seq.0, packets[i].0);
                    prop_assert_eq!(t.src_port, packets[i].1.max(1));
                    prop_assert_eq!(packet.payload, &packets[i].2[..]);
                    prop_assert_eq!(f.ts_ns, 1_700_000_000_123_456_789 + i as i64);
                    i += 1;
                }
                prop_assert_eq!(i, packets.len());
                Ok(())
            },
        )
        .unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Write the frames with wirelab's own pcapng writer (nanosecond timestamps).
fn write_pcapng(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = wirelab::export::pcapng::PcapngWriter::new(file, "proptest").unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.set_comment(&format!("frame {i}"));
        w.frame(1, 1_700_000_000_123_456_789 + i as i64, f.len() as u32, f)
            .unwrap();
    }
    w.finish().unwrap();
}

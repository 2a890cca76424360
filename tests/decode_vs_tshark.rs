//! Decoded fields agree with tshark's, packet by packet, on tcpdump's
//! wellformed test captures and on captures built for wirelab's own cases
//! (`captures/built/`). Expected values were made by
//! `scripts/tshark-expected` and are committed.

use std::fs;

use wirelab::capture::file::FileSource;
use wirelab::capture::FrameSource;
use wirelab::decode::{decode, Transport};

use crate::common::{captures_in, repo, tcpdump_captures};

fn field(cols: &[&str], i: usize) -> Option<String> {
    cols.get(i)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn num(cols: &[&str], i: usize) -> Option<u64> {
    field(cols, i).map(|s| {
        if let Some(hex) = s.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).expect("hex")
        } else {
            s.parse()
                .unwrap_or_else(|_| panic!("number in column {i}: {s}"))
        }
    })
}

#[test]
fn decode_matches_tshark_on_wellformed_captures() {
    let files = captures_in(&tcpdump_captures("wellformed"));
    assert!(
        files.len() >= 10,
        "expected tcpdump's wellformed captures in captures/tcpdump/wellformed"
    );
    let checked = compare_with_tshark(&files, "wellformed");
    assert!(checked >= 44, "only {checked} packets compared");
}

#[test]
fn decode_matches_tshark_on_built_captures() {
    let files = captures_in(&repo().join("captures/built"));
    assert!(!files.is_empty(), "captures/built/ has no capture");
    let checked = compare_with_tshark(&files, "built");
    assert!(checked >= 90, "only {checked} packets compared");
}

/// Every frame of `files` against tshark's fields in
/// tests/expected/`expected`/NAME.tsv; how many were compared.
fn compare_with_tshark(files: &[std::path::PathBuf], expected: &str) -> usize {
    let mut checked = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let tsv = repo()
            .join("tests/expected")
            .join(expected)
            .join(format!("{name}.tsv"));
        let expected =
            fs::read_to_string(&tsv).unwrap_or_else(|e| panic!("{}: {e}", tsv.display()));
        let mut source = FileSource::open(path).unwrap();
        for line in expected.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let frame = source
                .next_frame()
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: fewer frames than tshark"));
            let packet = decode(&frame);
            let at = format!("{name} frame {}", frame.index);
            assert_eq!(Some(frame.index), num(&cols, 0), "{at}: frame number");
            let ip = packet
                .ip
                .unwrap_or_else(|| panic!("{at}: no IP decoded ({:?})", packet.issue));
            let src = field(&cols, 1).or(field(&cols, 2));
            let dst = field(&cols, 3).or(field(&cols, 4));
            assert_eq!(Some(ip.src.to_string()), src, "{at}: src");
            assert_eq!(Some(ip.dst.to_string()), dst, "{at}: dst");
            match packet.transport {
                Transport::Tcp(t) => {
                    assert_eq!(
                        Some(u64::from(t.src_port)),
                        num(&cols, 5),
                        "{at}: tcp sport"
                    );
                    assert_eq!(
                        Some(u64::from(t.dst_port)),
                        num(&cols, 7),
                        "{at}: tcp dport"
                    );
                    assert_eq!(
                        Some(u64::from(t.flags.0)),
                        num(&cols, 9).map(|f| f & 0xff),
                        "{at}: flags"
                    );
                    assert_eq!(Some(u64::from(t.seq.0)), num(&cols, 10), "{at}: seq");
                    if let Some(ack) = t.ack {
                        assert_eq!(Some(u64::from(ack.0)), num(&cols, 11), "{at}: ack");
                    }
                    assert_eq!(
                        Some(u64::from(t.payload_len)),
                        num(&cols, 12),
                        "{at}: tcp len"
                    );
                }
                Transport::Udp(u) => {
                    assert_eq!(
                        Some(u64::from(u.src_port)),
                        num(&cols, 6),
                        "{at}: udp sport"
                    );
                    assert_eq!(
                        Some(u64::from(u.dst_port)),
                        num(&cols, 8),
                        "{at}: udp dport"
                    );
                    assert_eq!(
                        Some(u64::from(u.payload_len) + 8),
                        num(&cols, 13),
                        "{at}: udp length"
                    );
                }
                Transport::Icmp(i) => {
                    let (t, c) = if i.v6 { (16, 17) } else { (14, 15) };
                    assert_eq!(
                        Some(u64::from(i.icmp_type)),
                        num(&cols, t),
                        "{at}: icmp type"
                    );
                    assert_eq!(Some(u64::from(i.code)), num(&cols, c), "{at}: icmp code");
                }
                other => {
                    assert!(
                        num(&cols, 5).is_none() && num(&cols, 6).is_none(),
                        "{at}: tshark saw ports, we saw {other:?}"
                    );
                }
            }
            checked += 1;
        }
        assert!(
            source.next_frame().unwrap().is_none(),
            "{name}: more frames than tshark"
        );
    }
    checked
}

//! Decoded fields agree with tshark's, packet by packet, on tcpdump's
//! wellformed test captures and on captures built for wirelab's own cases
//! (`captures/built/`). Expected values were made by
//! `scripts/tshark-expected` and are committed.

use std::fs;

use wirelab::capture::file::FileSource;
use wirelab::capture::FrameSource;
use wirelab::decode::defrag::Reassembler;
use wirelab::decode::{decode, LengthLie, Transport};

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
    assert!(checked >= 129, "only {checked} packets compared");
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
        // IP fragments put back together, as tshark does by default.
        let mut reassembler = Reassembler::new();
        for line in expected.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let frame = source
                .next_frame()
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: fewer frames than tshark"));
            let packet = reassembler.feed(decode(&frame));
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
                    assert_eq!(Some(u64::from(t.seq.0)), num(&cols, 10), "{at}: seq");
                    // A header whose length is impossible: tshark stops
                    // after the fields it could place, so compare those.
                    let lie = matches!(packet.length_lie, Some(LengthLie::TcpHeader { .. }));
                    let flags = num(&cols, 9).map(|f| f & 0xff);
                    if !lie || flags.is_some() {
                        assert_eq!(Some(u64::from(t.flags.0)), flags, "{at}: flags");
                    }
                    if let Some(ack) = t.ack.filter(|_| !lie || num(&cols, 11).is_some()) {
                        assert_eq!(Some(u64::from(ack.0)), num(&cols, 11), "{at}: ack");
                    }
                    let len = num(&cols, 12);
                    if !lie || len.is_some() {
                        assert_eq!(Some(u64::from(t.payload_len)), len, "{at}: tcp len");
                    }
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
                    // tshark's udp.length is the header's field; wirelab's
                    // length is the IP header's, and a disagreement is a lie.
                    let field = match packet.length_lie {
                        Some(LengthLie::Udp { field, .. }) => u64::from(field),
                        _ => u64::from(u.payload_len) + 8,
                    };
                    assert_eq!(Some(field), num(&cols, 13), "{at}: udp length");
                }
                Transport::Icmp(i) => {
                    let (t, c) = if i.v6 { (16, 17) } else { (14, 15) };
                    assert_eq!(
                        Some(u64::from(i.icmp_type)),
                        num(&cols, t),
                        "{at}: icmp type"
                    );
                    assert_eq!(Some(u64::from(i.code)), num(&cols, c), "{at}: icmp code");
                    // The ports of the packet an error quotes, where tshark
                    // reads them (its only TCP/UDP header is the quoted one).
                    let quoted = i.quoted.and_then(|q| q.src_port.zip(q.dst_port));
                    let theirs = num(&cols, 5)
                        .or(num(&cols, 6))
                        .zip(num(&cols, 7).or(num(&cols, 8)));
                    assert_eq!(
                        quoted.map(|(s, d)| (u64::from(s), u64::from(d))),
                        theirs,
                        "{at}: quoted ports"
                    );
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

// See: issue 20. A header whose length field lies was `proto: other`, or
// decoded without a word about the lie.
#[test]
fn length_lies_are_decoded_and_named() {
    let events = crate::common::packet_events(&repo().join("captures/built/length-lies.pcap"));
    let seen: Vec<(String, String, bool)> = events
        .iter()
        .map(|e| {
            let codes: Vec<&str> = e["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|ev| ev["code"].as_str().unwrap())
                .collect();
            let lie = codes
                .iter()
                .find(|c| c.ends_with("_length_mismatch") || **c == "tcp_header_length")
                .map_or("", |c| c);
            (
                e["proto"].as_str().unwrap().to_string(),
                lie.to_string(),
                e.get("issue").is_some(),
            )
        })
        .collect();
    let expected = [
        ("udp", "", false),
        ("udp", "udp_length_mismatch", true),
        ("udp", "udp_length_mismatch", true),
        ("udp", "udp_length_mismatch", true),
        ("tcp", "", false),
        ("tcp", "tcp_header_length", true),
        ("tcp", "tcp_header_length", true),
        ("tcp", "tcp_header_length", true),
    ]
    .map(|(p, l, i)| (p.to_string(), l.to_string(), i));
    assert_eq!(seen, expected);
    // The figures are in the event, for checks to read.
    let udp = &events[1]["events"][0];
    assert_eq!(
        (udp["length_field"].as_u64(), udp["ip_payload"].as_u64()),
        (Some(100), Some(20))
    );
    let tcp = &events[6]["events"][0];
    assert_eq!(
        (tcp["header_len"].as_u64(), tcp["ip_payload"].as_u64()),
        (Some(12), Some(28))
    );
}

// See: issue 20. Fragments were never put back together: a datagram larger
// than the MTU appeared nowhere, and its first fragment was "IP protocol
// 17 (other)".
#[test]
fn fragments_are_put_back_together_and_each_piece_is_named() {
    let events = crate::common::packet_events(&repo().join("captures/built/fragments.pcap"));
    let first = |e: &serde_json::Value| e["events"][0].clone();
    let rows: Vec<String> = events
        .iter()
        .map(|e| {
            let ev = first(e);
            match ev["code"].as_str().unwrap() {
                "fragment" => format!("frag {} {}+{}", ev["id"], ev["offset"], ev["len"]),
                "reassembled" => format!(
                    "whole {} of {} in {}: {} {}",
                    ev["id"], ev["len"], ev["fragments"], e["proto"], e["len"]
                ),
                other => format!("{other} {} {}", e["proto"], e["len"]),
            }
        })
        .collect();
    let expected = [
        "frag 101 0+1232",
        "frag 101 1232+1232",
        "whole 101 of 3008 in 3: \"udp\" 3000",
        "frag 102 2464+544",
        "frag 102 0+1232",
        "whole 102 of 3008 in 3: \"udp\" 3000",
        "frag 103 0+1232",
        "frag 103 1216+1232",
        "frag 103 1232+1232",
        "whole 103 of 3008 in 4: \"udp\" 3000",
        // Datagram 104 lost its middle piece: it never becomes a datagram.
        "frag 104 0+1232",
        "frag 104 2464+544",
        "frag 105 0+1232",
        "frag 105 1232+1232",
        "whole 105 of 3008 in 3: \"udp\" 3000",
        "frag 106 1232+1232",
        "frag 106 2464+544",
        "whole 106 of 3008 in 3: \"udp\" 3000",
        "datagram \"udp\" 5",
    ];
    assert_eq!(rows, expected);
    // The reassembled datagram's payload is the datagram's, not the piece's.
    assert!(events[2]["payload"].as_str().unwrap().starts_with("AAAA"));
    assert_eq!(events[2]["sport"], 40001);
}

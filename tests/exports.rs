//! Exports: snapshots of each format for the reference captures, CSV read
//! back with a CSV reader, pcapng read by tshark, tcpdump and capinfos, and
//! a hostile capture whose payload must stay inert in every format.

use std::process::Command;

use crate::common::{replay_to_string, repo, wirelab};

#[test]
fn export_snapshots_of_reference_captures() {
    let root = repo().join("captures");
    insta::glob!(root.as_path(), "lab/*.pcap", |path| {
        insta::assert_snapshot!("csv", replay_to_string(path, "csv"));
        insta::assert_snapshot!("md", replay_to_string(path, "md"));
        insta::assert_snapshot!("mermaid", replay_to_string(path, "mermaid"));
        insta::assert_snapshot!("html", replay_to_string(path, "html"));
    });
}

#[test]
fn csv_parses_back_to_the_same_rows() {
    let path = repo().join("captures/linktypes/lab-lo-ethernet.pcap");
    let text = replay_to_string(&path, "csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header[0], "kind");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let packets: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "packet").collect();
    assert_eq!(packets.len(), 30);
    // Row 4 carries the Greek payload with a comma-free quote-free note.
    let json = replay_to_string(&path, "json");
    let notes: Vec<String> = json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "packet")
        .map(|v| v["note"].as_str().unwrap().to_string())
        .collect();
    for (row, note) in packets.iter().zip(&notes) {
        assert_eq!(&row[15], note.as_str(), "the note survives CSV quoting");
    }
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

#[test]
fn pcapng_export_carries_every_explanation_and_reads_cleanly() {
    let dir = std::env::temp_dir().join(format!("wirelab-pcapng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = repo().join("captures/linktypes/lab-lo-ethernet.pcap");
    let out = dir.join("out.pcapng");
    wirelab()
        .args(["replay", "--format", "pcapng", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let json = replay_to_string(&input, "json");
    let notes: Vec<String> = json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "packet")
        .map(|v| v["note"].as_str().unwrap().to_string())
        .collect();
    assert!(
        tool("tshark") && tool("tcpdump") && tool("capinfos"),
        "tshark, tcpdump and capinfos are needed (scripts/setup installs them)"
    );
    let t = Command::new("tshark")
        .args(["-r"])
        .arg(&out)
        .args(["-T", "fields", "-e", "frame.comment"])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let comments: Vec<String> = String::from_utf8(t.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(comments, notes, "every packet's comment is its explanation");
    let d = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(d.status.success());
    assert_eq!(String::from_utf8_lossy(&d.stdout).lines().count(), 30);
    let c = Command::new("capinfos").arg(&out).output().unwrap();
    assert!(c.status.success());
    let info = String::from_utf8_lossy(&c.stdout);
    assert!(
        info.contains("wirelab replay of"),
        "section comment: {info}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pcapng_is_not_written_to_a_terminal_but_to_a_file_or_pipe() {
    // Not a terminal here: a pipe is fine.
    let input = repo().join("captures/lab/tcp_refused.pcap");
    let out = wirelab()
        .args(["replay", "--format", "pcapng"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
}

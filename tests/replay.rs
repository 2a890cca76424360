//! Snapshots of every capture under captures/lab and captures/linktypes: the timeline as plain text
//! and as JSON Lines (timestamps in JSON are absolute and part of the
//! snapshot: the files do not change).

use crate::common::{packet_events, replay_to_string, repo, wirelab};

#[test]
fn timeline_snapshots_of_reference_captures() {
    let root = repo().join("captures");
    insta::glob!(root.as_path(), "{lab,linktypes}/*.pcap*", |path| {
        insta::assert_snapshot!("text", replay_to_string(path, "text"));
        insta::assert_snapshot!("json", replay_to_string(path, "json"));
    });
}

#[test]
fn without_a_terminal_the_default_is_plain_lines_and_table_is_asked_for() {
    let path = repo().join("captures/lab/tcp_echo.pcap");
    let out = wirelab().args(["replay"]).arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // Piped into grep or a file: one line per packet, as --format text.
    let plain = wirelab()
        .args(["replay", "--format", "text"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(text, String::from_utf8(plain.stdout).unwrap());
    assert!(!text.contains('│') && !text.contains('\x1b'));
    // The table when asked for, without colour off a terminal.
    let out = wirelab()
        .args(["replay", "--format", "table"])
        .arg(&path)
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        !table.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!(table);
}

/// The codes of each packet's events, from the JSON timeline.
fn codes(path: &str) -> Vec<(Vec<String>, serde_json::Value)> {
    packet_events(&repo().join(path))
        .into_iter()
        .map(|p| {
            let codes = p["events"]
                .as_array()
                .map(|es| {
                    es.iter()
                        .map(|e| e["code"].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (codes, p)
        })
        .collect()
}

fn states(p: &serde_json::Value) -> (&str, &str) {
    (
        p["client_state"].as_str().unwrap_or_default(),
        p["server_state"].as_str().unwrap_or_default(),
    )
}

// See: issue 14 (a). FINs that cross (recorded on loopback: both sides
// called shutdown(SHUT_WR) at once; ss listed both sockets in TIME-WAIT).
#[test]
fn simultaneous_close_leaves_both_sides_in_time_wait() {
    let rows = codes("captures/lab/tcp_simultaneous_close.pcap");
    let crossing = rows
        .iter()
        .position(|(c, _)| c.iter().any(|c| c == "simultaneous_close"))
        .expect("a simultaneous_close event");
    assert_eq!(states(&rows[crossing].1), ("CLOSING", "CLOSING"));
    assert_eq!(states(&rows.last().unwrap().1), ("TIME-WAIT", "TIME-WAIT"));
    assert!(!rows
        .iter()
        .any(|(c, _)| c.iter().any(|c| c == "answering_fin")));
}

// See: issue 14 (b). SO_KEEPALIVE with TCP_KEEPIDLE 1 s on Linux: probes
// without data, each answered; nothing else happens to the states.
#[test]
fn linux_keep_alive_probes_and_answers_are_named() {
    let rows = codes("captures/lab/tcp_keepalive.pcap");
    let probes: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].0.iter().any(|c| c == "keep_alive"))
        .collect();
    assert_eq!(probes.len(), 2, "two probes in 2.5 s");
    for &i in &probes {
        assert_eq!(rows[i].1["len"], 0, "Linux probes carry no data");
        assert_eq!(rows[i].1["dir"], "c2s");
        assert_eq!(rows[i + 1].0, ["probe_answer"]);
        assert_eq!(states(&rows[i + 1].1), ("ESTABLISHED", "ESTABLISHED"));
    }
    assert!(!rows.iter().any(|(c, _)| c
        .iter()
        .any(|c| c == "ack_nothing_new" || c == "duplicate_ack")));
}

// See: issue 14 (b). A receiver that does not read: zero window, the
// sender's zero-window probes, then the window update when it reads.
#[test]
fn zero_window_probe_and_window_update_are_told_apart() {
    let rows = codes("captures/lab/tcp_zero_window_probe.pcap");
    let has = |code: &str| {
        (0..rows.len())
            .filter(|&i| rows[i].0.iter().any(|c| c == code))
            .collect::<Vec<_>>()
    };
    let zero = has("zero_window");
    let probes = has("zero_window_probe");
    let update = has("window_update");
    assert!(!zero.is_empty() && !probes.is_empty() && update.len() == 1);
    assert!(zero[0] < probes[0] && probes[probes.len() - 1] < update[0]);
    assert!(!rows
        .iter()
        .any(|(c, _)| c.iter().any(|c| c == "keep_alive")));
    // See: issue 14 (p): 2048-byte segments, said once; the window halving
    // (2048 in the SYN-ACK, then 1024) before it closes.
    assert_eq!(has("large_segment").len(), 1);
    let shrank = has("window_changed");
    assert_eq!(shrank.len(), 1);
    assert!(shrank[0] < zero[0]);
}

// See: issue 14 (e). listen(1), never accept(), the listener closed: the
// kernel resets the queued connection; the server had sent nothing since its
// SYN-ACK, which the event records (the explanation names that cause first).
#[test]
fn rst_from_a_closed_listener_is_an_abort_before_any_reply() {
    let rows = codes("captures/lab/tcp_listener_closed.pcap");
    let (_, rst) = rows
        .iter()
        .find(|(c, _)| c.iter().any(|c| c == "rst"))
        .expect("a RST");
    assert_eq!(rst["dir"], "s2c");
    assert_eq!(rst["events"][0]["kind"]["abort"]["before_any_reply"], true);
}

// See: issue 14 (c). The server read EOF but closed 1.5 s later.
#[test]
fn a_late_answering_fin_shows_how_long_close_wait_lasted() {
    let rows = codes("captures/lab/tcp_close_wait.pcap");
    let (_, fin) = rows
        .iter()
        .find(|(c, _)| c.iter().any(|c| c == "answering_fin"))
        .expect("an answering FIN");
    let after = fin["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "answering_fin")
        .unwrap()["after_ns"]
        .as_i64()
        .unwrap();
    assert!(after >= 1_400_000_000, "{after}");
}

// See: issue 14 (h) and (j).
#[test]
fn midstream_capture_says_roles_are_guessed_and_refused_rst_is_seq_zero() {
    let rows = codes("captures/lab/tcp_midstream.pcap");
    assert!(rows[0].0.iter().any(|c| c == "roles_guessed"));
    assert!(rows[1..]
        .iter()
        .all(|(c, _)| !c.iter().any(|c| c == "roles_guessed")));
    let refused = codes("captures/lab/tcp_refused.pcap");
    assert_eq!(refused[1].1["rel_seq"], 0);
    assert_eq!(refused[1].1["events"][0]["kind"], "refused");
}

// A client bound to one port connects three times to one server: first it
// holds the TIME-WAIT (and its next socket takes it over), then the server
// does. The SYNs that reuse the ports are tshark's tcp.analysis.reused_ports
// frames (7 and 13), and each says whose TIME-WAIT it was.
#[test]
fn a_syn_on_ports_in_time_wait_says_whose_time_wait_it_was() {
    let rows = codes("captures/lab/tcp_ports_reused.pcap");
    let reused: Vec<&serde_json::Value> = rows
        .iter()
        .flat_map(|(_, p)| p["events"].as_array().into_iter().flatten())
        .filter(|e| e["code"] == "ports_reused")
        .collect();
    let frames: Vec<u64> = rows
        .iter()
        .filter(|(c, _)| c.iter().any(|c| c == "ports_reused"))
        .map(|(_, p)| p["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, [7, 13]);
    let said = |e: &serde_json::Value| {
        (
            e["previous"].as_u64().unwrap(),
            e["sender_state"].as_str().unwrap().to_string(),
            e["receiver_state"].as_str().unwrap().to_string(),
            e["timestamps"].as_bool(),
        )
    };
    assert_eq!(
        said(reused[0]),
        (1, "TIME-WAIT".into(), "CLOSED".into(), Some(true))
    );
    assert_eq!(
        said(reused[1]),
        (2, "CLOSED".into(), "TIME-WAIT".into(), Some(true))
    );
    // The row before each: the earlier connection's last ACK left that side
    // in TIME-WAIT.
    assert_eq!(states(&rows[5].1), ("TIME-WAIT", "CLOSED"));
    assert_eq!(states(&rows[11].1), ("CLOSED", "TIME-WAIT"));
    // Each summary names the conversation that took its ports over.
    let path = repo().join("captures/lab/tcp_ports_reused.pcap");
    let reused_by: Vec<serde_json::Value> = replay_to_string(&path, "json")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["kind"] == "conn")
        .map(|l| l["reused_by"].clone())
        .collect();
    assert_eq!(reused_by, [2.into(), 3.into(), serde_json::Value::Null]);
}

//! tcpdump's and tshark's habits (issue 17): `-r FILE` and a filter after
//! it, `-c N`, `-n`, `-w FILE`, `-` as a stream, `--conn N`, `--follow N`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{one_line_error, repo, wirelab};

fn packets(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "packet")
        .collect()
}

fn json_of(args: &[&str]) -> Vec<serde_json::Value> {
    let out = wirelab().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    packets(&out.stdout)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wirelab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// tcp_echo and udp_echo in one file: two conversations.
fn two_conversations(dir: &Path) -> PathBuf {
    let merged = dir.join("two.pcap");
    let status = Command::new("mergecap")
        .args(["-F", "pcap", "-a", "-w"])
        .arg(&merged)
        .arg(repo().join("captures/lab/tcp_echo.pcap"))
        .arg(repo().join("captures/lab/udp_echo.pcap"))
        .status()
        .expect("mergecap (Debian: wireshark-common, which tshark brings)");
    assert!(status.success());
    merged
}

#[test]
fn read_flag_trailing_filter_count_and_n_as_tcpdump_takes_them() {
    let dir = temp_dir("habits");
    let file = two_conversations(&dir);
    let file = file.to_str().unwrap();
    let all = json_of(&["replay", "--format", "json", file]);
    let udp_all = all.iter().filter(|p| p["proto"] == "udp").count();
    assert!(udp_all >= 2 && all.len() > udp_all, "{}", all.len());
    // The same filter three ways: after the file, after -r FILE, with -f.
    let trailing = json_of(&["replay", "--format", "json", file, "udp"]);
    let read = json_of(&["replay", "-n", "-r", file, "--format", "json", "udp"]);
    let flag = json_of(&["replay", "--format", "json", "-f", "udp", file]);
    assert_eq!(trailing.len(), udp_all);
    assert!(trailing.iter().all(|p| p["proto"] == "udp"));
    assert_eq!(trailing, read);
    assert_eq!(trailing, flag);
    // Frame numbers stay the file's, as Wireshark shows them.
    let first_udp = all.iter().find(|p| p["proto"] == "udp").unwrap();
    assert_eq!(trailing[0]["frame"], first_udp["frame"]);
    // -c counts the packets that pass the filter.
    let three = json_of(&["replay", "--format", "json", "-c", "3", file]);
    assert_eq!(three.len(), 3);
    let one_udp = json_of(&["replay", "--format", "json", "-c", "1", file, "udp"]);
    assert_eq!(one_udp.len(), 1);
    assert_eq!(one_udp[0]["proto"], "udp");
    // Two filters, or a bad one: one line, exit 2.
    let out = wirelab()
        .args(["replay", file, "-f", "tcp", "udp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("two filters"));
    let out = wirelab()
        .args(["replay", file, "tcp", "prot", "80"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("filter"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn write_flag_saves_pcapng_with_the_explanations_as_comments() {
    let dir = temp_dir("habits-w");
    let input = repo().join("captures/lab/tcp_echo.pcap");
    let saved = dir.join("out.pcapng");
    wirelab()
        .args(["replay", "-w"])
        .arg(&saved)
        .arg(&input)
        .arg("tcp")
        .assert()
        .success();
    let comments = Command::new("tshark")
        .args(["-r"])
        .arg(&saved)
        .args(["-T", "fields", "-e", "frame.comment"])
        .output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&comments.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len() as u64, crate::common::frame_count(&input));
    assert!(lines.iter().all(|c| !c.is_empty()), "{lines:?}");
    // The saved capture replays to the same packets.
    let again = json_of(&["replay", "--format", "json", saved.to_str().unwrap()]);
    let first = json_of(&["replay", "--format", "json", input.to_str().unwrap()]);
    assert_eq!(again.len(), first.len());
    // -w with -o or --format is a contradiction, refused.
    let out = wirelab()
        .args(["replay", "-w", "a.pcapng", "-o", "b.txt"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn conn_keeps_one_conversation_in_every_format() {
    let dir = temp_dir("habits-conn");
    let file = two_conversations(&dir);
    let file = file.to_str().unwrap();
    let all = json_of(&["replay", "--format", "json", file]);
    for id in [1u64, 2] {
        let one = json_of(&[
            "replay",
            "--format",
            "json",
            "--conn",
            &id.to_string(),
            file,
        ]);
        let expected: Vec<&serde_json::Value> = all.iter().filter(|p| p["conn"] == id).collect();
        assert!(!one.is_empty());
        assert_eq!(one.iter().collect::<Vec<_>>(), expected, "conn {id}");
        let csv = wirelab()
            .args(["replay", "--format", "csv", "--conn", &id.to_string(), file])
            .output()
            .unwrap();
        assert!(csv.status.success());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

// See: issue 17. The half-close capture: the client's request, its FIN,
// then the server's answer after it. --follow shows each side's bytes
// with their offsets and the FINs in the order they came.
#[test]
fn follow_shows_each_sides_bytes_in_order_with_the_fins() {
    let input = repo().join("captures/lab/tcp_half_close.pcap");
    let out = wirelab()
        .args(["replay", "--follow", "1"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
    };
    let request = at("client -> server  bytes 1-18 (18 bytes)");
    let client_fin = at("client -> server  FIN");
    let answer = at("server -> client  bytes 1-22 (22 bytes)");
    let server_fin = at("server -> client  FIN");
    assert!(request < client_fin && client_fin < answer && answer < server_fin);
    assert!(text.contains("GET / HTTP/1.0\\r\\n\\r\\n"), "{text}");
    // Nothing else: no timeline rows, no explanations.
    assert_eq!(lines.len(), 7, "{text}");
    // --follow has no JSON form: refused in one line.
    let out = wirelab()
        .args(["replay", "--follow", "1", "--format", "json"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A child process killed if the test fails before it ends it.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// See: issue 17. `tcpdump -U -w - | wirelab replay -` shows each packet as
// it arrives, while tcpdump still runs.
#[test]
fn dash_reads_a_live_tcpdump_stream_row_by_row() {
    assert!(is_root(), "this test captures on loopback, as root (CI is)");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut tcpdump = Reaped(
        Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-w", "-", "-s", "0"])
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut replay = Reaped(
        Command::new(assert_cmd::cargo::cargo_bin("wirelab"))
            .args(["replay", "--format", "json", "-"])
            .stdin(tcpdump.0.stdout.take().unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // tcpdump says "listening on" once its capture runs.
    let mut err = BufReader::new(tcpdump.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = replay.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The handshake's three rows, while tcpdump is still running.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rows = Vec::new();
    while rows.len() < 3 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["kind"] == "packet" {
                    rows.push(v);
                }
            }
        }
    }
    assert!(
        tcpdump.0.try_wait().unwrap().is_none(),
        "tcpdump ended early"
    );
    assert_eq!(rows.len(), 3, "rows before tcpdump ended: {rows:?}");
    assert_eq!(rows[0]["tcp_flags"], serde_json::json!(["SYN"]));
    drop(client);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(tcpdump.0.id() as libc::pid_t, libc::SIGINT) };
    tcpdump.0.wait().unwrap();
    let status = replay.0.wait().unwrap();
    assert!(status.success());
}

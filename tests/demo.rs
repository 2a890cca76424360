//! `wirelab demo`: every lab runs on loopback with a real capture and
//! passes its checks (API results and key packets, as measured on Linux).

use crate::common::{assert_succeeded, repo, wirelab};

fn run_lab(name: &str) -> String {
    let out = wirelab()
        .args(["demo", name, "--format", "text"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "demo {name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("[FAILED]"), "{stdout}");
    assert!(stdout.contains("what you should have seen:"), "{stdout}");
    stdout
}

fn passed(out: &str, check: &str) {
    assert!(
        out.contains(&format!("[passed] {check}")),
        "missing passed check {check:?} in:\n{out}"
    );
}

#[test]
fn demo_list_names_every_lab() {
    let out = wirelab().args(["demo", "--list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for lab in [
        "tcp-echo",
        "refused",
        "udp-echo",
        "udp-no-server",
        "half-close",
        "abort",
        "udp-wrong-address",
        "send-buffer",
    ] {
        assert!(text.contains(lab), "{text}");
    }
}

#[test]
fn demo_tcp_echo() {
    let out = run_lab("tcp-echo");
    passed(&out, "TIME-WAIT is on the client's side (it closed first)");
    passed(&out, "two connections, each with handshake 1/3, 2/3, 3/3");
    passed(
        &out,
        "each connection ends with the client in TIME-WAIT and the server CLOSED",
    );
}

#[test]
fn demo_refused() {
    let out = run_lab("refused");
    passed(&out, "connect() fails at once with ECONNREFUSED");
    passed(&out, "the SYN is answered by RST-ACK");
}

#[test]
fn demo_udp_echo() {
    let out = run_lab("udp-echo");
    passed(
        &out,
        "recvfrom(4) returns 4 bytes; the other 6 are discarded",
    );
    passed(&out, "one datagram each way: 10 bytes, then 4");
}

#[test]
fn demo_udp_no_server() {
    let out = run_lab("udp-no-server");
    passed(&out, "an unconnected socket never hears of the error");
    passed(
        &out,
        "the connected socket's next call fails with ECONNREFUSED",
    );
    passed(&out, "each is answered by ICMP port unreachable (3/3)");
    // The implicit bind: no port until sendto(), then a row in the table.
    passed(
        &out,
        "a UDP socket gets its port at its first sendto(), not before",
    );
}

#[test]
fn demo_udp_wrong_address() {
    let out = run_lab("udp-wrong-address");
    passed(&out, "the unconnected client just waits");
    passed(
        &out,
        "the connected client's next call fails with ECONNREFUSED",
    );
    passed(&out, "127.0.0.1 and 127.0.0.2 talk");
    passed(
        &out,
        "connect() to the wrong address fails with ECONNREFUSED",
    );
    passed(
        &out,
        "both datagrams to 127.0.0.1 are answered by ICMP port unreachable",
    );
    passed(&out, "the TCP SYN to 127.0.0.1 is answered by RST");
}

// See: issue 20. A datagram larger than the MTU, on a real link.
#[test]
fn demo_udp_fragments() {
    let out = run_lab("udp-fragments");
    passed(&out, "the server's one recvfrom() returns all the bytes");
    passed(
        &out,
        "with don't-fragment, sendto() fails at once with EMSGSIZE",
    );
    passed(&out, "the datagram crossed the link as 3 IP fragments");
    passed(&out, "reassembled, it is one UDP datagram of 4000 bytes");
    passed(&out, "the don't-fragment sendto() put nothing on the wire");
}

#[test]
fn demo_send_buffer() {
    let out = run_lab("send-buffer");
    // See: issue 14 (m).
    passed(&out, "getsockopt(SO_RCVBUF) returns twice the 4096 set");
    passed(
        &out,
        "send() returns only once the bytes are copied into the kernel",
    );
    passed(&out, "the receiver's Recv-Q holds what it did not read");
    passed(&out, "every byte send() accepted arrives");
    passed(&out, "the receiver advertises a zero window");
    passed(
        &out,
        "after it reads, a window update opens the window again",
    );
}

#[test]
fn demo_half_close() {
    let out = run_lab("half-close");
    passed(&out, "server in CLOSE-WAIT, client in FIN-WAIT-2");
    passed(
        &out,
        "the server's Recv-Q is 19: the 18 unread bytes and the FIN",
    );
    passed(&out, "the server sends data after the client's FIN");
    // lsof's view: the listener and the accepted connection, one port, two fds.
    passed(
        &out,
        "the listening socket and the accepted connection share the port but are different fds",
    );
    assert!(out.contains("tcp LISTEN"), "{out}");
    // Which fd numbers depends on what the process inherited; that there
    // is an owner and an fd does not.
    assert!(out.contains("(wirelab) fd "), "{out}");
}

#[test]
fn demo_abort() {
    let out = run_lab("abort");
    passed(&out, "the server's recv() fails with ECONNRESET");
    passed(&out, "the client's close sends RST-ACK and no FIN is seen");
    passed(
        &out,
        "closing with unread data also resets: the client's recv() fails with ECONNRESET",
    );
    passed(
        &out,
        "the server's close with unread data sends RST-ACK too",
    );
}

#[test]
fn unknown_lab_is_one_line() {
    let out = wirelab().args(["demo", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no lab named nosuch"), "{err}");
}

#[test]
fn demo_empty_message() {
    let out = run_lab("empty-message");
    passed(
        &out,
        "no TCP segment carries data: an empty send sends nothing",
    );
    passed(&out, "a UDP datagram of length 0 is on the wire");
}

#[test]
fn demo_encoding() {
    let out = run_lab("encoding");
    passed(
        &out,
        "ASCII cannot hold Greek: the program fails before anything is sent",
    );
    passed(&out, "the 15 bytes travel in one segment");
}

#[test]
fn demo_recv_buffer() {
    let out = run_lab("recv-buffer");
    passed(&out, "recv(3) cuts Greek letters (2 bytes each) in half");
    passed(&out, "the 16 bytes crossed the wire in one segment");
}

#[test]
fn demo_ipv6_dual_stack() {
    let out = run_lab("ipv6-dual-stack");
    passed(&out, "accept() reports the IPv4 client as ::ffff:127.0.0.1");
    passed(&out, "the dual-stack connection is plain IPv4 on the wire");
    passed(
        &out,
        "with V6ONLY the IPv4 client is refused (ECONNREFUSED)",
    );
}

#[test]
fn demo_http_get() {
    let out = run_lab("http-get");
    passed(
        &out,
        "the 18-byte echo arrives, and the server closes only after the client's FIN",
    );
}

#[test]
fn demo_proxy() {
    let out = run_lab("proxy");
    passed(
        &out,
        "the server sees the proxy's connection, not the client's",
    );
    passed(
        &out,
        "two connections, each with its own handshake and its own FINs",
    );
}

#[test]
fn demo_client_fixed_port() {
    let out = run_lab("client-fixed-port");
    passed(
        &out,
        "without SO_REUSEADDR the fixed port is still in use (EADDRINUSE)",
    );
    passed(
        &out,
        "the new SYN reuses the 4-tuple with ISN = old next sequence number + 65537",
    );
}

#[test]
fn demo_reuseaddr() {
    let out = run_lab("reuseaddr");
    passed(
        &out,
        "TIME-WAIT is on the server's port: the server closed first",
    );
    passed(
        &out,
        "bind() fails with EADDRINUSE while the TIME-WAIT lasts",
    );
    passed(
        &out,
        "with SO_REUSEADDR on the old and the new socket, bind() succeeds (Linux rule)",
    );
}

#[test]
fn demo_bind_wildcard_vs_specific() {
    let out = run_lab("bind-wildcard-vs-specific");
    passed(&out, "Linux refuses the second listener (EADDRINUSE)");
    passed(&out, "with SO_REUSEPORT on both, both listen");
}

#[test]
fn demo_backlog() {
    let out = run_lab("backlog");
    passed(
        &out,
        "two connects succeed (the queue holds backlog + 1 = 2), two time out",
    );
    passed(&out, "exactly two SYN-ACKs");
    passed(&out, "the other SYNs get no answer and are retransmitted");
    passed(&out, "the 2 queued connections belong to no process yet");
    passed(&out, "its Send-Q shows the backlog given to listen(): 1");
    assert!(
        out.contains("no process yet: waiting for accept()"),
        "{out}"
    );
}

#[test]
fn demo_concurrency() {
    let out = run_lab("concurrency");
    // The same three clients against five ways of serving them.
    passed(&out, "fifteen connections, each with its own handshake");
    for server in [
        "single",
        "thread-per-connection",
        "event-loop (poll)",
        "async (tokio tasks on one thread)",
        "forking",
    ] {
        passed(
            &out,
            &format!("the {server} server serves all three clients correctly"),
        );
    }
}

#[test]
fn demo_save_writes_pcapng_and_json_that_replay_reproduces() {
    let dir = std::env::temp_dir().join(format!("wirelab-save-{}", std::process::id()));
    let out = wirelab()
        .args(["demo", "refused", "--save"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_succeeded(&out);
    let saved = std::fs::read_to_string(dir.join("refused.jsonl")).unwrap();
    let replayed = wirelab()
        .args(["replay", "--format", "json"])
        .arg(dir.join("refused.pcapng"))
        .output()
        .unwrap();
    assert!(replayed.status.success());
    // The lab's TCP packets (an ICMP error from other traffic on the
    // machine may be captured too: the filter keeps all ICMP).
    // The live rows also carry what the kernel said (a RST's reason, and
    // the sentence that words it); a replay has the packets alone.
    let packets = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["kind"] == "packet" && v["proto"] == "tcp")
            .map(|mut v| {
                if let Some(events) = v["events"].as_array_mut() {
                    events.retain(|e| e["code"] != "kernel_reset");
                }
                v["note"] = serde_json::Value::Null;
                v
            })
            .collect()
    };
    let (a, b) = (
        packets(&saved),
        packets(&String::from_utf8(replayed.stdout).unwrap()),
    );
    assert_eq!(a.len(), 2, "SYN and RST: {saved}");
    assert_eq!(
        a, b,
        "replaying the saved capture gives the same packet rows"
    );
    assert!(
        saved.contains("\"kind\":\"call\""),
        "socket calls are in the saved timeline"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn demo_all_passes_every_check() {
    // One output file for every lab, titles and checks included (issue 17:
    // the second lab used to fail with "already exists").
    let dir = std::env::temp_dir().join(format!("wirelab-demo-all-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.jsonl");
    let out = wirelab()
        .args(["demo", "all", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"kind\":\"check\"") && l.contains("\"passed\":false"))
        .collect();
    assert!(
        out.status.success(),
        "{}\nfailed checks: {failed:#?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let labs = lines.iter().filter(|v| v["kind"] == "lab").count();
    assert_eq!(labs, wirelab::lab::labs::LABS.len(), "every lab ran");
    let checks: Vec<&serde_json::Value> = lines.iter().filter(|v| v["kind"] == "check").collect();
    assert!(checks.len() > 50, "{} checks", checks.len());
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    readme_lists_each_labs_checks(&checks);
}

/// The check lines of the first code block after `heading` in the README.
fn readme_block_checks(readme: &str, heading: &str) -> Vec<String> {
    let at = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let block = &readme[at..];
    let start = block.find("```\n").unwrap() + 4;
    let end = start + block[start..].find("```").unwrap();
    block[start..end]
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("[passed] "))
        .map(str::to_string)
        .collect()
}

// See: issue 17. Each lab's section in the README lists exactly the checks
// the lab makes (scripts/readme-labs writes them from a run), so the two
// cannot drift apart.
fn readme_lists_each_labs_checks(checks: &[&serde_json::Value]) {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for lab in wirelab::lab::labs::LABS {
        let made: Vec<&str> = checks
            .iter()
            .filter(|c| c["lab"] == lab.name)
            .filter_map(|c| c["what"].as_str())
            .collect();
        let listed = readme_block_checks(&readme, &format!("### `{}`:", lab.name));
        assert_eq!(
            listed, made,
            "README's {} section (run sudo scripts/readme-labs)",
            lab.name
        );
    }
    // The half-close excerpt: its checks are the lab's (with their
    // details), and every address in it is one of one run's two sockets.
    let excerpt_checks = readme_block_checks(&readme, "An excerpt of `wirelab demo half-close");
    let made: Vec<&str> = checks
        .iter()
        .filter(|c| c["lab"] == "half-close")
        .filter_map(|c| c["what"].as_str())
        .collect();
    assert_eq!(excerpt_checks.len(), made.len());
    for (line, what) in excerpt_checks.iter().zip(&made) {
        assert!(line.starts_with(what), "{line} is not {what}");
    }
    let at = readme
        .find("An excerpt of `wirelab demo half-close")
        .unwrap();
    let block = &readme[at..at + readme[at..].find("what you should have seen").unwrap()];
    let mut ports = std::collections::BTreeSet::new();
    for (i, _) in block.match_indices("127.0.0.1:") {
        let digits: String = block[i + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits != "0" {
            ports.insert(digits);
        }
    }
    assert_eq!(
        ports.len(),
        2,
        "one run's client and server ports: {ports:?}"
    );
}

#[test]
fn demo_without_capture_still_checks_socket_calls() {
    let out = wirelab()
        .args(["demo", "refused", "--no-capture"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    passed(&stdout, "connect() fails at once with ECONNREFUSED");
    assert!(stdout.contains("[not checked] packet checks"), "{stdout}");
}

#[test]
fn without_root_a_demo_runs_in_a_private_network_namespace() {
    // What the README suggests to a student without sudo: a user and network
    // namespace of their own (`unshare -r -n`), where they may capture on its
    // loopback. As root (CI), the test first drops to the user nobody.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = std::process::Command::new(if root { "setpriv" } else { "unshare" });
    if root {
        command.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
        ]);
    }
    command
        .args(["-r", "-n", "sh", "-c"])
        .arg("ip link set lo up && exec \"$1\" demo refused --format text")
        .arg("sh")
        .arg(crate::common::binary_for_anyone())
        .env("NO_COLOR", "1");
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("[FAILED]"), "{stdout}");
    assert!(stdout.contains("[passed]"), "{stdout}");
}

// See: issue 17. The README's lab table is what `demo --list` says, so the
// two cannot drift apart (names longer than 16 characters once garbled it).
#[test]
fn readme_lab_table_matches_demo_list() {
    let out = wirelab().args(["demo", "--list"]).output().unwrap();
    assert!(out.status.success());
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    let mut rows = 0;
    for line in listed.lines() {
        let (name, rest) = line.split_once(' ').unwrap();
        let rest = rest.trim_start();
        let (seconds, question) = rest.split_once(" s  ").unwrap();
        let row = format!("| `{name}` | {question} | {seconds} s |");
        assert!(readme.contains(&row), "README lacks the row:\n{row}");
        rows += 1;
    }
    assert!(rows >= 19, "{listed}");
}

// See: issue 17: `demo ... --format json | head -1` once panicked (println!
// on a closed pipe, exit 101). Here the reader is gone before the first
// line (`| true`): the demo ends quietly with status 0.
#[test]
fn demo_output_into_a_closed_pipe_is_not_a_panic() {
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("\"$0\" demo refused --format json | true; exit ${PIPESTATUS[0]}")
        .arg(env!("CARGO_BIN_EXE_wirelab"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// See: issue 17. `q` at a --step prompt ends the lab there: the step does
// not run, no packet is sent, and the demo ends with status 0.
#[test]
fn step_q_ends_the_lab_before_the_step_runs() {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["demo", "tcp-echo", "--step", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Enter at the first prompt, q at the second.
    child.stdin.take().unwrap().write_all(b"\nq\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_succeeded(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps = lines.iter().filter(|l| l["kind"] == "step").count();
    assert_eq!(steps, 1, "only the first step ran");
    assert!(
        !lines
            .iter()
            .any(|l| l["kind"] == "packet" && l["proto"] == "tcp"),
        "the client never connected"
    );
    assert!(!lines
        .iter()
        .any(|l| l["kind"] == "check" && l["passed"] == false));
}

// See: issue 17. A lab's Markdown, HTML and Mermaid exports carry its
// title, its question and its checks (a report a student can hand in),
// and standard output still says them when the report goes to a file.
#[test]
fn document_exports_of_a_lab_carry_its_title_question_and_checks() {
    let dir = std::env::temp_dir().join(format!("wirelab-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lab = wirelab::lab::labs::find("refused").unwrap();
    let json = wirelab()
        .args(["demo", "refused", "--no-kernel", "--format", "json"])
        .output()
        .unwrap();
    assert!(json.status.success());
    let checks = String::from_utf8_lossy(&json.stdout)
        .lines()
        .filter(|l| l.contains("\"kind\":\"check\""))
        .count();
    assert!(checks >= 2, "{checks}");
    for ext in ["md", "html", "mmd"] {
        let path = dir.join(format!("report.{ext}"));
        let out = wirelab()
            .args(["demo", "refused", "--no-kernel", "-o"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ext}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let passed = match ext {
            "md" => {
                let first = text.lines().next().unwrap();
                assert!(first.starts_with("# refused: "), "{first}");
                assert!(text.contains("## What you should have seen"));
                text.lines().filter(|l| l.starts_with("- passed: ")).count()
            }
            "html" => {
                assert!(text.contains("<title>refused: "), "{ext}");
                // The page's events: the lab, then its judged checks.
                let events = crate::exports::page_events(&text);
                assert_eq!(events[0]["kind"], "lab");
                let judged = events.iter().find(|e| e["kind"] == "checks").unwrap();
                judged["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["passed"] == true)
                    .count()
            }
            _ => {
                assert!(text.contains("    title refused. "));
                text.lines()
                    .filter(|l| l.trim_start().starts_with("Note over") && l.contains(": passed. "))
                    .count()
            }
        };
        assert_eq!(passed, checks, "{ext}: every check, passed\n{text}");
        // The question, escaped as the format escapes text, is in the title.
        let words = lab.question.split_whitespace().take(3).collect::<Vec<_>>();
        assert!(text.contains(words[0]), "{ext}");
        // The terminal still gets the title and the checks.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("refused"), "{ext}: {stdout}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

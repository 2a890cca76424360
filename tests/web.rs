//! The classroom view (`--web`): its server's rules over plain HTTP, and
//! the page itself in headless Chromium (ChromeDriver): a live lab stepped
//! with the Step button, the quiz's scoring, a hostile capture kept inert.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::Value;

use crate::common::browser::Browser;
use crate::common::{repo, with_web};

fn capture(name: &str) -> std::path::PathBuf {
    repo().join("captures/lab").join(name)
}

/// The server-sent events of `/events`, as JSON, until the stream ends.
fn stream(base: &str) -> Vec<Value> {
    let reply = ureq::get(&format!("{base}events")).call().unwrap();
    assert_eq!(reply.content_type(), "text/event-stream");
    BufReader::new(reply.into_reader())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect()
}

fn status(reply: Result<ureq::Response, ureq::Error>) -> u16 {
    match reply {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_view_answers_get_only_to_its_own_name_and_streams_the_whole_run() {
    let path = capture("tcp_echo.pcap");
    let (mut child, base) = with_web(&[OsStr::new("replay"), path.as_os_str()]);
    let page = ureq::get(&base).call().unwrap();
    let csp = page.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("connect-src 'self'") && csp.contains("script-src 'sha256-"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.into_string().unwrap().starts_with("<!doctype html>"));
    // GET only.
    assert_eq!(status(ureq::post(&base).send_string("x")), 405);
    assert_eq!(
        status(ureq::request("PUT", &format!("{base}events")).call()),
        405
    );
    // Another name for 127.0.0.1 (DNS rebinding) is refused.
    let port = base.trim_end_matches('/').rsplit(':').next().unwrap();
    assert_eq!(
        status(
            ureq::get(&base)
                .set("Host", &format!("attacker.example:{port}"))
                .call()
        ),
        403
    );
    // Step needs the page's token.
    assert_eq!(
        status(ureq::get(&format!("{base}step?token=guess")).call()),
        403
    );
    // The stream: the replay's packets (each with its bytes for the
    // detail pane), its end, then the stream's own end.
    let events = stream(&base);
    let packets: Vec<&Value> = events.iter().filter(|e| e["kind"] == "packet").collect();
    assert_eq!(packets.len(), 10);
    assert!(packets[0]["headers"][0]
        .as_str()
        .unwrap()
        .starts_with("IPv4 header (20 bytes): 45"));
    assert_eq!(packets[3]["payload_hex"], "68 65 6c 6c 6f");
    assert_eq!(events[events.len() - 2]["kind"], "end");
    assert_eq!(events[events.len() - 1]["kind"], "bye");
    // The run is over and its one viewer has it all: wirelab ends.
    assert!(child.wait().unwrap().success());
}

#[test]
fn an_address_that_is_not_loopback_is_served_with_a_warning() {
    let path = capture("tcp_echo.pcap");
    let (mut child, base) = {
        let port = crate::common::free_port_on([0, 0, 0, 0]);
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wirelab"))
            .arg("replay")
            .arg(&path)
            .arg(format!("--web=0.0.0.0:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        (child, format!("http://127.0.0.1:{port}/"))
    };
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(
        first.contains("warning") && first.contains("other machines"),
        "{first}"
    );
    assert!(stream(&base).iter().any(|e| e["kind"] == "bye"));
    assert!(child.wait().unwrap().success());
}

fn packets_shown(b: &Browser) -> u64 {
    b.eval("return +(document.body.dataset.packets || 0);")
        .as_u64()
        .unwrap()
}

#[test]
fn a_live_lab_in_chromium_steps_and_draws_each_packet_as_it_arrives() {
    let dir = std::env::temp_dir().join(format!("wirelab-web-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join("run.jsonl");
    let args = ["demo", "tcp-echo", "--step", "-o"].map(OsStr::new);
    let (mut child, base) = with_web(&[&args[..], &[jsonl.as_os_str()]].concat());
    let b = Browser::start();
    b.open(&base);
    b.wait_for(
        "the lab's question",
        "return document.getElementById('question').textContent;",
        Duration::from_secs(20),
    );
    // Step through: the packets shown before each press.
    let mut before_each_step = Vec::new();
    loop {
        let next = b.wait_for(
            "a Step or the end",
            "var s = document.getElementById('step');\
             if (document.getElementById('status').dataset.state === 'ended') return 'ended';\
             return (!s.hidden && !s.disabled) ? 'step' : '';",
            Duration::from_secs(30),
        );
        if next == "ended" {
            break;
        }
        // Drawn at most 30 ms after the events came.
        std::thread::sleep(Duration::from_millis(100));
        before_each_step.push(packets_shown(&b));
        b.click("#step");
    }
    std::thread::sleep(Duration::from_millis(100));
    let at_end = packets_shown(&b);
    assert!(before_each_step.len() >= 3, "{before_each_step:?}");
    assert_eq!(before_each_step[0], 0, "nothing before the first step");
    assert!(before_each_step.windows(2).all(|w| w[0] <= w[1]));
    // Client 1's packets were on the page while the lab waited to start client 2.
    assert!(
        before_each_step.iter().any(|&n| n > 0 && n < at_end),
        "packets came step by step: {before_each_step:?}, then {at_end}"
    );
    assert!(child.wait().unwrap().success());

    // Every packet of the saved timeline, in order, with its flags and states.
    let saved: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let packets: Vec<&Value> = saved.iter().filter(|e| e["kind"] == "packet").collect();
    let rows = b.eval(
        "return Array.from(document.querySelectorAll('.row.pk')).map(function (r) { return {\
           frame: +r.dataset.frame, label: r.querySelector('.label').textContent,\
           boxes: Array.from(r.querySelectorAll('.box')).map(function (b) {\
             return b.dataset.side + '=' + b.dataset.state; }) }; });",
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), packets.len());
    assert_eq!(at_end, packets.len() as u64);
    assert!(packets.len() >= 18, "{}", packets.len());
    for (row, p) in rows.iter().zip(&packets) {
        assert_eq!(row["frame"], p["frame"]);
        let flags: Vec<&str> = p["tcp_flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let label = row["label"].as_str().unwrap();
        assert!(
            label.starts_with(&format!("{}  seq {}", flags.join("+"), p["rel_seq"])),
            "{label} for {p}"
        );
        let mut boxes: Vec<String> = Vec::new();
        for side in ["client", "server"] {
            let state = p[format!("{side}_state")].as_str().unwrap();
            if state != "-" {
                boxes.push(format!("{side}={state}"));
            }
        }
        assert_eq!(
            row["boxes"],
            serde_json::json!(boxes),
            "frame {}",
            p["frame"]
        );
    }
    // The checks, judged: as many as the lab wrote, all passed.
    let checks = saved.iter().filter(|e| e["kind"] == "check").count();
    let shown = b.eval(
        "return Array.from(document.querySelectorAll('#checks li')).map(function (l) { return l.dataset.passed; });",
    );
    assert_eq!(shown.as_array().unwrap().len(), checks);
    assert!(
        shown.as_array().unwrap().iter().all(|p| p == "true"),
        "{shown}"
    );
    // Some state box is the kernel's own record.
    let kernel = b.eval("return document.querySelectorAll('.box.kernel').length;");
    assert!(kernel.as_u64().unwrap() > 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_quiz_hides_each_packet_until_it_is_predicted_and_keeps_score() {
    let path = capture("tcp_echo.pcap");
    let (mut child, base) =
        with_web(&[OsStr::new("replay"), path.as_os_str(), OsStr::new("--quiz")]);
    let b = Browser::start();
    b.open(&base);
    let q = b.wait_for(
        "the first question",
        "var q = document.getElementById('quiz'); return q.hidden ? '' : document.getElementById('quizq').textContent;",
        Duration::from_secs(20),
    );
    assert!(q.as_str().unwrap().starts_with("Frame 1 comes next"), "{q}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(packets_shown(&b), 0, "not shown before it is predicted");
    // Frame 1, the client's SYN: all three right.
    b.click("#quizflags input[value=SYN]");
    b.click("#quizstate option:nth-child(3)"); // SYN-SENT
    b.click("#quizcheck");
    let score =
        "var s = document.getElementById('score'); return [+s.dataset.right, +s.dataset.wrong];";
    assert_eq!(b.eval(score), serde_json::json!([3, 0]));
    // Frame 2, the server's SYN-ACK: flags wrong (no ACK ticked), ack right, state wrong.
    b.wait_for(
        "the second question",
        "return document.getElementById('quizq').textContent.indexOf('Frame 2 ') === 0;",
        Duration::from_secs(5),
    );
    b.click("#quizflags input[value=SYN]");
    b.type_into("#quizack", "1");
    b.click("#quizstate option:nth-child(2)"); // LISTEN, not SYN-RECEIVED
    b.click("#quizcheck");
    assert_eq!(b.eval(score), serde_json::json!([4, 2]));
    let parts = b.eval(
        "return Array.from(document.querySelectorAll('#quizresult span')).map(function (s) { return s.dataset.part + ':' + s.className; });",
    );
    assert_eq!(
        parts,
        serde_json::json!(["flags:wrong", "ack:right", "state:wrong"])
    );
    b.wait_for(
        "two arrows",
        "return +document.body.dataset.packets === 2;",
        Duration::from_secs(5),
    );
    drop(b);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_hostile_capture_stays_inert_in_the_live_view() {
    let path = capture("hostile.pcap");
    let (mut child, base) = with_web(&[OsStr::new("replay"), path.as_os_str()]);
    let b = Browser::start();
    b.open(&base);
    b.wait_for(
        "the end of the run",
        "return document.getElementById('status').dataset.state === 'ended';",
        Duration::from_secs(20),
    );
    assert!(!b.dialog_open(), "a payload ran alert()");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(packets_shown(&b), 24);
    // Only the page's own two scripts (its settings, its code); nothing injected.
    assert_eq!(b.eval("return document.scripts.length;"), 2);
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('img, iframe, object, embed, link, a[href]').length;"
        ),
        0
    );
    // The <script> payload is text in the detail pane.
    b.click(".row.pk[data-frame='4']");
    let payload = b.eval("return document.querySelector('#detail .payload').textContent;");
    assert_eq!(payload, "<script>alert(1)</script>");
    // The terminal escapes arrive escaped.
    b.click(".row.pk[data-frame='8']");
    let payload = b.eval("return document.querySelector('#detail .payload').textContent;");
    assert!(
        payload.as_str().unwrap().starts_with("\\x1b]0;owned\\x07"),
        "{payload}"
    );
    assert!(!b.dialog_open());
    assert!(child.wait().unwrap().success());
}

#[test]
fn web_keep_serves_the_run_to_later_browsers_until_sigterm() {
    use std::os::unix::process::ExitStatusExt;
    let path = capture("udp_echo.pcap");
    let (mut child, base) = with_web(&[
        OsStr::new("replay"),
        path.as_os_str(),
        OsStr::new("--web-keep"),
    ]);
    let first = stream(&base);
    assert_eq!(first.last().unwrap()["kind"], "bye");
    // The run is over; a browser opened now still gets all of it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    assert_eq!(stream(&base), first);
    // SAFETY: kill has no memory effects; the pid is our child's.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(
        status.success() || status.signal() == Some(libc::SIGTERM),
        "{status:?}"
    );
}

//! The kernel's own record (tracepoints) beside the packets: its events in
//! the timeline, the reason for each RST it sent tied to that packet, and
//! the private trace instance removed on every way out. Needs root (CI
//! runs as root); without it these fail with wirelab's own message.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{assert_succeeded, free_port};

const INSTANCES: &str = "/sys/kernel/tracing/instances";

/// The trace instances a wirelab process `pid` has (`wirelab-PID-N`).
fn instances_of(pid: u32) -> Vec<String> {
    let prefix = format!("wirelab-{pid}-");
    std::fs::read_dir(INSTANCES)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect()
}

#[test]
fn demo_abort_shows_the_kernels_reason_for_each_reset() {
    let out = crate::common::wirelab()
        .args(["demo", "abort", "--format", "json"])
        .output()
        .unwrap();
    let failed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"kind\":\"check\"") && l.contains("\"passed\":false"))
        .map(str::to_string)
        .collect();
    assert!(
        out.status.success(),
        "{}\nfailed checks: {failed:#?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let kernel: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "kernel").collect();
    // The listener, as the kernel saw it.
    assert!(
        kernel
            .iter()
            .any(|k| k["event"] == "state" && k["new_state"] == "LISTEN"),
        "{kernel:#?}"
    );
    // Two resets: close() after SO_LINGER {1, 0}, and close() with unread
    // data. Each reason is tied to the RST packet it explains.
    let resets: Vec<&&Value> = kernel
        .iter()
        .filter(|k| k["event"] == "sent_reset")
        .collect();
    let reasons: Vec<&str> = resets.iter().filter_map(|k| k["reason"].as_str()).collect();
    assert_eq!(reasons, ["abort_on_state", "abort_on_close"], "{resets:#?}");
    for reset in resets {
        let frame = reset["frame"].as_u64().expect("tied to its packet");
        let packet = lines
            .iter()
            .find(|l| l["kind"] == "packet" && l["frame"] == frame)
            .unwrap();
        assert!(
            packet["tcp_flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "RST"),
            "{packet}"
        );
        assert_eq!(
            reset["local"],
            packet["src"]
                .as_str()
                .map(|ip| format!("{ip}:{}", packet["sport"]))
                .unwrap()
        );
    }
    // The side whose socket reset: the client first, then the server.
    let sides: Vec<&str> = kernel
        .iter()
        .filter(|k| k["event"] == "sent_reset")
        .filter_map(|k| k["side"].as_str())
        .collect();
    assert_eq!(sides, ["client", "server"]);
}

#[test]
fn verbose_adds_each_segments_window_and_congestion_figures() {
    let probes = |extra: &[&str]| -> Vec<Value> {
        let out = crate::common::wirelab()
            .args(["demo", "tcp-echo", "--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        json_lines(&out.stdout)
            .into_iter()
            .filter(|l| l["kind"] == "kernel" && l["event"] == "probe")
            .collect()
    };
    let verbose = probes(&["-v"]);
    assert!(!verbose.is_empty(), "tcp_probe rows with -v");
    for p in &verbose {
        assert!(p["probe"]["cwnd"].as_u64().unwrap() > 0, "{p}");
        assert!(p["probe"]["rcv_wnd"].as_u64().unwrap() > 0, "{p}");
    }
    assert!(probes(&[]).is_empty(), "none without -v");
}

#[test]
fn no_kernel_leaves_the_record_out() {
    let out = crate::common::wirelab()
        .args(["demo", "tcp-echo", "--no-kernel", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!json_lines(&out.stdout)
        .iter()
        .any(|l| l["kind"] == "kernel"));
}

/// `wirelab watch` on a free port, started (its trace instance exists).
fn start_watch(extra: &[&str]) -> std::process::Child {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["watch", "--format", "json", "-p", &port.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut ready = String::new();
    stderr.read_line(&mut ready).unwrap();
    assert!(ready.contains("capturing on"), "{ready}");
    assert_eq!(
        instances_of(child.id()).len(),
        1,
        "a running watch has its trace instance"
    );
    child
}

fn signal(child: &std::process::Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn the_trace_instance_is_removed_after_ctrl_c_sigterm_and_an_error() {
    for name in ["INT", "TERM", "HUP"] {
        let mut child = start_watch(&[]);
        signal(&child, name);
        let status = child.wait().unwrap();
        assert!(
            instances_of(child.id()).is_empty(),
            "left behind after SIG{name} ({status})"
        );
    }
    // An error after the start: the output cannot be written.
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["watch", "--format", "json", "-p", &port.to_string()])
        .args(["-o", "/dev/full", "-d", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut ready = String::new();
    stderr.read_line(&mut ready).unwrap();
    // A refused connect: two packets to write, and writing them fails
    // (at the latest when the output is flushed, at the end).
    let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    let status = child.wait().unwrap();
    assert!(!status.success(), "writing to /dev/full fails");
    assert!(
        instances_of(child.id()).is_empty(),
        "left behind after an error"
    );
}

#[test]
fn an_instance_left_by_a_killed_run_is_removed_by_the_next() {
    let mut killed = start_watch(&[]);
    signal(&killed, "KILL");
    let _ = killed.wait();
    assert_eq!(
        instances_of(killed.id()).len(),
        1,
        "SIGKILL leaves it (nothing can run)"
    );
    let mut next = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["watch", "-d", "0.3", "-p", &free_port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(next.wait().unwrap().success());
    assert!(
        instances_of(killed.id()).is_empty(),
        "the next run removes the dead run's instance"
    );
    assert!(
        instances_of(next.id()).is_empty(),
        "a run that ends normally removes its own"
    );
    assert!(Path::new(INSTANCES).is_dir());
}

#[test]
fn without_root_the_states_are_said_to_be_inferred() {
    // As nobody, with only the capabilities capturing needs.
    let bin = crate::common::binary_for_anyone();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args([
            "--inh-caps=+net_raw,+net_admin",
            "--ambient-caps=+net_raw,+net_admin",
        ])
        .arg(&bin)
        .args(["watch", "-d", "0.3", "-p", &free_port().to_string()])
        .output()
        .unwrap();
    assert_succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("inferred from the packets alone"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {stderr}");
    assert!(said[0].contains("needs root"), "{stderr}");
}

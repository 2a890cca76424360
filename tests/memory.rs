//! Memory is bounded by live conversations, never by packets: peak RSS of a
//! replay of generated 1M-packet captures stays under 64 MiB. A regression
//! check that does not depend on timing.

use std::fs::File;
use std::process::{Command, Stdio};

use wirelab::synth::{write_capture, Kind};

const LIMIT_KIB: i64 = 64 * 1024;

/// Run wirelab with stdout discarded; its exit status and peak RSS in KiB
/// (from the kernel's rusage of the child, as GNU time reports it).
/// Run wirelab with stdout discarded; its exit status and peak RSS in KiB.
/// A small Python parent forks it and waits for it: the kernel's maxrss of
/// a child includes the memory of the process it was forked from, and this
/// test binary is large.
fn peak_rss_kib(args: &[&str]) -> (i32, i64) {
    let script = r#"
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_wirelab"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<i64>().unwrap());
    let code = fields.next().expect("exit code") as i32;
    (code, fields.next().expect("maxrss"))
}

fn generated(name: &str, kind: Kind) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wirelab-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let n = write_capture(File::create(&path).unwrap(), 1_000_000, kind).unwrap();
    assert_eq!(n, 1_000_000);
    path
}

#[test]
fn peak_rss_stays_under_64_mib_on_a_million_packets() {
    let echo = generated("echo.pcap", Kind::Echo);
    let path = echo.to_str().unwrap();
    for format in ["text", "json"] {
        let (code, kib) = peak_rss_kib(&["replay", "--format", format, path]);
        assert_eq!(code, 0);
        assert!(kib < LIMIT_KIB, "echo, {format}: peak RSS {kib} KiB");
    }
    // A million distinct flows (a SYN flood): eviction keeps the table
    // bounded, and the summaries of the conversations evicted at once (half
    // the table) do not pile up between the two threads of a replay.
    let flood = generated("flood.pcap", Kind::SynFlood);
    let flood = flood.to_str().unwrap();
    for args in [
        &["replay", "--summary", flood][..],
        &["replay", "--format", "text", flood],
        &["replay", "--format", "json", flood],
    ] {
        let (code, kib) = peak_rss_kib(args);
        assert_eq!(code, 0);
        assert!(kib < LIMIT_KIB, "SYN flood, {args:?}: peak RSS {kib} KiB");
    }
    std::fs::remove_dir_all(echo.parent().unwrap()).unwrap();
}

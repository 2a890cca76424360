//! Memory is bounded by live conversations, never by packets: peak RSS of a
//! replay of generated 1M-packet captures stays under 64 MiB. A regression
//! check that does not depend on timing.

use std::fs::File;
use std::process::{Command, Stdio};

use wirelab::synth::{write_capture, Kind};

const LIMIT_KIB: i64 = 64 * 1024;

/// Run wirelab with stdout discarded; its exit status and peak RSS in KiB
/// (from the kernel's rusage of the child, as GNU time reports it).
// The child is reaped by wait4 below, which also returns its own rusage
// (getrusage(RUSAGE_CHILDREN) would mix in the other tests' children).
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(args: &[&str]) -> (i32, i64) {
    let child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
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
    // A million distinct flows (a SYN flood): eviction keeps the table bounded.
    let flood = generated("flood.pcap", Kind::SynFlood);
    let (code, kib) = peak_rss_kib(&["replay", "--summary", flood.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(kib < LIMIT_KIB, "SYN flood: peak RSS {kib} KiB");
    std::fs::remove_dir_all(echo.parent().unwrap()).unwrap();
}

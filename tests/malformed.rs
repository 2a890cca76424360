//! tcpdump's malformed captures: each replays without panic or hang, and
//! either succeeds or fails with one line and exit code 2.

use std::time::Duration;

use crate::common::{captures_in, tcpdump_captures, wirelab};

#[test]
fn malformed_captures_replay_without_panic_or_hang() {
    let files = captures_in(&tcpdump_captures("malformed"));
    assert!(
        files.len() >= 70,
        "expected tcpdump's malformed captures in captures/tcpdump/malformed"
    );
    for path in files {
        for format in ["text", "json"] {
            let out = wirelab()
                .args(["replay", "--format", format])
                .arg(&path)
                .timeout(Duration::from_secs(20))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            assert!(
                code == Some(0) || code == Some(2),
                "{}: exit {code:?} (a panic is 101, a hang is killed): {stderr}",
                path.display()
            );
            assert!(!stderr.contains("panicked"), "{}: {stderr}", path.display());
            if code == Some(2) {
                assert_eq!(
                    stderr.lines().count(),
                    1,
                    "{}: one line expected: {stderr}",
                    path.display()
                );
                assert!(
                    stderr.starts_with("wirelab: "),
                    "{}: {stderr}",
                    path.display()
                );
            }
        }
    }
}

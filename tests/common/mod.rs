use std::path::{Path, PathBuf};

use assert_cmd::Command;
use wirelab::capture::file::FileSource;
use wirelab::capture::FrameSource;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tcpdump's test captures, copied into the repository (`captures/tcpdump/`).
pub fn tcpdump_captures(rel: &str) -> PathBuf {
    repo().join("captures").join("tcpdump").join(rel)
}

pub fn wirelab() -> Command {
    let mut cmd = Command::cargo_bin("wirelab").expect("wirelab binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Every capture file directly in `dir`, sorted.
pub fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".pcap") || name.ends_with(".pcapng")
        })
        .collect();
    files.sort();
    files
}

/// Count the frames of a file through the library, to compare with tools.
#[allow(dead_code)]
pub fn frame_count(path: &Path) -> u64 {
    let mut source = FileSource::open(path).expect("open");
    let mut n = 0;
    while let Ok(Some(_)) = source.next_frame() {
        n += 1;
    }
    n
}

/// A copy of the wirelab binary that any user may run: the checkout may sit
/// in a home directory the user nobody cannot enter (Debian 13 makes homes
/// 0700, and /root is), so tests that drop privileges run this copy.
#[allow(dead_code)]
pub fn binary_for_anyone() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wirelab-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let bin = dir.join("wirelab");
        std::fs::copy(env!("CARGO_BIN_EXE_wirelab"), &bin).expect("copy wirelab");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        bin
    })
    .clone()
}

/// The wirelab binary run without capture or bind privileges: as root,
/// dropped to nobody with setpriv (util-linux); as another user, as is.
#[allow(dead_code)]
pub fn unprivileged_wirelab() -> std::process::Command {
    let bin = binary_for_anyone();
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg(&bin);
        c
    } else {
        std::process::Command::new(bin)
    }
}

/// `wirelab replay --format FORMAT PATH`, which must succeed; its stdout.
#[allow(dead_code)]
pub fn replay_to_string(path: &Path, format: &str) -> String {
    let out = wirelab()
        .args(["replay", "--format", format])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} ({format}): {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The packet events of `wirelab replay --format json PATH`.
#[allow(dead_code)]
pub fn packet_events(path: &Path) -> Vec<serde_json::Value> {
    replay_to_string(path, "json")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("each line is JSON"))
        .filter(|v| v["kind"] == "packet")
        .collect()
}

/// Each packet's explanation, from the JSON timeline.
#[allow(dead_code)]
pub fn packet_notes(path: &Path) -> Vec<String> {
    packet_events(path)
        .iter()
        .map(|v| v["note"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A run that must have succeeded; its stderr is the failure's message.
#[allow(dead_code)]
#[track_caller]
pub fn assert_succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run that failed with exit code 2 and one line on stderr; that line.
#[allow(dead_code)]
pub fn one_line_error(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

pub mod browser;

/// A port the kernel just gave out on 127.0.0.1 (free at that moment).
pub fn free_port() -> u16 {
    free_port_on([127, 0, 0, 1])
}

/// The same on `ip` (0.0.0.0: every address).
pub fn free_port_on(ip: [u8; 4]) -> u16 {
    std::net::TcpListener::bind((std::net::Ipv4Addr::from(ip), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `wirelab ARGS --web=127.0.0.1:PORT` started in the background, and the
/// view's address once it answers.
pub fn with_web(args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    let port = free_port();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wirelab"))
        .args(args)
        .arg(format!("--web=127.0.0.1:{port}"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the view did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}/"))
}

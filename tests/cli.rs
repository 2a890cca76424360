//! Command-line behaviour: help, bad input, broken pipe, output files.

use std::io::Read;
use std::process::{Command, Stdio};

use predicates::prelude::{predicate, PredicateBooleanExt};

use crate::common::{assert_succeeded, one_line_error, repo, tcpdump_captures, wirelab};

#[test]
fn help_lists_replay_and_watch() {
    wirelab()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("replay").and(predicate::str::contains("watch")));
}

#[test]
fn missing_file_is_one_line_and_exit_2() {
    let out = wirelab()
        .args(["replay", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("wirelab: cannot open /nonexistent/x.pcap"),
        "{err}"
    );
}

#[test]
fn not_a_capture_is_one_line_and_exit_2() {
    let out = wirelab()
        .args(["replay"])
        .arg(repo().join("Cargo.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("is not a capture file"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn truncated_file_shows_what_was_read_then_says_where_it_stopped() {
    let dir = std::env::temp_dir().join(format!("wirelab-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(repo().join("captures/lab/tcp_echo.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let out = wirelab()
        .args(["replay", "--format", "text"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        // Packet rows: a frame number, then the relative time.
        stdout
            .lines()
            .filter(|l| {
                let mut words = l.split_whitespace();
                words.next().is_some_and(|w| w.parse::<u64>().is_ok())
                    && words.next().is_some_and(|w| w.parse::<f64>().is_ok())
            })
            .count(),
        9,
        "the 9 frames before the damage are shown:\n{stdout}"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("truncated file") && err.contains("after 9 frames"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unsupported_link_type_is_named() {
    let path = tcpdump_captures("malformed/radiotap-heapoverflow.pcap");
    let out = wirelab().args(["replay"]).arg(path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unsupported link type 127 (IEEE802_11_RADIOTAP)"),
        "{err}"
    );
}

#[test]
fn unknown_format_is_a_usage_error() {
    wirelab()
        .args(["replay", "--format", "xml", "x.pcap"])
        .assert()
        .failure()
        .code(2);
}

#[test]
fn broken_pipe_is_not_an_error() {
    // Read one line, then close the pipe while wirelab still writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["replay", "--format", "json"])
        .arg(repo().join("captures/linktypes/lab-any-sll2.pcap"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_succeeded(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn output_file_is_written_whole_and_input_is_untouched() {
    let dir = std::env::temp_dir().join(format!("wirelab-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = repo().join("captures/lab/tcp_echo.pcap");
    let before = std::fs::read(&input).unwrap();
    let target = dir.join("out.jsonl");
    wirelab()
        .args(["replay", "--format", "json", "-o"])
        .arg(&target)
        .arg(&input)
        .assert()
        .success();
    let text = std::fs::read_to_string(&target).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"kind\":\"packet\""))
            .count(),
        10
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    // A failing run leaves no partial file behind.
    let bad = dir.join("bad.jsonl");
    wirelab()
        .args(["replay", "-o"])
        .arg(&bad)
        .arg(repo().join("Cargo.toml"))
        .assert()
        .code(2);
    assert!(!bad.exists());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary files left"
    );
    // Output over the input is refused, even with --force.
    wirelab()
        .args(["replay", "--force", "-o"])
        .arg(&input)
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("over the input file"));
    assert_eq!(std::fs::read(&input).unwrap(), before);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_existing_file_is_overwritten_only_with_force() {
    let dir = std::env::temp_dir().join(format!("wirelab-force-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("report.md");
    std::fs::write(&target, "the student's own notes\n").unwrap();
    let input = repo().join("captures/lab/tcp_echo.pcap");
    let out = wirelab()
        .args(["replay", "--format", "md", "-o"])
        .arg(&target)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = one_line_error(&out);
    assert!(
        stderr.contains("already exists (use --force to overwrite it)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "the student's own notes\n"
    );
    wirelab()
        .args(["replay", "--format", "md", "--force", "-o"])
        .arg(&target)
        .arg(&input)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .starts_with("| # |"));
    std::fs::remove_dir_all(dir).unwrap();
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn under_sudo_output_belongs_to_the_invoking_user() {
    use std::os::unix::fs::MetadataExt;
    assert!(
        is_root(),
        "this test runs as root, as CI does (scripts/test uses sudo)"
    );
    let dir = std::env::temp_dir().join(format!("wirelab-sudo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("timeline.jsonl");
    // As `sudo wirelab ...` run by the user nobody (65534) would.
    wirelab()
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .args(["replay", "--format", "json", "-o"])
        .arg(&target)
        .arg(repo().join("captures/lab/tcp_echo.pcap"))
        .assert()
        .success();
    let meta = std::fs::metadata(&target).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    // Without sudo's variables, root keeps its own file.
    let own = dir.join("own.jsonl");
    wirelab()
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .args(["replay", "--format", "json", "-o"])
        .arg(&own)
        .arg(repo().join("captures/lab/tcp_echo.pcap"))
        .assert()
        .success();
    assert_eq!(std::fs::metadata(&own).unwrap().uid(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_full_disk_is_one_clear_line_and_leaves_no_file() {
    // A 4 KiB tmpfs in a private mount namespace (root only, as in CI).
    assert!(is_root(), "this test runs as root, as CI does");
    let dir = std::env::temp_dir().join(format!("wirelab-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o size=4k tmpfs \"$1\" || exit 99; \
             \"$2\" replay --format text -o \"$1/out.txt\" \"$3\"; code=$?; \
             echo \"left:$(ls -A \"$1\")\"; exit $code",
        )
        .arg("sh")
        .arg(&dir)
        .arg(env!("CARGO_BIN_EXE_wirelab"))
        .arg(repo().join("captures/linktypes/lab-lo-ethernet.pcap"))
        .output()
        .unwrap();
    let stderr = one_line_error(&out);
    assert!(
        stderr.contains("cannot write") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "left:",
        "no partial or temporary file"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_output_directory_and_a_full_stdout_are_clear_errors() {
    let input = repo().join("captures/lab/tcp_echo.pcap");
    let out = wirelab()
        .args(["replay", "-o", "/nonexistent-wirelab-dir/out.txt"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "wirelab: cannot create /nonexistent-wirelab-dir/out.txt: No such file or directory"
        ),
        "{stderr}"
    );
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["replay", "--format", "text"])
        .arg(&input)
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "wirelab: cannot write standard output: No space left on device (os error 28)"
    );
}

#[test]
fn bad_capture_filter_is_one_line() {
    let out = wirelab()
        .args(["watch", "--filter", "port port port"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bad capture filter") || err.contains("permission denied"),
        "{err}"
    );
}

#[test]
fn unknown_interface_is_one_line() {
    let out = wirelab()
        .args(["watch", "--interface", "nosuch0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nosuch0"), "{err}");
}

#[test]
fn no_capture_permission_names_the_fixes() {
    let mut cmd = crate::common::unprivileged_wirelab();
    let out = cmd.args(["watch", "--duration", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("permission denied") && err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
}

#[test]
fn hex_shows_each_header_byte_with_the_field_it_encodes() {
    // Frame 1 of tcp_echo.pcap: the SYN from 127.0.0.1:46284 to port 23401.
    let out = wirelab()
        .args(["replay", "--hex", "--format", "text"])
        .arg(repo().join("captures/lab/tcp_echo.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let first: Vec<&str> = text.lines().take(9).map(str::trim).collect();
    assert!(first[1]
        .starts_with("network byte order: multi-byte fields travel most significant byte first"));
    assert_eq!(
        first[2],
        "IPv4 header (20 bytes): 45 00 00 3c 7d 40 40 00 40 06 bf 79 7f 00 00 01 7f 00 00 01"
    );
    assert_eq!(
        first[3],
        "45 = version 4, header 5 x 4 = 20 bytes; 00 3c = total length 60; 40 = TTL 64; 06 = protocol 6 (TCP)"
    );
    assert!(first[5]
        .starts_with("TCP header (40 bytes): b4 cc 5b 69 f4 6b 44 52 00 00 00 00 a0 02 ff d7"));
    assert_eq!(
        first[6],
        "b4 cc = source port 46284 (0xb4cc); 5b 69 = destination port 23401 (0x5b69)"
    );
    assert_eq!(
        first[7],
        "f4 6b 44 52 = sequence number 4100670546; 00 00 00 00 = acknowledgment number 0"
    );
    assert_eq!(
        first[8],
        "a0 02 = data offset 10 x 4 = 40 bytes, flag bits 0x002 (SYN); ff d7 = window 65495"
    );
    // The same bytes tshark sees at those offsets (14 = after the Ethernet header).
    let t = Command::new("tshark")
        .arg("-r")
        .arg(repo().join("captures/lab/tcp_echo.pcap"))
        .args([
            "-c",
            "1",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.seq_raw",
            "-e",
            "ip.len",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&t.stdout).trim(),
        "46284\t4100670546\t60"
    );
}

// See: issue 17: `-o out.html` or `-o out.pcapng` without --format wrote a
// terminal table into the file. The extension names the format; a
// --format that contradicts it is one clear line.
#[test]
fn output_format_comes_from_the_extension_and_a_conflict_is_refused() {
    let dir = std::env::temp_dir().join(format!("wirelab-ext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = repo().join("captures/lab/tcp_echo.pcap");
    for (name, starts) in [
        ("t.html", &b"<!doctype html>"[..]),
        ("t.pcapng", &[0x0a, 0x0d, 0x0d, 0x0a][..]),
        ("t.jsonl", &b"{\"kind\":\"packet\""[..]),
        ("t.csv", &b"kind,frame,"[..]),
    ] {
        let target = dir.join(name);
        wirelab()
            .args(["replay", "--force", "-o"])
            .arg(&target)
            .arg(&input)
            .assert()
            .success();
        let bytes = std::fs::read(&target).unwrap();
        assert!(
            bytes.starts_with(starts),
            "{name}: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        );
    }
    let out = wirelab()
        .args(["replay", "--format", "json", "-o"])
        .arg(dir.join("x.html"))
        .arg(&input)
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("--format json does not match"), "{err}");
    assert!(!dir.join("x.html").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

// See: issue 17: `-o X --force` replaced a device with a regular file,
// `-o /dev/stdout` was "already exists", `-o adir --force` left a temp file.
// Devices and FIFOs are written through, `-` is standard output, a symlink is
// followed (the link stays), a directory is refused in one line.
#[test]
fn output_to_devices_fifos_symlinks_and_dash() {
    use std::os::unix::fs::FileTypeExt;
    let dir = std::env::temp_dir().join(format!("wirelab-sinks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = repo().join("captures/lab/tcp_echo.pcap");
    let rows = |out: &[u8]| String::from_utf8_lossy(out).lines().count();
    // Standard output, by name and as "-".
    for target in ["/dev/stdout", "-"] {
        let out = wirelab()
            .args(["replay", "--format", "text", "-o", target])
            .arg(&input)
            .output()
            .unwrap();
        assert!(out.status.success(), "{target}");
        assert!(rows(&out.stdout) >= 10, "{target}");
    }
    // A device stays a device, even with --force.
    wirelab()
        .args(["replay", "--format", "text", "--force", "-o", "/dev/null"])
        .arg(&input)
        .assert()
        .success();
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A FIFO is written through.
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    wirelab()
        .args(["replay", "--format", "text", "-o"])
        .arg(&fifo)
        .arg(&input)
        .assert()
        .success();
    assert!(rows(&reader.join().unwrap()) >= 10);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    // A symlink is followed: the file it names gets the output.
    let real = dir.join("real.txt");
    std::fs::write(&real, "old").unwrap();
    let link = dir.join("link.txt");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    wirelab()
        .args(["replay", "--force", "-o"])
        .arg(&link)
        .arg(&input)
        .assert()
        .success();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(rows(&std::fs::read(&real).unwrap()) >= 10);
    // A directory: one line, nothing left behind.
    let sub = dir.join("adir");
    std::fs::create_dir(&sub).unwrap();
    let out = wirelab()
        .args(["replay", "--force", "-o"])
        .arg(&sub)
        .arg(&input)
        .output()
        .unwrap();
    assert!(one_line_error(&out).contains("is a directory"));
    assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
            .count(),
        0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// See: issue 17. A gzipped capture is read as tshark reads it; a broken
// one is one clear line.
#[test]
fn a_gzipped_capture_replays_like_the_plain_one() {
    let dir = std::env::temp_dir().join(format!("wirelab-gz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = crate::common::repo().join("captures/lab/tcp_echo.pcap");
    let gz = dir.join("tcp_echo.pcap.gz");
    let out = std::process::Command::new("gzip")
        .arg("-c")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&gz, &out.stdout).unwrap();
    let replay = |path: &std::path::Path| {
        wirelab()
            .args(["replay", "--format", "json"])
            .arg(path)
            .output()
            .unwrap()
    };
    let (a, b) = (replay(&plain), replay(&gz));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(a.stdout, b.stdout);
    let bad = dir.join("bad.pcap.gz");
    std::fs::write(&bad, b"\x1f\x8bnot gzip at all").unwrap();
    let out = replay(&bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_error(&out).contains("gzip"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The names in `dir`.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// See: issue 17. A signal that ends wirelab mid-output leaves no temporary
// file behind (and no half-written output).
#[test]
fn a_signal_mid_output_leaves_no_temporary_file() {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    let capture = std::fs::read(repo().join("captures/lab/tcp_echo.pcap")).unwrap();
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let dir =
            std::env::temp_dir().join(format!("wirelab-signal-{signal}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A stream that stays open: wirelab waits for more packets.
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("wirelab"))
            .args(["replay", "-", "-o"])
            .arg(dir.join("out.txt"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&capture).unwrap();
        stdin.flush().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while names_in(&dir).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(names_in(&dir).len(), 1, "the temporary file");
        // Let the rows reach it, then end wirelab.
        std::thread::sleep(std::time::Duration::from_millis(200));
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert_eq!(names_in(&dir), Vec::<String>::new(), "signal {signal}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// See: issue 17. SIGTERM stops `watch` as Ctrl-C does, and its output is
// kept whole, as tcpdump keeps its -w file.
#[test]
fn sigterm_ends_watch_with_its_output_whole() {
    use std::io::BufRead;
    assert!(is_root(), "this test captures on loopback, as root (CI is)");
    let dir = std::env::temp_dir().join(format!("wirelab-watch-term-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("x.pcapng");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("wirelab"))
        .args(["watch", "--no-kernel", "-p", &port.to_string(), "-w"])
        .arg(&saved)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("capturing on"), "{line}");
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server, _) = listener.accept().unwrap();
    drop(client);
    drop(server);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(names_in(&dir), vec!["x.pcapng".to_string()]);
    let rows = crate::common::packet_events(&saved);
    assert!(rows.len() >= 6, "{}", rows.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

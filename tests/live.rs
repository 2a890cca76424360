//! Live capture on loopback with real traffic: `wirelab watch` runs as a
//! child process, a TCP echo exchange happens on 127.0.0.1, Ctrl-C (SIGINT)
//! stops the capture. Needs root or CAP_NET_RAW (CI runs as root); without
//! it the test fails with wirelab's own message, it is never skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

fn sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn watch_explains_a_live_tcp_echo_exchange() {
    // A free port: bind, note it, let the listener below take it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["watch", "--format", "text", "--port", &port.to_string()])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for "capturing on ..." on stderr: the capture is ready.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut ready = String::new();
    stderr.read_line(&mut ready).unwrap();
    assert!(
        ready.contains("capturing on"),
        "wirelab watch did not start: {ready}"
    );

    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap();
        conn.write_all(&buf[..n]).unwrap();
        // Read until the client's FIN, then close: the client closed first.
        while conn.read(&mut buf).unwrap() > 0 {}
    });
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"hello").unwrap();
    let mut echo = [0u8; 5];
    client.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    drop(client);
    server.join().unwrap();
    thread::sleep(Duration::from_millis(300));
    sigint(child.id());

    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        status.success(),
        "watch exited with {status}: {rest}\n{out}"
    );

    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(&format!(":{port}")))
        .collect();
    let find = |needle: &str| {
        rows.iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle:?} in:\n{out}"))
    };
    find("handshake 1/3");
    find("handshake 2/3");
    find("handshake 3/3");
    assert!(find("bytes of data from the client").contains("\"hello\""));
    assert!(find("bytes of data from the server").contains("\"hello\""));
    find("ACK: the server confirms it has the client's bytes up to 5");
    find("ACK: the client confirms it has the server's bytes up to 5");
    assert!(find("FIN: the client will send no more data").contains("FIN-WAIT-1 / CLOSE-WAIT"));
    assert!(find("FIN: the server closes too").contains("TIME-WAIT / LAST-ACK"));
    assert!(find("last ACK").contains("TIME-WAIT / CLOSED"));
    assert!(out.contains("SF"), "summary with conn_state SF:\n{out}");
    assert!(
        out.contains("the client closed first and holds TIME-WAIT"),
        "{out}"
    );
    assert!(
        out.contains("dropped by kernel"),
        "drop counters in the summary:\n{out}"
    );
}

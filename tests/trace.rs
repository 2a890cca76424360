//! `wirelab trace`: real Python programs (tests/programs/) run under strace
//! while loopback is captured; the joined timeline puts each call next to
//! the packet it caused or consumed.

use serde_json::Value;

use crate::common::{assert_succeeded, one_line_error, repo};

/// Run `wirelab trace --format json -p PORT -p PORT+1 -- python3 PROGRAM
/// PORT ARGS` (the ports keep other tests' loopback traffic out); its events.
fn trace(program: &str, port: u16, args: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--format", "json", "-p", &port.to_string()])
        .args(["-p", &(port + 1).to_string(), "--", "python3"])
        .arg(repo().join("tests/programs").join(program))
        .arg(port.to_string())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect()
}

/// A port P, with P+1 free too (some programs use both), below Linux's
/// ephemeral range (32768-60999): an ephemeral port from the kernel could be
/// taken by another test's connection before the program binds P+1 (seen
/// once in fresh-check: EADDRINUSE).
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 21000 + (std::process::id() % 50) as u16 * 200;
    loop {
        let p = base + NEXT.fetch_add(2, Ordering::Relaxed) % 200;
        let free = |port: u16| {
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        };
        if free(p) && free(p + 1) {
            return p;
        }
    }
}

/// A call row whose `op` is one of `ops`.
fn is_op(e: &Value, ops: &[&str]) -> bool {
    e["kind"] == "call" && ops.iter().any(|op| e["op"] == *op)
}

const SENDS: &[&str] = &["send", "sendto", "sendmsg", "write"];
const RECVS: &[&str] = &["recv", "recvfrom", "recvmsg", "read"];

/// The bytes a call received (its result's data, as shown).
fn received(e: &Value) -> Option<&str> {
    e["result"]["data"]["shown"].as_str()
}

fn is_packet(e: &Value) -> bool {
    e["kind"] == "packet"
}

/// The index of the first call that `pred` accepts (which must exist).
fn find(events: &[Value], what: &str, pred: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .position(|e| e["kind"] == "call" && pred(e))
        .unwrap_or_else(|| panic!("no call {what} in {events:#?}"))
}

fn next_packet(events: &[Value], after: usize) -> &Value {
    events[after..]
        .iter()
        .find(|e| is_packet(e))
        .expect("a packet follows")
}

fn previous_packet(events: &[Value], before: usize) -> &Value {
    events[..before]
        .iter()
        .rev()
        .find(|e| is_packet(e))
        .expect("a packet precedes")
}

fn flags(p: &Value) -> Vec<&str> {
    p["tcp_flags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn blocking_echo_pair_each_call_beside_its_packet() {
    let port = free_port();
    let events = trace("echo_pair.py", port, &["plain"]);
    // connect() returns after the SYN-ACK; accept() after the handshake's ACK.
    // (Causal order is guaranteed; how far after depends on when the
    // program ran, which a loaded machine delays.)
    let event_at = |code: &str| {
        events
            .iter()
            .position(|e| {
                is_packet(e)
                    && e["events"]
                        .as_array()
                        .is_some_and(|es| es.iter().any(|ev| ev["code"] == code))
            })
            .unwrap_or_else(|| panic!("no packet with event {code}"))
    };
    let connect = find(&events, "connect", |e| {
        is_op(e, &["connect"]) && e["result"].is_object()
    });
    assert!(connect > event_at("syn_ack"));
    let accept = find(&events, "accept", |e| is_op(e, &["accept", "accept4"]));
    assert!(accept > event_at("handshake_done"));
    // Each send directly above the data segment it produced.
    let sends: Vec<usize> = (0..events.len())
        .filter(|&i| is_op(&events[i], SENDS))
        .collect();
    assert_eq!(sends.len(), 2, "the client's send and the server's echo");
    for i in sends {
        let segment = &events[i + 1];
        assert!(
            is_packet(segment),
            "the event right after {} is its segment",
            events[i]
        );
        assert_eq!(segment["payload"], "hello");
        assert_eq!(events[i]["args"]["data"]["shown"], "hello");
        let local = events[i]["local"].as_str().unwrap();
        assert!(
            local.ends_with(&format!(":{}", segment["sport"])),
            "{local}"
        );
    }
    // Each recv after the segment it read from.
    for i in
        (0..events.len()).filter(|&i| is_op(&events[i], RECVS) && events[i]["result"]["value"] == 5)
    {
        let segment = events[..i]
            .iter()
            .rev()
            .find(|e| is_packet(e) && e["len"] == 5)
            .expect("a data segment before the recv");
        assert_eq!(segment["payload"], "hello");
    }
    // The client's close() above the FIN it sends, and named as its cause.
    let server = format!("127.0.0.1:{port}");
    let close = find(&events, "close to the server", |e| {
        is_op(e, &["close"]) && e["remote"] == server.as_str()
    });
    let fin = next_packet(&events, close);
    assert!(flags(fin).contains(&"FIN"));
    let caused: Vec<&Value> = fin["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["code"] == "caused_by")
        .collect();
    assert_eq!(caused.len(), 1, "{fin}");
    assert_eq!(caused[0]["cause"], "close");
    assert_eq!(caused[0]["pid"], events[close]["pid"]);
    // The refused connect: ECONNREFUSED right after the RST.
    let refused = find(&events, "refused", |e| e["errno"] == "ECONNREFUSED");
    assert!(flags(previous_packet(&events, refused)).contains(&"RST"));
}

#[test]
fn half_close_shutdown_before_its_fin_and_eof_after_it() {
    let port = free_port();
    let events = trace("echo_pair.py", port, &["half-close"]);
    let shutdown = find(&events, "shutdown", |e| e["args"]["how"] == "SHUT_WR");
    // The client's next segment with data or FIN is the FIN. (The server's
    // echo and the client's ACK of it may come in between: both programs
    // run at once, and under load strace's clock drifts from the capture's.)
    let fin = events[shutdown..]
        .iter()
        .find(|e| {
            is_packet(e) && e["dport"] == port && (flags(e).contains(&"FIN") || e["len"] != 0)
        })
        .expect("a client segment after shutdown()");
    assert!(
        flags(fin).contains(&"FIN"),
        "shutdown(SHUT_WR) sends the FIN: {fin}"
    );
    // The server's recv returns 0 (EOF) after that FIN, and the client still
    // reads the echo after its own shutdown.
    let eof = find(&events, "recv of EOF", |e| {
        is_op(e, RECVS) && e["socket"] == "tcp" && e["result"]["value"] == 0
    });
    let client_fin = events
        .iter()
        .position(|e| is_packet(e) && e["dport"] == port && flags(e).contains(&"FIN"))
        .expect("the client's FIN");
    assert!(eof > client_fin, "EOF is read after the FIN arrived");
    let echo = events
        .iter()
        .rposition(|e| is_op(e, RECVS) && e["result"]["value"] == 5)
        .expect("the client's recv of the echo");
    assert!(echo > shutdown, "half-closed, the client still receives");
}

#[test]
fn recv_of_3_bytes_cuts_greek_letters_and_says_so() {
    let port = free_port();
    let events = trace("echo_pair.py", port, &["greek"]);
    let recvs: Vec<&Value> = events
        .iter()
        .filter(|e| is_op(e, RECVS) && e["args"]["size"] == 3 && e["result"]["value"] == 3)
        .collect();
    // "γειά σου" is 15 bytes: 5 recvs of 3 bytes.
    assert_eq!(recvs.len(), 5, "{recvs:#?}");
    // γ is ce b3: the first recv got γ and the first byte of ε.
    assert_eq!(received(recvs[0]), Some("γ"));
    assert_eq!(recvs[0]["result"]["data"]["cut"], "ce");
    assert_eq!(recvs[1]["result"]["data"]["carried_in"], 1);
    // The client's one send carries the whole message, right above its segment.
    let send = find(&events, "the greeting", |e| {
        is_op(e, SENDS) && e["args"]["data"]["len"] == 15
    });
    assert_eq!(events[send]["args"]["data"]["shown"], "γειά σου");
    assert_eq!(events[send + 1]["payload"], "γειά σου");
}

// See: issue 14 (p). Two sends read by one recv: the recv says whose
// sends its bytes came from (TCP keeps no message boundaries).
#[test]
fn one_recv_of_two_sends_counts_them() {
    let port = free_port();
    let events = trace("echo_pair.py", port, &["two-sends"]);
    let sends = events
        .iter()
        .filter(|e| is_op(e, SENDS) && e["args"]["data"]["len"] == 22)
        .count();
    assert_eq!(sends, 2, "the client's two sends");
    let server = format!("127.0.0.1:{port}");
    let recv = find(&events, "the server's recv of both", |e| {
        is_op(e, RECVS) && e["local"] == server.as_str() && e["result"]["value"] == 44
    });
    assert_eq!(events[recv]["result"]["from_sends"], 2, "{}", events[recv]);
}

#[test]
fn select_loop_server_with_three_clients_and_a_forked_process() {
    let port = free_port();
    let events = trace("select_server.py", port, &[]);
    assert!(events
        .iter()
        .any(|e| e["kind"] == "call" && e["result"]["child_kind"] == "process"));
    let accepts: Vec<&Value> = events
        .iter()
        .filter(|e| is_op(e, &["accept", "accept4"]))
        .collect();
    assert_eq!(accepts.len(), 3, "{accepts:#?}");
    let selects = events
        .iter()
        .filter(|e| is_op(e, &["select", "pselect6"]) && e["result"].is_object())
        .count();
    assert!(selects >= 6, "one select per event: {selects}");
    for n in 0..3 {
        let message = format!("client {n}");
        let send = find(&events, &message, |e| {
            is_op(e, SENDS) && e["args"]["data"]["shown"] == message.as_str()
        });
        assert_eq!(events[send + 1]["payload"], format!("client {n}"));
    }
    // Three conversations with the server, each with a FIN from both sides.
    // (Port + 1 is captured too, and another test may try it meanwhile.)
    let server = format!("127.0.0.1:{port}");
    let histories: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "conn" && e["server"] == server.as_str())
        .filter_map(|e| e["history"].as_str())
        .collect();
    assert_eq!(histories.len(), 3, "{histories:?}");
    for h in &histories {
        assert!(h.contains('F') && h.contains('f'), "both FINs: {h}");
    }
}

#[test]
fn without_strace_the_error_says_how_to_install_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--", "true"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let stderr = one_line_error(&out);
    assert!(
        stderr.contains("strace, which is not installed")
            && stderr.contains("apt-get install strace"),
        "{stderr}"
    );
}

// See: issue 16. A missing command is exit 127 with one line, as a shell
// says it; a failing program's status is wirelab's, after its timeline.
#[test]
fn a_missing_command_is_127_and_a_failing_one_passes_its_status_on() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--", "nosuchcmd-wirelab"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "wirelab: nosuchcmd-wirelab: command not found"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--format", "text", "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sh exited with status 3"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 packets"),
        "the timeline comes first: {stdout}"
    );
}

// See: issue 16. SIGTERM to wirelab reaches the program; the timeline of
// what it did is still shown, and the exit status says how it ended.
#[test]
fn sigterm_reaches_the_program_and_the_timeline_is_still_shown() {
    // The program says when it listens (a file), so the signal comes after
    // that however slowly it starts under strace on a busy machine.
    let ready = std::env::temp_dir().join(format!("wirelab-sigterm-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--format", "text", "--", "python3", "-c"])
        .arg(
            "import socket, sys, time\n\
             s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
             open(sys.argv[1], 'w').close()\n\
             time.sleep(30)",
        )
        .arg(&ready)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = std::time::Instant::now();
    while !ready.exists() && waiting.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ready.exists(), "the program never listened");
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "ended {:?} after SIGTERM",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(128 + 15));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("listen(fd"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("killed by signal 15"), "{stderr}");
    let _ = std::fs::remove_file(&ready);
}

// See: issue 16. Under sudo, the program runs as the user who ran sudo:
// only the capture and the tracing need root.
#[test]
fn under_sudo_the_program_runs_as_the_invoking_user() {
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
            .args(["trace", "--format", "text"])
            .args(extra)
            .args(["--", "id", "-u"])
            .env("SUDO_USER", "nobody")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("65534"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("running id as nobody"), "{stderr}");
    let out = run(&["--as-root"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("0"), "{stdout}");
}

#[test]
fn pcapng_comments_carry_the_calls_before_each_packet() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wirelab-trace-pcapng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("trace.pcapng");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--format", "pcapng", "-p", &port.to_string(), "-o"])
        .arg(&file)
        .args(["--", "python3"])
        .arg(repo().join("tests/programs/echo_pair.py"))
        .args([&port.to_string(), "plain"])
        .output()
        .unwrap();
    assert_succeeded(&out);
    let t = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-T", "fields", "-e", "tcp.len", "-e", "frame.comment"])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let text = String::from_utf8_lossy(&t.stdout);
    // The first data segment's comment names the send that produced it.
    let data = text
        .lines()
        .find(|l| l.starts_with("5\t"))
        .unwrap_or_else(|| panic!("a 5-byte segment in:\n{text}"));
    assert!(
        data.contains("send(fd") && data.contains("5 bytes"),
        "{data}"
    );
    // ... and then the packet's own explanation, as in the JSON timeline.
    let note = crate::common::packet_notes(&file)
        .into_iter()
        .find(|n| !n.is_empty() && data.contains(n.as_str()));
    assert!(note.is_some(), "the explanation follows the calls: {data}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_ports_only_the_programs_own_traffic_is_shown() {
    // Unrelated loopback traffic during the trace: a loop of connects to
    // another listener.
    let noise = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let noise_port = noise.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    noise.set_nonblocking(true).unwrap();
    // The noise connects from a fixed port below the ephemeral range: from
    // an ephemeral one, Linux may give it the very port number the traced
    // client has (it shares a local port between connections to different
    // servers), and trace keeps traffic by port number (seen once in
    // fresh-check).
    let noise_client = free_port();
    let busy = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let to = std::net::SocketAddr::from(([127, 0, 0, 1], noise_port));
            let from = std::net::SocketAddr::from(([127, 0, 0, 1], noise_client));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let socket =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                        .unwrap();
                // RST on close: no TIME-WAIT holds the fixed port.
                let _ = socket.set_linger(Some(std::time::Duration::ZERO));
                let _ = socket.set_reuse_address(true);
                if socket.bind(&from.into()).is_ok() {
                    let _ =
                        socket.connect_timeout(&to.into(), std::time::Duration::from_millis(100));
                }
                drop(socket);
                // Accept (and close) so the listen queue never fills.
                while noise.accept().is_ok() {}
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let port = free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--format", "json", "--", "python3"])
        .arg(repo().join("tests/programs/echo_pair.py"))
        .args([&port.to_string(), "plain"])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
    assert_succeeded(&out);
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let packets: Vec<&Value> = events.iter().filter(|e| is_packet(e)).collect();
    assert!(
        packets.iter().any(|p| p["dport"] == port),
        "the program's packets are shown"
    );
    assert!(
        !packets
            .iter()
            .any(|p| p["dport"] == noise_port || p["sport"] == noise_port),
        "other loopback traffic is left out"
    );
}

/// `wirelab trace` of `argv` on `port` and `port + 1`; its events.
fn trace_command(port: u16, argv: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["trace", "--format", "json", "-p", &port.to_string()])
        .args(["-p", &(port + 1).to_string(), "--"])
        .args(argv)
        .output()
        .unwrap();
    assert_succeeded(&out);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect()
}

// See: issue 16. A process that ends with sockets open: the kernel closes
// them, and each FIN names the process's end as its cause.
#[test]
fn a_process_ending_with_sockets_open_has_the_kernel_close_them() {
    let port = free_port();
    let program = repo().join("tests/programs/oracle/os_exit.py");
    let events = trace_command(
        port,
        &["python3", program.to_str().unwrap(), &port.to_string()],
    );
    let exits: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "call" && e["op"] == "process_exit")
        .collect();
    assert_eq!(exits.len(), 2, "client and server socket: {exits:#?}");
    let child = exits[0]["pid"].as_u64().unwrap();
    assert!(exits
        .iter()
        .all(|e| e["pid"] == child && e["args"]["exit_status"] == 0));
    let fins: Vec<&Value> = events
        .iter()
        .filter(|e| is_packet(e) && flags(e).contains(&"FIN"))
        .collect();
    assert_eq!(fins.len(), 2);
    for fin in fins {
        let cause = fin["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ev| ev["code"] == "caused_by")
            .unwrap_or_else(|| panic!("no cause: {fin}"));
        assert_eq!(cause["cause"], "process_exit");
        assert_eq!(cause["pid"], child);
    }
}

// See: issue 16. A socket left in CLOSE-WAIT for more than a second after
// its recv() returned 0 is flagged at its close.
#[test]
fn a_close_long_after_eof_says_how_long_the_socket_sat_in_close_wait() {
    let port = free_port();
    let program = repo().join("tests/programs/oracle/close_wait_leak.py");
    let events = trace_command(
        port,
        &["python3", program.to_str().unwrap(), &port.to_string()],
    );
    let server = format!("127.0.0.1:{port}");
    let close = events
        .iter()
        .find(|e| {
            e["kind"] == "call"
                && (e["op"] == "close" || e["op"] == "process_exit")
                && e["local"] == server.as_str()
                && e["remote"].is_string()
        })
        .expect("the server's close");
    let since = close["eof_since_ns"]
        .as_i64()
        .expect("recv() returned 0 before");
    assert!(since >= 1_400_000_000, "{close}");
}

// See: issue 16. A shell script that starts a server and a client: each
// call names its process and the program it runs; process creation is shown
// only on the way to processes that use sockets.
#[test]
fn a_script_starting_two_programs_names_each_process() {
    let port = free_port();
    let dir = repo().join("tests/programs");
    let script = format!(
        "python3 {server} {port} & sleep 0.3; python3 {client} {port}; wait",
        server = dir.join("tiny_server.py").display(),
        client = dir.join("tiny_client.py").display(),
    );
    let events = trace_command(port, &["sh", "-c", &script]);
    let actor_of = |op: &str| -> (String, u64) {
        let e = events
            .iter()
            .find(|e| e["kind"] == "call" && e["op"] == op)
            .unwrap_or_else(|| panic!("no {op}"));
        (
            e["actor"].as_str().unwrap().to_string(),
            e["pid"].as_u64().unwrap(),
        )
    };
    let (server, server_pid) = actor_of("listen");
    let (client, client_pid) = actor_of("connect");
    assert!(server.contains("tiny_server.py"), "{server}");
    assert!(client.contains("tiny_client.py"), "{client}");
    assert_ne!(server_pid, client_pid);
    // Every process creation shown leads to a process that made calls.
    let callers: std::collections::HashSet<u64> = events
        .iter()
        .filter(|e| e["kind"] == "call")
        .filter_map(|e| e["pid"].as_u64())
        .collect();
    for spawn in events
        .iter()
        .filter(|e| e["kind"] == "call" && e["result"]["child_pid"].is_u64())
    {
        assert!(
            callers.contains(&spawn["result"]["child_pid"].as_u64().unwrap()),
            "a process creation that leads nowhere is shown: {spawn}"
        );
    }
}

// See: issue 16. A real UDP program: sendto/recvfrom carry the data and the
// address apart, an empty datagram is a datagram (no FIN), and a 100 kB
// send is counted by the call, not by what strace showed.
#[test]
fn udp_sendto_recvfrom_an_empty_datagram_and_a_100_kb_send() {
    let port = free_port();
    let events = trace("udp_and_big_send.py", port, &[]);
    let calls = |op: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["kind"] == "call" && e["op"] == op)
            .collect()
    };
    let server = format!("127.0.0.1:{port}");
    let sendtos = calls("sendto");
    let first = sendtos
        .iter()
        .find(|e| e["args"]["addr"] == server.as_str())
        .expect("the client's sendto");
    assert_eq!(
        first["args"]["data"]["shown"], "hi",
        "the address is not data"
    );
    assert_eq!(first["socket"], "udp");
    let recvs: Vec<&Value> = calls("recvfrom")
        .into_iter()
        .filter(|e| e["socket"] == "udp")
        .collect();
    assert!(recvs
        .iter()
        .any(|e| e["result"]["data"]["shown"] == "hi" && e["result"]["peer"].is_string()));
    // The empty datagram: a recvfrom of 0 on a UDP socket (no FIN: it is
    // placed by time, not tied to one), and a datagram of length 0.
    assert!(recvs.iter().any(|e| e["result"]["value"] == 0));
    assert!(events
        .iter()
        .any(|e| is_packet(e) && e["proto"] == "udp" && e["len"] == 0));
    // 100,000 bytes in one send: the count is the call's.
    let big = events
        .iter()
        .find(|e| is_op(e, SENDS) && e["args"]["data"]["len"] == 100_000)
        .expect("the 100 kB send");
    assert_eq!(big["result"]["value"], 100_000);
}

//! The echo programs on loopback: each knob, asserted on what the kernel
//! did (errno values, peers, received chunks, packets), not on printed text.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wirelab::capture::live::{LiveOptions, LiveSource};
use wirelab::capture::FrameSource;
use wirelab::decode::{decode, Transport};
use wirelab::sockets::client::{self, ClientOptions};
use wirelab::sockets::server::{self, Mode, ServeOptions, SharedLog};
use wirelab::sockets::shutdown::Shutdown;
use wirelab::sockets::Calls;

use crate::common::{assert_succeeded, free_port};

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A server from the library on a thread, stopped when dropped.
struct Running {
    stop: Shutdown,
    log: SharedLog,
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn start(opts: ServeOptions) -> Running {
    let calls = Calls::quiet("server");
    let socket = server::open(&opts, &calls).expect("server socket");
    let stop = Shutdown::new().unwrap();
    let log = SharedLog::default();
    let (s, l) = (stop.clone(), Arc::clone(&log));
    let handle = thread::spawn(move || {
        let _ = server::serve(socket, &opts, &calls, &s, &l);
    });
    Running {
        stop,
        log,
        handle: Some(handle),
    }
}

/// `wirelab serve` as a child process (process mode forks, so it gets a
/// process of its own rather than the multi-threaded test harness).
fn serve_binary(args: &[&str]) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    child
}

/// Capture on loopback while `f` runs; returns the decoded TCP segments' flags.
fn capture_tcp_flags(port: u16, linger: Duration, f: impl FnOnce()) -> Vec<(u16, u16, u8, u32)> {
    let stop = Arc::new(AtomicBool::new(false));
    let options = LiveOptions {
        filter: Some(format!("tcp port {port}")),
        ..LiveOptions::default()
    };
    let mut source =
        LiveSource::open(&options, Arc::clone(&stop)).expect("live capture on lo (needs root)");
    let reader = thread::spawn(move || {
        let mut segs = Vec::new();
        while let Ok(Some(frame)) = source.next_frame() {
            if let Transport::Tcp(t) = decode(&frame).transport {
                segs.push((t.src_port, t.dst_port, t.flags.0, t.seq.0));
            }
        }
        segs
    });
    thread::sleep(Duration::from_millis(200));
    f();
    thread::sleep(linger);
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap()
}

#[test]
fn two_servers_on_one_port_without_reuseaddr_get_eaddrinuse() {
    let port = free_port();
    let calls = Calls::quiet("server");
    let opts = ServeOptions {
        addr: local(port),
        ..ServeOptions::default()
    };
    let _first = server::open(&opts, &calls).unwrap();
    let err = server::open(&opts, &calls).unwrap_err();
    assert_eq!(err.errno, Some(libc::EADDRINUSE));
    assert_eq!(err.call.op, wirelab::call::Op::Bind);
    assert_eq!(err.call.args.addr, Some(local(port)));
    assert_eq!(err.call.errno(), Some("EADDRINUSE"));
}

/// Leave a TIME-WAIT on the server's port: the server closes first.
fn time_wait_on_server_port(port: u16, reuseaddr: bool) {
    let calls = Calls::quiet("server");
    let opts = ServeOptions {
        addr: local(port),
        reuseaddr: Some(reuseaddr),
        ..ServeOptions::default()
    };
    let listener: TcpListener = server::open(&opts, &calls).unwrap().into();
    let client = TcpStream::connect(local(port)).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    drop(accepted); // server's FIN first
    let mut c = client;
    let mut buf = [0u8; 8];
    assert_eq!(std::io::Read::read(&mut c, &mut buf).unwrap(), 0);
    drop(c);
    drop(listener);
    thread::sleep(Duration::from_millis(100));
}

#[test]
fn linux_reuseaddr_rule_needs_both_sockets() {
    let calls = Calls::quiet("server");
    for (old, new, ok) in [
        (false, true, false),
        (true, false, false),
        (true, true, true),
    ] {
        let port = free_port();
        time_wait_on_server_port(port, old);
        let opts = ServeOptions {
            addr: local(port),
            reuseaddr: Some(new),
            ..ServeOptions::default()
        };
        let result = server::open(&opts, &calls);
        if ok {
            assert!(result.is_ok(), "old {old}, new {new}: {:?}", result.err());
        } else {
            assert_eq!(
                result.err().and_then(|e| e.errno),
                Some(libc::EADDRINUSE),
                "old {old}, new {new}"
            );
        }
    }
}

#[test]
fn recv_buf_3_splits_greek_letters() {
    let port = free_port();
    let srv = start(ServeOptions {
        addr: local(port),
        recv_buf: 3,
        ..ServeOptions::default()
    });
    let opts = ClientOptions {
        server: local(port),
        messages: vec!["καλημέρα".into()],
        ..ClientOptions::default()
    };
    let ex = client::run(&opts, &Calls::quiet("client")).unwrap();
    assert_eq!(ex[0].replies[0], "καλημέρα".as_bytes());
    thread::sleep(Duration::from_millis(100));
    let chunks = srv.log.lock().unwrap().chunks.clone();
    assert!(chunks.iter().all(|c| c.len() <= 3));
    let split = chunks
        .iter()
        .filter(|c| std::str::from_utf8(c).is_err())
        .count();
    assert!(
        split >= 2,
        "recv(3) should cut 2-byte Greek letters: {chunks:?}"
    );
}

#[test]
fn dual_stack_server_sees_ipv4_client_as_mapped_address() {
    let port = free_port();
    let srv = start(ServeOptions {
        addr: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
        v6only: Some(false),
        ..ServeOptions::default()
    });
    let opts = ClientOptions {
        server: local(port),
        ..ClientOptions::default()
    };
    client::run(&opts, &Calls::quiet("client")).unwrap();
    thread::sleep(Duration::from_millis(100));
    let peer = srv.log.lock().unwrap().peers[0];
    assert!(
        peer.ip().to_string().starts_with("::ffff:127.0.0.1"),
        "{peer}"
    );

    // V6ONLY on: the IPv4 client is refused.
    let port = free_port();
    let _v6 = start(ServeOptions {
        addr: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
        v6only: Some(true),
        ..ServeOptions::default()
    });
    let err = TcpStream::connect(local(port)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn linger0_closes_with_rst() {
    let port = free_port();
    let _srv = start(ServeOptions {
        addr: local(port),
        ..ServeOptions::default()
    });
    let segs = capture_tcp_flags(port, Duration::from_millis(300), || {
        let opts = ClientOptions {
            server: local(port),
            linger0: true,
            ..ClientOptions::default()
        };
        client::run(&opts, &Calls::quiet("client")).unwrap();
    });
    let rst_from_client = segs
        .iter()
        .any(|&(sp, _, flags, _)| sp != port && flags & 0x04 != 0);
    let fin_from_client = segs
        .iter()
        .any(|&(sp, _, flags, _)| sp != port && flags & 0x01 != 0);
    assert!(rst_from_client && !fin_from_client, "{segs:?}");
}

#[test]
fn no_accept_backlog_1_completes_two_handshakes_and_drops_later_syns() {
    let port = free_port();
    let _srv = start(ServeOptions {
        addr: local(port),
        backlog: 1,
        no_accept: true,
        ..ServeOptions::default()
    });
    let segs = capture_tcp_flags(port, Duration::from_millis(200), || {
        let clients: Vec<_> = (0..4)
            .map(|i| {
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(100 * i));
                    TcpStream::connect_timeout(&local(port), Duration::from_millis(2500)).ok()
                })
            })
            .collect();
        let _connected: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    });
    let syn_acks = segs
        .iter()
        .filter(|s| s.0 == port && s.2 & 0x12 == 0x12)
        .count();
    assert_eq!(
        syn_acks, 2,
        "queue = backlog + 1 = 2 completed handshakes: {segs:?}"
    );
    let mut syns: Vec<(u16, u32)> = segs
        .iter()
        .filter(|s| s.2 & 0x12 == 0x02)
        .map(|s| (s.0, s.3))
        .collect();
    let all = syns.len();
    syns.sort();
    syns.dedup();
    assert!(
        all - syns.len() >= 2,
        "the unanswered clients retransmit their SYNs: {segs:?}"
    );
}

fn twenty_clients_two_messages(port: u16) {
    let opts = ClientOptions {
        server: local(port),
        clients: 20,
        messages: vec!["first message".into(), "δεύτερο".into()],
        ..ClientOptions::default()
    };
    let all = client::run(&opts, &Calls::quiet("client")).unwrap();
    assert_eq!(all.len(), 20);
    for ex in &all {
        assert_eq!(
            ex.replies,
            vec![b"first message".to_vec(), "δεύτερο".as_bytes().to_vec()]
        );
    }
    let mut ports: Vec<u16> = all.iter().map(|e| e.local.unwrap().port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(
        ports.len(),
        20,
        "each connection has its own ephemeral port"
    );
}

fn python_client(port: u16) {
    let script = format!(
        "import socket\ns=socket.create_connection(('127.0.0.1',{port}))\ns.sendall(b'plain python')\n\
         d=b''\nwhile len(d)<12:\n    d+=s.recv(1024)\ns.close()\nprint(d.decode())"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "plain python",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_mode_serves_twenty_concurrent_clients_and_a_python_client() {
    for mode in ["single", "thread", "process", "event", "async"] {
        let port = free_port();
        let mut child = serve_binary(&[
            "tcp",
            "--port",
            &port.to_string(),
            "--mode",
            mode,
            "--duration",
            "20",
        ]);
        let started = Instant::now();
        if mode != "single" {
            twenty_clients_two_messages(port);
        }
        python_client(port);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{mode} too slow"
        );
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{mode}: {status}");
    }
}

#[test]
fn multi_conn_echo_client_against_event_server() {
    let port = free_port();
    let srv = start(ServeOptions {
        addr: local(port),
        mode: Mode::Event,
        ..ServeOptions::default()
    });
    let opts = ClientOptions {
        server: local(port),
        clients: 5,
        messages: vec![
            "Message 1 from client.".into(),
            "Message 2 from client.".into(),
        ],
        ..ClientOptions::default()
    };
    let all = client::run(&opts, &Calls::quiet("client")).unwrap();
    assert!(all
        .iter()
        .all(|e| e.replies.len() == 2 && e.replies[1] == b"Message 2 from client."));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(srv.log.lock().unwrap().peers.len(), 5);
}

#[test]
fn udp_echo_and_empty_datagram() {
    let port = free_port();
    let srv = start(ServeOptions {
        addr: local(port),
        udp: true,
        ..ServeOptions::default()
    });
    let opts = ClientOptions {
        server: local(port),
        udp: true,
        messages: vec!["ping".into(), String::new()],
        ..ClientOptions::default()
    };
    let ex = client::run(&opts, &Calls::quiet("client")).unwrap();
    assert_eq!(
        ex[0].replies,
        vec![b"ping".to_vec(), Vec::new()],
        "an empty UDP datagram is echoed as one"
    );
    drop(srv);
}

#[test]
fn ascii_encoding_refuses_greek_before_connecting() {
    let port = free_port();
    let opts = ClientOptions {
        server: local(port),
        messages: vec!["γειά σου".into()],
        encoding: wirelab::sockets::Encoding::Ascii,
        ..ClientOptions::default()
    };
    // Nothing listens: had it connected, this would be ECONNREFUSED.
    let err = client::run(&opts, &Calls::quiet("client")).unwrap_err();
    assert!(matches!(err, client::ClientError::Encoding(_)), "{err}");
}

#[test]
fn client_capture_interleaves_socket_calls_with_packets() {
    let port = free_port();
    let _srv = start(ServeOptions {
        addr: local(port),
        ..ServeOptions::default()
    });
    let out = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args([
            "client",
            "tcp",
            "--port",
            &port.to_string(),
            "-m",
            "hi",
            "--capture",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_succeeded(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<String> = lines
        .iter()
        .map(|v| match v["kind"].as_str().unwrap() {
            "call" => v["op"].as_str().unwrap().to_string(),
            "packet" => format!("{:?}", v["tcp_flags"]),
            other => other.to_string(),
        })
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} not in {kinds:?}"))
    };
    // connect() is stamped when it returns, after the SYN-ACK that
    // completed it; close() when it starts, before the FIN it sends.
    assert!(
        pos(r#"Array [String("SYN"), String("ACK")]"#) < pos("connect"),
        "{kinds:?}"
    );
    let fin = pos(r#"Array [String("FIN"), String("ACK")]"#);
    assert!(pos("close") < fin, "{kinds:?}");
    // ... and the FIN names that close() as its cause.
    let causes: Vec<&serde_json::Value> = lines[fin]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "caused_by")
        .collect();
    assert_eq!(causes.len(), 1, "{}", lines[fin]);
    assert_eq!(causes[0]["cause"], "close");
    // Calls and packets are merged in time order.
    let ts: Vec<i64> = lines.iter().filter_map(|v| v["ts_ns"].as_i64()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "time order");
}

#[test]
fn proxy_relays_and_the_server_sees_the_proxy() {
    let (server_port, proxy_port) = (free_port(), free_port());
    let srv = start(ServeOptions {
        addr: local(server_port),
        ..ServeOptions::default()
    });
    let stop = Shutdown::new().unwrap();
    let s = stop.clone();
    let proxy = thread::spawn(move || {
        wirelab::sockets::proxy::run(
            local(proxy_port),
            local(server_port),
            &Calls::quiet("proxy"),
            &s,
        )
    });
    thread::sleep(Duration::from_millis(200));
    let opts = ClientOptions {
        server: local(proxy_port),
        messages: vec!["via proxy".into()],
        ..ClientOptions::default()
    };
    let ex = client::run(&opts, &Calls::quiet("client")).unwrap();
    assert_eq!(ex[0].replies[0], b"via proxy");
    thread::sleep(Duration::from_millis(200));
    stop.trigger();
    proxy.join().unwrap().unwrap();
    let seen = srv.log.lock().unwrap().peers[0];
    assert_ne!(
        seen,
        ex[0].local.unwrap(),
        "the server's peer is the proxy's own connection"
    );
}

#[test]
fn stdin_lines_are_sent_one_by_one_on_one_connection() {
    use std::io::Write as _;
    let port = free_port();
    let srv = start(ServeOptions {
        addr: local(port),
        ..ServeOptions::default()
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(["client", "tcp", "--port", &port.to_string(), "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all("first\nsecond\n".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    thread::sleep(Duration::from_millis(100));
    let log = srv.log.lock().unwrap();
    assert_eq!(log.peers.len(), 1, "one connection for all lines");
    assert_eq!(log.echoed_bytes, 11);
}

#[test]
fn privileged_port_without_root_is_eacces() {
    let mut cmd = crate::common::unprivileged_wirelab();
    let out = cmd
        .args(["serve", "tcp", "--port", "80", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    // One line that says why it stopped, not the call again (the call is
    // on stdout with the others).
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bind()") && err.contains("EACCES"), "{err}");
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains("bind(fd 3, 127.0.0.1:80) -> EACCES"), "{out}");
}

#[test]
fn recv_once_delay_shutdown_write_bind_repeat_and_reuseport() {
    let calls = Calls::quiet("client");
    // --recv-once: the server reads once, echoes, and closes.
    let port = free_port();
    let srv = start(ServeOptions {
        addr: local(port),
        recv_once: true,
        delay: Duration::from_millis(200),
        ..ServeOptions::default()
    });
    let started = Instant::now();
    let opts = ClientOptions {
        server: local(port),
        messages: vec!["GET / HTTP/1.0".into()],
        shutdown_write: true,
        ..ClientOptions::default()
    };
    let ex = client::run(&opts, &calls).unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "--delay waits before echoing"
    );
    assert_eq!(
        ex[0].replies,
        vec![b"GET / HTTP/1.0".to_vec()],
        "read after shutdown(SHUT_WR) until EOF"
    );
    thread::sleep(Duration::from_millis(50));
    assert_eq!(srv.log.lock().unwrap().chunks.len(), 1, "one recv() only");
    drop(srv);

    // --repeat: sequential connections, each with a new ephemeral port.
    let port = free_port();
    let _srv = start(ServeOptions {
        addr: local(port),
        ..ServeOptions::default()
    });
    let opts = ClientOptions {
        server: local(port),
        repeat: 3,
        ..ClientOptions::default()
    };
    let ports: Vec<u16> = client::run(&opts, &calls)
        .unwrap()
        .iter()
        .map(|e| e.local.unwrap().port())
        .collect();
    assert_eq!(ports.len(), 3);
    assert!(ports[0] != ports[1] && ports[1] != ports[2], "{ports:?}");

    // --bind: a fixed client port; reconnecting at once after an active
    // close needs SO_REUSEADDR on both sockets (TIME-WAIT takeover).
    let fixed = free_port();
    let plain = ClientOptions {
        server: local(port),
        bind: Some(local(fixed)),
        ..ClientOptions::default()
    };
    assert_eq!(
        client::run(&plain, &calls).unwrap()[0]
            .local
            .unwrap()
            .port(),
        fixed
    );
    thread::sleep(Duration::from_millis(100));
    let again = client::run(&plain, &calls).unwrap_err();
    assert!(
        matches!(&again, client::ClientError::Call(e) if e.errno == Some(libc::EADDRINUSE)),
        "{again}"
    );
    let fixed = free_port();
    let reuse = ClientOptions {
        bind: Some(local(fixed)),
        reuseaddr: Some(true),
        ..plain.clone()
    };
    client::run(&reuse, &calls).unwrap();
    // Let the server's FIN arrive: the old socket moves from FIN-WAIT-2 to TIME-WAIT.
    thread::sleep(Duration::from_millis(100));
    client::run(&reuse, &calls)
        .expect("both sockets set SO_REUSEADDR: the TIME-WAIT is taken over");

    // --reuseport: two listeners on one port.
    let port = free_port();
    let opts = ServeOptions {
        addr: local(port),
        reuseport: true,
        ..ServeOptions::default()
    };
    let _a = server::open(&opts, &Calls::quiet("a")).unwrap();
    let _b = server::open(&opts, &Calls::quiet("b")).expect("SO_REUSEPORT on both");
}

// See: issue 17: `serve --port 0` said "ok" and never which port it got.
#[test]
fn serve_on_port_0_says_which_port_the_kernel_chose() {
    let out = crate::common::wirelab()
        .args(["serve", "tcp", "--port", "0", "--duration", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let port: u16 = stdout
        .split("the kernel chose port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in:\n{stdout}"));
    assert!(port > 0);
}

// See: issue 17: proxy refused `localhost:PORT` while serve and client take names.
#[test]
fn proxy_takes_host_names_like_serve_and_client() {
    let (a, b) = (free_port(), free_port());
    let out = crate::common::wirelab()
        .args(["proxy", "--duration", "1"])
        .arg(format!("localhost:{a}"))
        .arg(format!("localhost:{b}"))
        .output()
        .unwrap();
    assert_succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!(":{a}) -> ok")), "{stdout}");
}

/// A client of `port` that is idle (connected, nothing sent) or
/// mid-transfer (sending and reading its echo without pause) until the
/// server goes away.
fn client_of(port: u16, busy: bool) -> thread::JoinHandle<()> {
    let mut stream = TcpStream::connect(local(port)).unwrap();
    thread::spawn(move || {
        use std::io::{Read, Write};
        if !busy {
            let mut buf = [0u8; 16];
            let _ = stream.read(&mut buf); // returns at the server's FIN
            return;
        }
        let chunk = [b'x'; 4096];
        let mut buf = [0u8; 4096];
        loop {
            if stream.write_all(&chunk).is_err() {
                return;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
}

/// Read `child`'s stdout until a line contains `needle` (at most 10 s).
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            if line.contains(needle) {
                return;
            }
        }
    }
    panic!("no line with {needle:?}");
}

/// Start `wirelab ARGS`, its stdout lines on a channel.
fn program(args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Send `signal`, then wait: the exit status and how long it took.
fn stop_with(child: &mut Child, signal: i32) -> (std::process::ExitStatus, Duration) {
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let deadline = sent + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, sent.elapsed());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 5 s after signal {signal}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The lines printed until the end (the channel closes with stdout).
fn rest(lines: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    lines.iter().collect()
}

// See: issue 18. SIGINT and SIGTERM reach every thread and process of the
// server, in each mode, with a client idle or mid-transfer: the server
// closes the connection (its close() is printed), says what it served, and
// exits 0 within a second.
#[test]
fn every_mode_stops_within_a_second_on_sigint_and_sigterm() {
    for mode in ["single", "thread", "process", "event", "async"] {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            for busy in [false, true] {
                let port = free_port();
                let (mut child, lines) =
                    program(&["serve", "tcp", "--port", &port.to_string(), "--mode", mode]);
                wait_for_line(&lines, "listen(");
                let client = client_of(port, busy);
                wait_for_line(&lines, "accept(");
                thread::sleep(Duration::from_millis(100));
                let (status, took) = stop_with(&mut child, signal);
                let what = format!("{mode}, signal {signal}, busy {busy}");
                assert!(status.success(), "{what}: {status:?}");
                assert!(took < Duration::from_secs(1), "{what}: {took:?}");
                let rest = rest(&lines);
                let closes = rest.iter().filter(|l| l.contains(": close(fd")).count();
                assert!(
                    closes >= 2,
                    "{what}: the connection and the listener\n{rest:#?}"
                );
                assert!(
                    rest.last().is_some_and(|l| l.contains("stopped:")),
                    "{what}: {rest:#?}"
                );
                client.join().unwrap();
            }
        }
    }
}

// See: issue 18. The proxy too: both of a connection's sockets closed.
#[test]
fn the_proxy_stops_within_a_second_with_clients_idle_or_busy() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        for busy in [false, true] {
            let upstream = free_port();
            let (mut server, server_lines) = program(&[
                "serve",
                "tcp",
                "--port",
                &upstream.to_string(),
                "--mode",
                "thread",
            ]);
            wait_for_line(&server_lines, "listen(");
            let port = free_port();
            let (mut proxy, lines) = program(&[
                "proxy",
                &format!("127.0.0.1:{port}"),
                &format!("127.0.0.1:{upstream}"),
            ]);
            wait_for_line(&lines, "listen(");
            let client = client_of(port, busy);
            wait_for_line(&lines, "connect(");
            thread::sleep(Duration::from_millis(100));
            let (status, took) = stop_with(&mut proxy, signal);
            let what = format!("signal {signal}, busy {busy}");
            assert!(status.success(), "{what}: {status:?}");
            assert!(took < Duration::from_secs(1), "{what}: {took:?}");
            let rest = rest(&lines);
            let closes = rest.iter().filter(|l| l.contains(": close(fd")).count();
            assert!(
                closes >= 3,
                "{what}: two sockets and the listener\n{rest:#?}"
            );
            assert!(
                rest.last().is_some_and(|l| l.contains("stopped:")),
                "{what}"
            );
            client.join().unwrap();
            let (status, _) = stop_with(&mut server, libc::SIGTERM);
            assert!(status.success());
        }
    }
}

// See: issue 18. --duration ends the server on time even with a client
// connected and idle.
#[test]
fn duration_ends_a_server_with_an_idle_client_on_time() {
    for mode in ["single", "thread", "process", "event", "async"] {
        let port = free_port();
        let started = Instant::now();
        let (mut child, lines) = program(&[
            "serve",
            "tcp",
            "--port",
            &port.to_string(),
            "--mode",
            mode,
            "--duration",
            "1",
        ]);
        wait_for_line(&lines, "listen(");
        let client = client_of(port, false);
        let status = child.wait().unwrap();
        let took = started.elapsed();
        assert!(status.success(), "{mode}");
        assert!(took < Duration::from_millis(1900), "{mode}: {took:?}");
        assert!(rest(&lines).last().is_some_and(|l| l.contains("stopped:")));
        client.join().unwrap();
    }
}

// See: issue 18. 50 concurrent clients against each mode, all served.
#[test]
fn fifty_concurrent_clients_complete_against_every_mode() {
    for mode in ["single", "thread", "process", "event", "async"] {
        let port = free_port();
        let (mut child, lines) = program(&[
            "serve",
            "tcp",
            "--port",
            &port.to_string(),
            "--mode",
            mode,
            "--backlog",
            "64",
        ]);
        wait_for_line(&lines, "listen(");
        let out = Command::new(env!("CARGO_BIN_EXE_wirelab"))
            .args([
                "client",
                "tcp",
                "--port",
                &port.to_string(),
                "--clients",
                "50",
                "-m",
                "hi",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("done: 50 connection(s)"), "{mode}: {text}");
        let (status, _) = stop_with(&mut child, libc::SIGTERM);
        assert!(status.success(), "{mode}");
    }
}

// See: issue 18. `serve --capture -o FILE` stops at SIGTERM like the plain
// server, and keeps its timeline whole: the server's FIN is in it.
#[test]
fn a_captured_server_keeps_its_timeline_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("wirelab-serve-term-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("timeline.jsonl");
    let port = free_port();
    let (mut child, _lines) = program(&[
        "serve",
        "tcp",
        "--port",
        &port.to_string(),
        "--capture",
        "--no-kernel",
        "-o",
        out.to_str().unwrap(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(local(port)).is_err() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let client = client_of(port, true);
    thread::sleep(Duration::from_millis(300));
    let (status, took) = stop_with(&mut child, libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    client.join().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let server_fin = rows.iter().any(|r| {
        r["kind"] == "packet"
            && r["sport"] == port
            && r["tcp_flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "FIN"))
    });
    assert!(server_fin, "the server's FIN after its close():\n{text}");
    assert!(rows.iter().any(|r| r["kind"] == "end"));
    std::fs::remove_dir_all(&dir).unwrap();
}

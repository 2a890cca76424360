//! The kernel as the referee of our inference: each program a student might
//! write (tests/programs/oracle/) runs in a private network namespace under
//! `wirelab watch` with the kernel's record on. After every packet, the
//! state the tracker inferred for each endpoint is compared with the state
//! the kernel reported for that socket (its last state change before the
//! next packet, normalised as ../shared/KERNEL.md says: Linux reports a
//! socket entering TIME-WAIT as FIN-WAIT-2 or CLOSING -> CLOSE). The RST
//! causes we name are compared with the kernel's reasons.
//!
//! The tracker's states come from packets alone (the kernel's events are
//! shown beside them, never fed into the inference), so this measures
//! inference as a replay of the same capture would do it.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::repo;

/// Run `program` in its own network namespace under `wirelab watch`; the
/// JSON timeline, and what wirelab said on stderr.
fn run(program: &Path, port: u16) -> (Vec<Value>, String) {
    let late = std::fs::read_to_string(program)
        .unwrap()
        .contains("oracle: capture-late");
    let ports: Vec<String> = (port..port + 9)
        .flat_map(|p| ["-p".to_string(), p.to_string()])
        .collect();
    let script = r#"
        set -e
        ip link set lo up
        out=$(mktemp) err=$(mktemp)
        start_watch() {
            "$WIRELAB" watch --format json "$@" >"$out" 2>"$err" &
            w=$!
            for _ in $(seq 200); do grep -q "capturing on" "$err" && break; sleep 0.02; done
        }
        if [ "$LATE" = 1 ]; then
            # The program connects, then waits until the capture runs.
            export ORACLE_READY=$(mktemp -u)
            python3 "$PROGRAM" "$PORT" & p=$!
            sleep 0.4
            start_watch "$@"
            touch "$ORACLE_READY"
            wait $p
            rm -f "$ORACLE_READY"
        else
            start_watch "$@"
            python3 "$PROGRAM" "$PORT"
        fi
        sleep 0.3
        kill -INT $w
        wait $w || { cat "$err" >&2; exit 1; }
        cat "$err" >&2
        cat "$out"
    "#;
    let out = Command::new("unshare")
        .args(["-n", "bash", "-c", script, "oracle"])
        .args(&ports)
        .env("WIRELAB", env!("CARGO_BIN_EXE_wirelab"))
        .env("PROGRAM", program)
        .env("PORT", port.to_string())
        .env("LATE", if late { "1" } else { "0" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `ip:port` of a packet's source or destination.
fn addr(p: &Value, side: &str) -> String {
    let ip = p[if side == "src" { "src" } else { "dst" }]
        .as_str()
        .unwrap_or("");
    let port = &p[if side == "src" { "sport" } else { "dport" }];
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn has_flag(p: &Value, flag: &str) -> bool {
    p["tcp_flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == flag))
}

/// One socket's life as the kernel reported it: (time, state), from the
/// event that created it.
type Life = Vec<(i64, String)>;

/// The kernel's state changes, per socket (local, remote), each socket's
/// lives in time order (a 4-tuple used again is a new socket), normalised
/// to what the wire can show:
/// - Linux reports a socket leaving for its small time-wait socket as
///   FIN-WAIT-2 or CLOSING -> CLOSE (KERNEL.md): that is TIME-WAIT once the
///   peer's FIN came, else an orphan still in FIN-WAIT-2, waiting for it
///   (it enters TIME-WAIT, unreported, when that FIN arrives);
/// - close() and shutdown() change the state when called, an abort too;
///   the wire shows it with the socket's FIN (or RST), which may wait
///   behind queued data: the change counts from that packet (never past
///   the socket's next reported change).
fn kernel_lives(lines: &[Value]) -> HashMap<(String, String), Vec<Life>> {
    let packets: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "packet").collect();
    let first = |from: &str, to: &str, after: i64, flag: &str| -> Option<i64> {
        packets
            .iter()
            .filter(|p| addr(p, "src") == from && addr(p, "dst") == to)
            .filter(|p| p["ts_ns"].as_i64().is_some_and(|t| t >= after))
            .find(|p| has_flag(p, flag))
            .and_then(|p| p["ts_ns"].as_i64())
    };
    // Per socket: (time, old state, new state).
    type Changes = Vec<(i64, String, String)>;
    let mut raw: HashMap<(String, String), Changes> = HashMap::new();
    for k in lines
        .iter()
        .filter(|l| l["kind"] == "kernel" && l["event"] == "state")
    {
        let (Some(local), Some(remote)) = (k["local"].as_str(), k["remote"].as_str()) else {
            continue; // a listener, or connect() before its port is chosen
        };
        raw.entry((local.to_string(), remote.to_string()))
            .or_default()
            .push((
                k["ts_ns"].as_i64().unwrap(),
                k["old_state"].as_str().unwrap_or("").to_string(),
                k["new_state"].as_str().unwrap_or("").to_string(),
            ));
    }
    let mut lives = HashMap::new();
    for ((local, remote), events) in raw {
        let mut out: Vec<Life> = Vec::new();
        for (i, (ts, old, new)) in events.iter().enumerate() {
            let next_ts = events.get(i + 1).map_or(i64::MAX, |e| e.0);
            let seen = |flag| first(&local, &remote, *ts, flag).map(|t| t.min(next_ts));
            let (ts, new) = match (old.as_str(), new.as_str()) {
                ("FIN-WAIT-2", "CLOSED") => {
                    let peer_fin = packets.iter().any(|p| {
                        addr(p, "src") == remote
                            && addr(p, "dst") == local
                            && has_flag(p, "FIN")
                            && p["ts_ns"].as_i64().is_some_and(|t| t <= *ts)
                    });
                    (*ts, if peer_fin { "TIME-WAIT" } else { "FIN-WAIT-2" })
                }
                ("CLOSING", "CLOSED") => (*ts, "TIME-WAIT"),
                (_, "FIN-WAIT-1" | "LAST-ACK") => (seen("FIN").unwrap_or(*ts), new.as_str()),
                ("ESTABLISHED" | "CLOSE-WAIT" | "FIN-WAIT-1" | "SYN-RECEIVED", "CLOSED") => {
                    (seen("RST").unwrap_or(*ts), "CLOSED")
                }
                (_, new) => (*ts, new),
            };
            // A new socket on the same 4-tuple starts a new life. A client's
            // first event with its port is SYN-SENT -> ESTABLISHED when the
            // kernel chose the port (its CLOSED -> SYN-SENT came before):
            // it was in SYN-SENT from the start. A client bound to its port
            // reports CLOSED -> SYN-SENT with it: that life goes on.
            let in_syn_sent = out
                .last()
                .and_then(|life| life.last())
                .is_some_and(|(_, s)| s == "SYN-SENT");
            let starts = matches!(
                (old.as_str(), new),
                ("CLOSED", "SYN-SENT") | ("LISTEN", "SYN-RECEIVED")
            ) || (old == "SYN-SENT" && !in_syn_sent);
            if starts || out.is_empty() {
                out.push(Vec::new());
                if old == "SYN-SENT" {
                    if let Some(life) = out.last_mut() {
                        life.push((i64::MIN, old.clone()));
                    }
                }
            }
            if let Some(life) = out.last_mut() {
                life.push((ts, new.to_string()));
                // An orphan in FIN-WAIT-2 lives on as a time-wait socket,
                // which the kernel no longer reports on: it enters
                // TIME-WAIT when the peer's FIN arrives.
                if new == "FIN-WAIT-2" && old == "FIN-WAIT-2" {
                    if let Some(fin) = first(&remote, &local, ts, "FIN") {
                        life.push((fin, "TIME-WAIT".to_string()));
                    }
                }
            }
        }
        lives.insert((local, remote), out);
    }
    lives
}

/// The life of socket (local, remote) that a conversation starting at
/// `conn_start` had: the first that had not ended (CLOSED or TIME-WAIT)
/// before it. A 4-tuple used again can start its next life well within a
/// millisecond of the first one's SYN (a client bound to its port, a
/// TIME-WAIT reused), so a life is not chosen by when it began.
fn life_of<'a>(
    lives: &'a HashMap<(String, String), Vec<Life>>,
    local: &str,
    remote: &str,
    conn_start: i64,
) -> Option<&'a Life> {
    let ended_before = |life: &Life| {
        life.last()
            .is_some_and(|(t, s)| matches!(s.as_str(), "CLOSED" | "TIME-WAIT") && *t < conn_start)
    };
    lives
        .get(&(local.to_string(), remote.to_string()))?
        .iter()
        .find(|life| !ended_before(life))
}

#[derive(Default)]
struct Tally {
    compared: usize,
    agreed: usize,
    finals: usize,
    finals_agreed: usize,
    /// Rows where the packets cannot show what the kernel did yet.
    unavoidable: usize,
    /// RSTs whose explanation was held against the kernel's reason.
    resets: usize,
    /// Ends of a reused 4-tuple whose earlier state was held against the
    /// kernel's.
    reuses: usize,
    disagreements: Vec<String>,
}

/// Compare one program's inferred states with the kernel's.
fn compare(name: &str, lines: &[Value], tally: &mut Tally) {
    let lives = kernel_lives(lines);
    let packets: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "packet" && l["proto"] == "tcp" && l["conn"].is_u64())
        .collect();
    let conv = |p: &Value| p["conn"].as_u64().unwrap();
    let ts = |p: &Value| p["ts_ns"].as_i64().unwrap();
    let mut started: HashMap<u64, i64> = HashMap::new();
    for p in &packets {
        started.entry(conv(p)).or_insert(ts(p));
    }
    // The kernel's states of a socket from just before `from` until `to`, in
    // its conversation's life.
    let states_in = |local: &str, remote: &str, conn_start: i64, from: i64, to: i64| {
        let Some(life) = life_of(&lives, local, remote, conn_start) else {
            return Vec::new();
        };
        // What changed in the window; if nothing did, the state it began in.
        let changed: Vec<&str> = life
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, s)| s.as_str())
            .collect();
        if changed.is_empty() {
            life.iter()
                .take_while(|(t, _)| *t < from)
                .last()
                .map(|(_, s)| s.as_str())
                .into_iter()
                .collect()
        } else {
            changed
        }
    };
    let ends = |p: &Value| {
        let (from, to) = (addr(p, "src"), addr(p, "dst"));
        if p["dir"] == "c2s" {
            (from, to)
        } else {
            (to, from)
        }
    };
    // A packet is captured when sent; the receiver's kernel may process it
    // a little later (a socket busy in a call queues it in its backlog).
    const LAG_NS: i64 = 2_000_000;
    let mut check = |p: &Value, before: i64, last: bool| {
        let (client, server) = ends(p);
        for (who, local, remote, inferred) in [
            ("client", &client, &server, &p["client_state"]),
            ("server", &server, &client, &p["server_state"]),
        ] {
            let Some(inferred) = inferred.as_str().filter(|s| *s != "-") else {
                continue;
            };
            let start = started[&conv(p)];
            let mut states = if last {
                states_in(local, remote, start, i64::MAX, i64::MAX)
            } else {
                states_in(local, remote, start, ts(p), before)
            };
            // Processed late: what changed just after the next packet.
            let late = if last {
                Vec::new()
            } else {
                states_in(local, remote, start, before, before.saturating_add(LAG_NS))
            };
            if late.contains(&inferred) {
                states.push(inferred);
            }
            if states.is_empty() {
                continue; // the kernel has not reported this socket yet
            }
            let (n, agreed) = if last {
                (&mut tally.finals, &mut tally.finals_agreed)
            } else {
                (&mut tally.compared, &mut tally.agreed)
            };
            *n += 1;
            if states.contains(&inferred) {
                *agreed += 1;
            } else if !last
                && inferred == "CLOSE-WAIT"
                && states
                    .iter()
                    .chain(&late)
                    .any(|s| matches!(*s, "FIN-WAIT-1" | "CLOSING"))
            {
                // The peer's FIN arrived while this side's own FIN was
                // queued but not yet on the wire: the packets so far
                // cannot show it (the next row, with that FIN, says
                // "simultaneous close").
                tally.unavoidable += 1;
                *n -= 1;
            } else {
                tally.disagreements.push(format!(
                    "{name}: frame {}{} {who} {local}: inferred {inferred}, kernel {} ({})",
                    p["frame"],
                    if last { " (final)" } else { "" },
                    states.join(" -> "),
                    p["note"]
                ));
            }
        }
    };
    for (i, p) in packets.iter().enumerate() {
        // The kernel's state after this packet: until the next packet of the
        // same conversation.
        let next = packets[i + 1..].iter().find(|n| conv(n) == conv(p));
        check(p, next.map_or(i64::MAX, |n| ts(n)), false);
        if next.is_none() {
            check(p, i64::MAX, true);
        }
    }
    // A new connection on an earlier one's ports: the states we say the
    // earlier one left its two ends in must be where the kernel's record
    // of those sockets ended (TIME-WAIT, or CLOSED).
    for p in &packets {
        let events = p["events"].as_array().cloned().unwrap_or_default();
        let Some(e) = events.iter().find(|e| e["code"] == "ports_reused") else {
            continue;
        };
        let Some(&previous_start) = e["previous"].as_u64().and_then(|c| started.get(&c)) else {
            tally.disagreements.push(format!(
                "{name}: frame {}: ports reused from a conversation not in the capture",
                p["frame"]
            ));
            continue;
        };
        let (sender, receiver) = (addr(p, "src"), addr(p, "dst"));
        for (local, remote, said) in [
            (&sender, &receiver, &e["sender_state"]),
            (&receiver, &sender, &e["receiver_state"]),
        ] {
            let Some((_, ended)) =
                life_of(&lives, local, remote, previous_start).and_then(|life| life.last())
            else {
                continue; // the kernel did not report that socket
            };
            tally.reuses += 1;
            if said.as_str() != Some(ended.as_str()) {
                tally.disagreements.push(format!(
                    "{name}: frame {}: ports reused; {local} left in {said}, kernel {ended}",
                    p["frame"]
                ));
            }
        }
    }
    // A RST cause we name must not contradict the kernel's reason: the
    // reason comes on the RST's row (when the kernel traced it before
    // sending) or in a kernel row naming the RST's frame.
    for p in lines.iter().filter(|l| l["kind"] == "packet") {
        let events = p["events"].as_array().cloned().unwrap_or_default();
        let Some(rst) = events.iter().find(|e| e["code"] == "rst") else {
            continue;
        };
        let on_row = events
            .iter()
            .find(|e| e["code"] == "kernel_reset")
            .map(|e| e["reason"].as_str().unwrap_or("").to_string());
        let in_kernel_row = lines
            .iter()
            .find(|k| {
                k["kind"] == "kernel" && k["event"] == "sent_reset" && k["frame"] == p["frame"]
            })
            .map(|k| k["reason"].as_str().unwrap_or("").to_string());
        let Some(reason) = on_row.or(in_kernel_row) else {
            continue;
        };
        tally.resets += 1;
        let kind = &rst["kind"];
        let contradiction = if kind == "refused" {
            reason != "no_socket" && !reason.is_empty()
        } else if kind.get("abort").is_some() {
            reason == "no_socket"
        } else {
            false
        };
        if contradiction {
            tally.disagreements.push(format!(
                "{name}: frame {}: RST explained as {kind}, kernel reason {reason}",
                p["frame"]
            ));
        }
    }
}

#[test]
fn inferred_states_agree_with_the_kernels() {
    let dir = repo().join("tests/programs/oracle");
    let mut programs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py") && !p.ends_with("common.py"))
        .collect();
    programs.sort();
    assert!(programs.len() >= 20, "{} programs", programs.len());
    // Ports apart per program: the kernel's tracepoints see every namespace.
    let base = 20000 + (std::process::id() % 200) as u16 * 100;
    let runs: Vec<(String, (Vec<Value>, String))> = std::thread::scope(|scope| {
        let handles: Vec<_> = programs
            .iter()
            .enumerate()
            .map(|(i, program)| {
                let port = base + (i as u16) * 10;
                scope.spawn(move || {
                    let name = program.file_stem().unwrap().to_string_lossy().into_owned();
                    (name, run(program, port))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut tally = Tally::default();
    for (name, (lines, stderr)) in &runs {
        // UDP has no connection state: only TCP programs must have events.
        let tcp = lines
            .iter()
            .any(|l| l["kind"] == "packet" && l["proto"] == "tcp");
        assert!(
            !tcp || lines.iter().any(|l| l["kind"] == "kernel"),
            "{name}: no kernel events; wirelab said: {stderr}"
        );
        compare(name, lines, &mut tally);
    }
    let pct = |a: usize, n: usize| 100.0 * a as f64 / n.max(1) as f64;
    eprintln!(
        "oracle: {} programs; per-packet states {}/{} agree ({:.1}%), {} not yet visible on the wire; final states {}/{} ({:.1}%)",
        runs.len(),
        tally.agreed,
        tally.compared,
        pct(tally.agreed, tally.compared),
        tally.unavoidable,
        tally.finals_agreed,
        tally.finals,
        pct(tally.finals_agreed, tally.finals)
    );
    for d in &tally.disagreements {
        eprintln!("  {d}");
    }
    eprintln!(
        "oracle: {} RSTs held against the kernel's reason; {} ends of reused ports against its last state",
        tally.resets, tally.reuses
    );
    assert!(
        tally.compared > 200,
        "too few comparisons: {}",
        tally.compared
    );
    assert!(tally.resets >= 4, "too few RSTs compared: {}", tally.resets);
    // fixed_client_port takes its own TIME-WAIT over: both ends.
    assert!(
        tally.reuses >= 2,
        "too few reused ports compared: {}",
        tally.reuses
    );
    assert!(
        tally.disagreements.is_empty(),
        "{} disagreements with the kernel:\n{}",
        tally.disagreements.len(),
        tally.disagreements.join("\n")
    );
}

/// A recorded run of fixed_client_port.py: the client's second connection
/// from the same port began 0.3 ms after the first one's SYN. Each
/// conversation must be held against its own socket's life (the first
/// choice, "the life that began last within 1 ms", took the second
/// connection's for the first, and CI saw SYN-SENT beside its FIN).
#[test]
fn a_four_tuple_used_again_within_a_millisecond_has_one_life_per_conversation() {
    let lines: Vec<Value> =
        std::fs::read_to_string(repo().join("tests/programs/oracle/fixed_client_port.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let lives = kernel_lives(&lines);
    let syn = |conn: u64| {
        lines
            .iter()
            .find(|l| l["conn"] == conn && has_flag(l, "SYN"))
            .and_then(|l| l["ts_ns"].as_i64())
            .unwrap()
    };
    let (first, second) = (syn(1), syn(2));
    assert!(second - first < 1_000_000, "the fixture's point");
    let client = ("127.0.0.1:30011", "127.0.0.1:30010");
    let established = |start| {
        life_of(&lives, client.0, client.1, start)
            .unwrap()
            .iter()
            .find(|(_, s)| s == "ESTABLISHED")
            .map(|(t, _)| *t)
            .unwrap()
    };
    // The kernel's SYN-SENT -> ESTABLISHED of each, as recorded.
    assert_eq!(established(first), 1796049417220820983);
    assert_eq!(established(second), 1796049417221115983);
    let mut tally = Tally::default();
    compare("fixed_client_port", &lines, &mut tally);
    assert!(tally.disagreements.is_empty(), "{:?}", tally.disagreements);
    // Both ends of 16 packets, but no server yet at the two SYNs.
    assert_eq!(tally.compared, 30);
}

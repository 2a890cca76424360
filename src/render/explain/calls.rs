//! Socket calls in words: `[pid 4121] send(fd 5 127.0.0.1:44724->127.0.0.1:8080, 5 bytes "hello") -> 5`,
//! `client: connect(127.0.0.1:8080) -> ok, local port 44724`.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::call::{Bytes, Call, ChildKind, Line, Op, Outcome, Returned, SocketKind};
use crate::render::escape::preview;
use crate::render::plural;

/// How many characters of a call's bytes are shown.
const SHOWN_CHARS: usize = 200;

/// One line for anything a program reported beside the packets.
pub fn line_text(line: &Line) -> String {
    match line {
        Line::Call(call) => call_text(call),
        Line::Kernel(k) => super::kernel_text(k),
        Line::Step { text, .. } => format!("step: {text}"),
        Line::Note { actor, text, .. } => format!("{actor}: {text}"),
    }
}

/// The call, its arguments and what it returned, prefixed by who made it.
pub fn call_text(call: &Call) -> String {
    let mut out = String::new();
    match call.pid {
        // The process and what it runs: `[pid 4121 python3]`.
        Some(pid) => {
            let program = call
                .actor
                .split_whitespace()
                .next()
                .map(|p| p.rsplit('/').next().unwrap_or(p))
                .unwrap_or("");
            let _ = if program.is_empty() {
                write!(out, "[pid {pid}] ")
            } else {
                write!(out, "[pid {pid} {program}] ")
            };
        }
        None if !call.actor.is_empty() => {
            let _ = write!(out, "{}: ", call.actor);
        }
        None => {}
    }
    write_call(call, &mut out);
    out
}

/// How long after recv() returned 0 a close says the socket sat in
/// CLOSE-WAIT: its program did not close it when it read the end.
const CLOSE_WAIT_FLAG_NS: i64 = 1_000_000_000;

/// The summary of the processes and threads trace leaves out.
pub fn left_out_text(processes: u64, threads: u64) -> String {
    format!(
        "{processes} {} and {threads} {} that made no socket call are not shown",
        plural(processes, "process", "processes"),
        plural(threads, "thread", "threads")
    )
}

/// A process that ended with a socket open: the kernel closes it.
fn process_exit(call: &Call, out: &mut String) {
    out.push_str("the process ended");
    match (call.args.exit_status, &call.args.signal) {
        (_, Some(signal)) => {
            let _ = write!(out, " (killed by {signal})");
        }
        (Some(code), None) => {
            let _ = write!(out, " (exit status {code})");
        }
        (None, None) => {}
    }
    let _ = write!(
        out,
        " with {} open: the kernel closes it (FIN, or RST if received data was left unread)",
        socket_label(call.fd.unwrap_or(-1), call.local, call.remote)
    );
}

/// An echo program's last line: "stopped: 3 connection(s), 15 bytes
/// echoed; every socket closed".
/// `bytes` is `None` when other processes moved them (a forking server).
pub fn stopped_text(connections: u64, bytes: Option<u64>, verb: &str) -> String {
    let conns = if connections == 1 {
        "connection"
    } else {
        "connections"
    };
    match bytes {
        Some(b) => format!(
            "stopped: {connections} {conns}, {b} {} {verb}; every socket closed",
            if b == 1 { "byte" } else { "bytes" },
        ),
        None => format!(
            "stopped: {connections} {conns}, each {verb} by its own process; every socket closed"
        ),
    }
}

/// Why a program stopped, in one line for stderr, after the failed call
/// was shown whole with the others: `server stopped: bind() failed with
/// EACCES (Permission denied)`.
pub fn failed_call_text(call: &Call) -> String {
    let who = if call.actor.is_empty() {
        "the program"
    } else {
        call.actor.as_str()
    };
    match &call.outcome {
        crate::call::Outcome::Error { errno, text } => {
            format!(
                "{who} stopped: {}() failed with {errno} ({text})",
                call.op.name()
            )
        }
        _ => format!("{who} stopped at {}()", call.op.name()),
    }
}

/// The call without who made it: `bind(127.0.0.1:12333) -> EADDRINUSE (Address already in use)`.
pub fn write_call(call: &Call, out: &mut String) {
    if call.op == Op::ProcessExit {
        process_exit(call, out);
        close_wait(call, out);
        return;
    }
    let name = match call.op {
        // The program's own word: sendto() and recvfrom() on a connected
        // socket are send() and recv() to a reader.
        Op::Sendto | Op::Sendmsg if call.args.addr.is_none() => "send",
        Op::Recvfrom | Op::Recvmsg if call.socket != Some(SocketKind::Udp) => "recv",
        Op::Accept4 => "accept",
        op => op.name(),
    };
    out.push_str(name);
    out.push('(');
    let mut args: Vec<String> = Vec::new();
    if let Some(fd) = call.fd {
        args.push(socket_label(fd, call.local, call.remote));
    }
    let a = &call.args;
    if let (Some(family), Some(kind)) = (a.family, a.kind) {
        args.push(format!("{family}, {kind}"));
        if a.nonblocking {
            args.push("nonblocking".into());
        }
    }
    if let Some((name, value)) = &a.option {
        args.push(format!("{name}, {value}"));
    }
    if let Some((host, port)) = &a.host {
        args.push(format!("{host}, {port}"));
    }
    if let Some(command) = &a.command {
        args.push(command.clone());
    }
    if let Some(data) = &a.data {
        let mut text = format!("{} {} ", data.total, plural(data.total, "byte", "bytes"));
        bytes_text(data, "send", &mut text);
        if let Some(to) = a.addr.filter(|_| call.op.sends()) {
            let _ = write!(text, " to {to}");
        }
        args.push(text);
    } else if let Some(addr) = a.addr {
        args.push(addr.to_string());
    }
    if let Some(size) = a.size {
        args.push(size.to_string());
    }
    if let Some(backlog) = a.backlog {
        args.push(format!("backlog {backlog}"));
    }
    if let Some(how) = a.how {
        args.push(how.to_string());
    }
    out.push_str(&args.join(", "));
    out.push_str(") -> ");
    match &call.outcome {
        Outcome::Ok(r) => returned(call, r, out),
        Outcome::Error { errno, text } => {
            let _ = write!(out, "{errno} ({text})");
        }
        Outcome::Interrupted { errno } => {
            let _ = write!(out, "interrupted by a signal ({errno})");
        }
        Outcome::ProcessEnded => out.push_str("? (the process ended)"),
    }
    if let Some(comment) = &call.comment {
        out.push_str(": ");
        out.push_str(comment);
    }
    close_wait(call, out);
}

/// A close long after recv() returned 0: the socket sat in CLOSE-WAIT.
fn close_wait(call: &Call, out: &mut String) {
    if let Some(ns) = call.eof_since_ns.filter(|&ns| ns >= CLOSE_WAIT_FLAG_NS) {
        let _ = write!(
            out,
            " [{:.1} s after recv() returned 0: the socket sat in CLOSE-WAIT that long; its program \
             did not close it when it read the end]",
            ns as f64 / 1e9
        );
    }
}

fn returned(call: &Call, r: &Returned, out: &mut String) {
    let value = r.value.unwrap_or(0);
    let _ = match call.op {
        Op::Socket => match r.fd {
            Some(fd) => write!(out, "fd {fd}"),
            None => out.write_str("ok"),
        },
        Op::Accept | Op::Accept4 => {
            if let Some(fd) = r.fd {
                let _ = write!(out, "fd {fd}");
            }
            match (r.local, r.peer) {
                (Some(l), Some(p)) => write!(out, " {l}->{p}"),
                (None, Some(p)) => {
                    write!(out, "{}peer {p}", if r.fd.is_some() { ", " } else { "" })
                }
                _ => Ok(()),
            }
        }
        Op::Getsockname => match r.local {
            Some(l) => write!(out, "{l}"),
            None => out.write_str("ok"),
        },
        Op::Connect => match r.local {
            Some(l) => write!(out, "ok, local port {}", l.port()),
            None => out.write_str("ok"),
        },
        Op::Bind => match (r.local, call.args.addr) {
            (Some(l), Some(a)) if a.port() == 0 => {
                write!(out, "ok: the kernel chose port {}", l.port())
            }
            _ => out.write_str("ok"),
        },
        op if op.sends() => {
            if value == 0 && call.socket == Some(SocketKind::Udp) {
                out.write_str("0 bytes: an empty message is still a UDP datagram")
            } else if value == 0 && call.socket == Some(SocketKind::Tcp) {
                out.write_str("0 bytes: on TCP an empty message sends nothing at all (no segment)")
            } else if call.args.data.is_some() {
                write!(out, "{value}")
            } else {
                write!(out, "{value} {}", plural(value as u64, "byte", "bytes"))
            }
        }
        op if op.receives() => received(call, r, value, out),
        Op::Shutdown
            if call.args.how == Some("SHUT_WR") && call.socket == Some(SocketKind::Tcp) =>
        {
            out.write_str("ok: the kernel sends FIN after any queued data; reading continues")
        }
        Op::Setsockopt => match &call.args.option {
            Some((name, value)) if name == "SO_LINGER" && value.ends_with("l_linger=0}") => {
                out.write_str("ok: close() will now send RST, not FIN")
            }
            _ => out.write_str("ok"),
        },
        op if op.waits() => write!(out, "{value} ready"),
        op if op.spawns() => match r.child {
            Some(child) => write!(
                out,
                "new {} {}",
                match child.kind {
                    ChildKind::Process => "process",
                    ChildKind::Thread => "thread",
                },
                child.pid
            ),
            None => write!(out, "{value}"),
        },
        Op::Getaddrinfo => out.write_str(
            &r.addrs
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ if value == 0 => out.write_str("ok"),
        _ => write!(out, "{value}"),
    };
}

fn received(call: &Call, r: &Returned, value: i64, out: &mut String) -> std::fmt::Result {
    if value == 0 {
        return match call.socket {
            Some(SocketKind::Udp) => out.write_str("0 bytes: an empty datagram (UDP has no FIN)"),
            Some(SocketKind::Tcp) => out.write_str("0 bytes: the peer closed its side (FIN)"),
            None => out.write_str("0 bytes"),
        };
    }
    write!(out, "{value} {}", plural(value as u64, "byte", "bytes"))?;
    if let Some(data) = &r.data {
        out.push(' ');
        bytes_text(data, "recv", out);
    }
    if let Some(sends) = r.from_sends.filter(|&n| n > 1) {
        write!(
            out,
            " (the bytes of {sends} send() calls of the peer, read at once: TCP keeps no message boundaries)"
        )?;
    }
    if let Some(peer) = r.peer.filter(|_| call.socket == Some(SocketKind::Udp)) {
        write!(out, " from {peer}")?;
    }
    if let Some(whole) = r.datagram_len.filter(|&w| w > value as u64) {
        write!(
            out,
            " (the datagram had {whole}: {} {} silently discarded)",
            whole - value as u64,
            plural(whole - value as u64, "byte", "bytes")
        )?;
    }
    Ok(())
}

/// `"hello"`, with where a character was cut at the call's boundary and
/// how much of a long buffer strace showed.
pub fn bytes_text(data: &Bytes, call: &str, out: &mut String) {
    if data.carried_in > 0 {
        let _ = write!(out, "[completes a character cut by the previous {call}] ");
    }
    out.push('"');
    out.push_str(&preview(&[], &data.shown, SHOWN_CHARS));
    out.push('"');
    let cut = data.cut.as_slice();
    if !cut.is_empty() {
        // The lead byte says how long the character is (UTF-8: 110xxxxx is
        // 2 bytes, 1110xxxx 3, 11110xxx 4).
        let need = match cut[0] {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            _ => 2,
        };
        let here = cut.len();
        let _ = write!(
            out,
            " [{call} boundary cut a character: its first {here} of {need} bytes ({}) arrived in this {call}, \
             the other {} {} in the next]",
            cut.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
            need - here,
            if need - here == 1 { "comes" } else { "come" }
        );
    }
    let in_call = data.shown_in_call() as u64;
    if in_call < data.total {
        let _ = write!(out, " (first {in_call} of {} bytes shown)", data.total);
    }
}

/// `fd 4 127.0.0.1:1->127.0.0.1:2`, or with only the local address for a
/// bound or listening socket.
fn socket_label(fd: i32, local: Option<SocketAddr>, remote: Option<SocketAddr>) -> String {
    match (local, remote) {
        (Some(l), Some(r)) => format!("fd {fd} {l}->{r}"),
        (Some(l), None) => format!("fd {fd} {l}"),
        _ => format!("fd {fd}"),
    }
}

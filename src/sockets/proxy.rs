//! `wirelab proxy LISTEN UPSTREAM`: a TCP relay, as in the proxy lab. Each
//! client connection makes the proxy open its own connection upstream, so
//! the server sees the proxy's address, and each has its own handshake and
//! its own FINs. A FIN from one side is passed on as shutdown(SHUT_WR).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::server::{accepted, open, ServeOptions};
use super::{moved, ok, on, CallError, Calls};
use crate::call::{Call, Op, Returned};

/// Relay connections from `listen` to `upstream` until `stop` is set.
pub fn run(
    listen: SocketAddr,
    upstream: SocketAddr,
    calls: &Calls,
    stop: &AtomicBool,
) -> Result<(), CallError> {
    let opts = ServeOptions {
        addr: listen,
        reuseaddr: Some(true),
        ..ServeOptions::default()
    };
    let listener: TcpListener = open(&opts, calls)?.into();
    let mut workers = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut p = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut p, 1, 100) } <= 0 {
            continue;
        }
        let Ok((client, peer)) = calls.run(
            on(Call::new(Op::Accept), &listener),
            || listener.accept(),
            accepted,
        ) else {
            continue;
        };
        let upstream_conn = calls.run(
            Call::new(Op::Connect).addr(upstream),
            || TcpStream::connect(upstream),
            |s| Returned {
                value: Some(0),
                local: s.local_addr().ok(),
                ..Returned::default()
            },
        );
        let Ok(server) = upstream_conn else {
            calls.say(&format!(
                "closing {peer}: the upstream server is not reachable"
            ));
            continue;
        };
        let calls = calls.clone();
        workers.push(thread::spawn(move || {
            relay_both(client, server, peer, &calls)
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn relay_both(client: TcpStream, server: TcpStream, peer: SocketAddr, calls: &Calls) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up_calls = calls.named(format!("proxy {peer} -> server"));
    let up = thread::spawn(move || relay(client, s2, &up_calls));
    relay(server, c2, &calls.named(format!("proxy server -> {peer}")));
    let _ = up.join();
}

/// Copy one direction until EOF, then pass the FIN on.
fn relay(mut from: TcpStream, mut to: TcpStream, calls: &Calls) {
    let mut buf = [0u8; 16384];
    loop {
        let call = on(Call::new(Op::Recv), &from).size(buf.len());
        match calls.run(call, || from.read(&mut buf), |&n| moved(n)) {
            Ok(0) => {
                // The peer's FIN, passed on as ours.
                let mut call = on(Call::new(Op::Shutdown), &to).comment("the FIN passed on");
                call.args.how = Some("SHUT_WR");
                let _ = calls.run(call, || to.shutdown(Shutdown::Write), ok);
                return;
            }
            Ok(n) => {
                let call = on(Call::new(Op::Send), &to).data(&buf[..n]);
                if calls
                    .run(call, || to.write_all(&buf[..n]).map(|()| n), |&n| moved(n))
                    .is_err()
                {
                    return;
                }
            }
            Err(_) => {
                let mut call = on(Call::new(Op::Shutdown), &to).comment("the other side failed");
                call.args.how = Some("SHUT_RDWR");
                let _ = calls.run(call, || to.shutdown(Shutdown::Both), ok);
                return;
            }
        }
    }
}

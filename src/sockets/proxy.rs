//! `wirelab proxy LISTEN UPSTREAM`: a TCP relay, as in the proxy lab. Each
//! client connection makes the proxy open its own connection upstream, so
//! the server sees the proxy's address, and each has its own handshake and
//! its own FINs. A FIN from one side is passed on as shutdown(SHUT_WR).
//! Each relay waits for its socket and for the stop ([`Shutdown`]): at
//! Ctrl-C or SIGTERM every connection is closed (visibly) at once, idle or
//! mid-transfer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use super::server::{accepted, open, ServeOptions};
use super::shutdown::{Shutdown, Woken};
use super::{moved, ok, on, CallError, Calls};
use crate::call::{Call, Op, Returned};

/// What a proxy relayed, for its last line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Relayed {
    pub connections: u64,
    pub bytes: u64,
}

/// Relay connections from `listen` to `upstream` until the stop.
pub fn run(
    listen: SocketAddr,
    upstream: SocketAddr,
    calls: &Calls,
    stop: &Shutdown,
) -> Result<Relayed, CallError> {
    let opts = ServeOptions {
        addr: listen,
        reuseaddr: Some(true),
        ..ServeOptions::default()
    };
    let listener: TcpListener = open(&opts, calls)?.into();
    let mut workers = Vec::new();
    let bytes = Arc::new(AtomicU64::new(0));
    let mut connections = 0;
    while stop.wait_readable(listener.as_raw_fd()) == Woken::Readable {
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
            let _ = super::close(calls, client);
            continue;
        };
        connections += 1;
        let (calls, stop, bytes) = (calls.clone(), stop.clone(), Arc::clone(&bytes));
        workers.push(thread::spawn(move || {
            relay_both(client, server, peer, &calls, &stop, &bytes)
        }));
    }
    // Every relay heard the stop too, and closes its two sockets.
    for w in workers {
        let _ = w.join();
    }
    super::close(calls, listener)?;
    Ok(Relayed {
        connections,
        bytes: bytes.load(Ordering::Relaxed),
    })
}

/// Both directions of one client's connection, each on its own thread,
/// then both sockets closed.
fn relay_both(
    client: TcpStream,
    server: TcpStream,
    peer: SocketAddr,
    calls: &Calls,
    stop: &Shutdown,
    bytes: &AtomicU64,
) {
    thread::scope(|scope| {
        let up_calls = calls.named(format!("proxy {peer} -> server"));
        let (client, server) = (&client, &server);
        scope.spawn(move || relay(client, server, &up_calls, stop, bytes));
        relay(
            server,
            client,
            &calls.named(format!("proxy server -> {peer}")),
            stop,
            bytes,
        );
    });
    let _ = super::close(calls, client);
    let _ = super::close(calls, server);
}

/// Copy one direction until EOF (then pass the FIN on) or the stop.
fn relay(
    mut from: &TcpStream,
    mut to: &TcpStream,
    calls: &Calls,
    stop: &Shutdown,
    bytes: &AtomicU64,
) {
    let mut buf = [0u8; 16384];
    loop {
        if stop.wait_readable(from.as_raw_fd()) == Woken::Stop {
            return;
        }
        let call = on(Call::new(Op::Recv), from).size(buf.len());
        match calls.run(call, || from.read(&mut buf), |&n| moved(n)) {
            Ok(0) => {
                // The peer's FIN, passed on as ours.
                let mut call = on(Call::new(Op::Shutdown), to).comment("the FIN passed on");
                call.args.how = Some("SHUT_WR");
                let _ = calls.run(call, || to.shutdown(std::net::Shutdown::Write), ok);
                return;
            }
            Ok(n) => {
                let call = on(Call::new(Op::Send), to).data(&buf[..n]);
                if calls
                    .run(call, || to.write_all(&buf[..n]).map(|()| n), |&n| moved(n))
                    .is_err()
                {
                    return;
                }
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {
                let mut call = on(Call::new(Op::Shutdown), to).comment("the other side failed");
                call.args.how = Some("SHUT_RDWR");
                let _ = calls.run(call, || to.shutdown(std::net::Shutdown::Both), ok);
                return;
            }
        }
    }
}

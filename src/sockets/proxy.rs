//! `wirelab proxy LISTEN UPSTREAM`: a TCP relay, as in the proxy lab. Each
//! client connection makes the proxy open its own connection upstream, so
//! the server sees the proxy's address, and each has its own handshake and
//! its own FINs. A FIN from one side is passed on as shutdown(SHUT_WR).
//!
//! It runs on tokio, on one thread: the accept loop and every relay are
//! tasks that `select!` on their socket and on the stop ([`Shutdown`]), so
//! at Ctrl-C or SIGTERM every connection is closed (visibly) at once, idle
//! or mid-transfer. Each direction is copied by hand rather than with
//! `tokio::io::copy_bidirectional`, which would hide the recv(), send()
//! and shutdown() calls the proxy lab shows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use super::server::{accept_tasks, open, ServeOptions};
use super::shutdown::Shutdown;
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
    let listener: std::net::TcpListener = open(&opts, calls)?.into();
    let bytes = Arc::new(AtomicU64::new(0));
    let (listener, connections) = accept_tasks(listener, calls, stop, |client, peer| {
        let (calls, stop, bytes) = (calls.clone(), stop.clone(), Arc::clone(&bytes));
        async move {
            let connected = TcpStream::connect(upstream).await;
            let call = Call::new(Op::Connect).addr(upstream);
            let Ok(server) = calls.run(
                call,
                || connected,
                |s| Returned {
                    value: Some(0),
                    fd: Some(std::os::fd::AsRawFd::as_raw_fd(s)),
                    local: s.local_addr().ok(),
                    ..Returned::default()
                },
            ) else {
                calls.say(&format!(
                    "closing {peer}: the upstream server is not reachable"
                ));
                close(&calls, client);
                return None;
            };
            Some(async move { relay_both(client, server, peer, &calls, &stop, &bytes).await })
        }
    })?;
    super::close(calls, listener)?;
    Ok(Relayed {
        connections,
        bytes: bytes.load(Ordering::Relaxed),
    })
}

/// close() on a tokio socket, printed as every close is.
fn close(calls: &Calls, stream: TcpStream) {
    if let Ok(stream) = stream.into_std() {
        let _ = super::close(calls, stream);
    }
}

/// Both directions of one client's connection, concurrently, then both
/// sockets closed.
async fn relay_both(
    mut client: TcpStream,
    mut server: TcpStream,
    peer: SocketAddr,
    calls: &Calls,
    stop: &Shutdown,
    bytes: &AtomicU64,
) {
    {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let up = calls.named(format!("proxy {peer} -> server"));
        let down = calls.named(format!("proxy server -> {peer}"));
        tokio::join!(
            relay(client_read, server_write, &up, stop, bytes),
            relay(server_read, client_write, &down, stop, bytes),
        );
    }
    close(calls, client);
    close(calls, server);
}

/// Copy one direction until EOF (then pass the FIN on) or the stop.
async fn relay(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    calls: &Calls,
    stop: &Shutdown,
    bytes: &AtomicU64,
) {
    let mut buf = [0u8; 16384];
    // One wait for the stop, polled again at each turn (not one per turn).
    let stopped = stop.stopped();
    tokio::pin!(stopped);
    loop {
        let read = tokio::select! {
            biased;
            () = &mut stopped => return,
            read = from.read(&mut buf) => read,
        };
        let call = on(Call::new(Op::Recv), from.as_ref()).size(buf.len());
        match calls.run(call, || read, |&n| moved(n)) {
            Ok(0) => {
                // The peer's FIN, passed on as ours.
                let mut call =
                    on(Call::new(Op::Shutdown), to.as_ref()).comment("the FIN passed on");
                call.args.how = Some("SHUT_WR");
                let _ = calls.run_async(call, to.shutdown(), ok).await;
                return;
            }
            Ok(n) => {
                let call = on(Call::new(Op::Send), to.as_ref()).data(&buf[..n]);
                if calls
                    .run_async(call, to.write_all(&buf[..n]), |()| moved(n))
                    .await
                    .is_err()
                {
                    return;
                }
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(_) => {
                // The other side failed (a RST): pass the end on.
                let mut call =
                    on(Call::new(Op::Shutdown), to.as_ref()).comment("the other side failed");
                call.args.how = Some("SHUT_WR");
                let _ = calls.run_async(call, to.shutdown(), ok).await;
                return;
            }
        }
    }
}

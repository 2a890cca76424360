//! `wirelab client`: the labs' echo client, on tokio: one thread, each
//! concurrent connection a task. Every call is reported as it is made;
//! one that sends is stamped before its await, as a blocking call is
//! before it blocks ([`Calls::run_async`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{encode, moved, ok, on, received, received_from, CallError, Calls, Encoding};
use crate::call::{Call, Op, Returned};

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub udp: bool,
    pub server: SocketAddr,
    /// bind() before connect(): a fixed source address and port.
    pub bind: Option<SocketAddr>,
    pub reuseaddr: Option<bool>,
    pub messages: Vec<String>,
    /// Sequential connections, each with a new ephemeral port.
    pub repeat: u32,
    /// Concurrent connections (MultiConnEchoClient).
    pub clients: u32,
    /// shutdown(SHUT_WR) after sending, then read until EOF.
    pub shutdown_write: bool,
    pub linger0: bool,
    pub recv_buf: usize,
    pub encoding: Encoding,
    /// How long to wait for a reply.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            udp: false,
            server: SocketAddr::from(([127, 0, 0, 1], 12333)),
            bind: None,
            reuseaddr: None,
            messages: vec!["hello".to_string()],
            repeat: 1,
            clients: 1,
            shutdown_write: false,
            linger0: false,
            recv_buf: 1024,
            encoding: Encoding::Utf8,
            timeout: Duration::from_secs(5),
        }
    }
}

/// What the client got back, per connection.
#[derive(Debug, Default, Clone)]
pub struct Exchange {
    pub local: Option<SocketAddr>,
    /// The bytes received for each message sent.
    pub replies: Vec<Vec<u8>>,
}

#[derive(Debug)]
pub enum ClientError {
    Call(CallError),
    /// The message could not be encoded (ASCII and Greek): nothing was sent.
    Encoding(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Call(e) => e.fmt(f),
            ClientError::Encoding(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<CallError> for ClientError {
    fn from(e: CallError) -> Self {
        ClientError::Call(e)
    }
}

/// One recv() on the connection, reported with the bytes it read (a
/// character cut by the previous recv completed from `carry`).
async fn recv(
    calls: &Calls,
    stream: &mut tokio::net::TcpStream,
    buf: &mut [u8],
    carry: &mut Vec<u8>,
    timeout: Duration,
) -> Result<usize, CallError> {
    let call = on(Call::new(Op::Recv), &*stream).size(buf.len());
    let read = within(timeout, stream.read(buf)).await;
    calls.run_reading(call, || {
        let n = read?;
        Ok((n, received(carry, &buf[..n])))
    })
}

/// Run the client: `repeat` rounds of `clients` concurrent connections.
pub fn run(opts: &ClientOptions, calls: &Calls) -> Result<Vec<Exchange>, ClientError> {
    // Encode first: a program fails here before anything reaches the wire.
    let payloads = opts
        .messages
        .iter()
        .map(|m| encode(m, opts.encoding))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            calls.say(&e);
            ClientError::Encoding(e)
        })?;
    let runtime = super::runtime().map_err(ClientError::Call)?;
    runtime.block_on(async {
        let mut all = Vec::new();
        for round in 0..opts.repeat.max(1) {
            if opts.clients <= 1 {
                all.push(exchange(opts, payloads.iter().cloned(), calls).await?);
                continue;
            }
            // Concurrent clients are a set of tasks on one thread.
            let mut clients = tokio::task::JoinSet::new();
            for i in 0..opts.clients {
                // "client 2", or with --repeat "client 2 (round 3)": no
                // dotted numbers a reader has to decode.
                let name = if opts.repeat > 1 {
                    format!("client {} (round {})", i + 1, round + 1)
                } else {
                    format!("client {}", i + 1)
                };
                let (opts, payloads, calls) = (opts.clone(), payloads.clone(), calls.named(name));
                clients.spawn(async move { exchange(&opts, payloads.into_iter(), &calls).await });
            }
            while let Some(done) = clients.join_next().await {
                if let Ok(exchanged) = done {
                    all.push(exchanged?);
                }
            }
        }
        Ok(all)
    })
}

fn new_socket(opts: &ClientOptions, calls: &Calls) -> Result<Socket, CallError> {
    let domain = if opts.server.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let (ty, proto, name) = if opts.udp {
        (Type::DGRAM, Protocol::UDP, "SOCK_DGRAM")
    } else {
        (Type::STREAM, Protocol::TCP, "SOCK_STREAM")
    };
    let mut call = Call::new(Op::Socket);
    call.args.family = Some(if opts.server.is_ipv6() {
        "AF_INET6"
    } else {
        "AF_INET"
    });
    call.args.kind = Some(name);
    let socket = calls.run(
        call,
        || Socket::new(domain, ty, Some(proto)),
        |s| Returned {
            fd: Some(std::os::fd::AsRawFd::as_raw_fd(s)),
            ..Returned::default()
        },
    )?;
    if let Some(yes) = opts.reuseaddr {
        calls.run(
            on(Call::new(Op::Setsockopt), &socket)
                .option("SO_REUSEADDR", u8::from(yes).to_string()),
            || socket.set_reuse_address(yes),
            ok,
        )?;
    }
    if let Some(bind) = opts.bind {
        calls.run(
            on(Call::new(Op::Bind), &socket).addr(bind),
            || socket.bind(&SockAddr::from(bind)),
            |()| Returned {
                value: Some(0),
                local: socket.local_addr().ok().and_then(|a| a.as_socket()),
                ..Returned::default()
            },
        )?;
    }
    Ok(socket)
}

/// One interactive session: `lines` are read as they come.
pub fn interactive(
    opts: &ClientOptions,
    lines: impl Iterator<Item = String>,
    calls: &Calls,
) -> Result<Exchange, CallError> {
    // A line the encoding cannot hold is refused, not sent; the session goes on.
    let payloads = lines.filter_map(|line| match encode(&line, opts.encoding) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            calls.say(&e);
            None
        }
    });
    // Reading a line blocks this one-task runtime, as the session waits
    // for its user anyway.
    super::runtime()?.block_on(exchange(opts, payloads, calls))
}

/// A reply that did not come within `timeout`: EAGAIN, as SO_RCVTIMEO
/// makes a blocking recv() fail.
async fn within<T>(
    timeout: Duration,
    op: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(timeout, op)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::from_raw_os_error(libc::EAGAIN)))
}

/// One connection (or UDP socket) of the client: send each message and
/// read its echo, on tokio; each call reported as it is made.
async fn exchange(
    opts: &ClientOptions,
    payloads: impl Iterator<Item = Vec<u8>>,
    calls: &Calls,
) -> Result<Exchange, CallError> {
    let socket = new_socket(opts, calls)?;
    let failed = |source: std::io::Error| CallError {
        call: Box::new(Call::new(Op::Socket)),
        errno: source.raw_os_error(),
        source,
    };
    socket.set_nonblocking(true).map_err(failed)?;
    let mut buf = vec![0u8; opts.recv_buf.max(1)];
    if opts.udp {
        let udp = tokio::net::UdpSocket::from_std(socket.into()).map_err(failed)?;
        let mut ex = Exchange::default();
        for p in payloads {
            let call = on(Call::new(Op::Sendto), &udp).data(&p).addr(opts.server);
            calls
                .run_async(call, udp.send_to(&p, opts.server), |&n| moved(n))
                .await?;
            ex.local = udp.local_addr().ok();
            let call = on(Call::new(Op::Recvfrom), &udp).size(buf.len());
            let got = within(opts.timeout, udp.recv_from(&mut buf)).await;
            let (n, _) = calls.run_reading(call, || {
                let (n, p) = got?;
                Ok(((n, p), received_from(&buf[..n], p)))
            })?;
            ex.replies.push(buf[..n].to_vec());
        }
        return Ok(ex);
    }
    let unconnected = tokio::net::TcpSocket::from_std_stream(socket.into());
    let call = on(Call::new(Op::Connect), &unconnected).addr(opts.server);
    let mut stream = calls
        .run_async(call, unconnected.connect(opts.server), |s| Returned {
            value: Some(0),
            local: s.local_addr().ok(),
            ..Returned::default()
        })
        .await?;
    let mut ex = Exchange {
        local: stream.local_addr().ok(),
        replies: Vec::new(),
    };
    let mut carry = Vec::new();
    for p in payloads {
        if p.is_empty() {
            // On TCP an empty message sends nothing at all (no segment):
            // the explanation of a send of 0 bytes on TCP says so.
            calls.call(on(Call::new(Op::Send), &stream).data(&p));
            ex.replies.push(Vec::new());
            continue;
        }
        let call = on(Call::new(Op::Send), &stream).data(&p);
        let n = p.len();
        calls
            .run_async(call, stream.write_all(&p), |()| moved(n))
            .await?;
        if opts.shutdown_write {
            continue;
        }
        // Read until the echo is complete: TCP keeps no message boundaries.
        let mut got = Vec::new();
        while got.len() < p.len() {
            let n = recv(calls, &mut stream, &mut buf, &mut carry, opts.timeout).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        ex.replies.push(got);
    }
    if opts.shutdown_write {
        let mut call = on(Call::new(Op::Shutdown), &stream);
        call.args.how = Some("SHUT_WR");
        calls.run_async(call, stream.shutdown(), ok).await?;
        let mut got = Vec::new();
        loop {
            let n = recv(calls, &mut stream, &mut buf, &mut carry, opts.timeout).await?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        ex.replies.push(got);
    }
    if opts.linger0 {
        super::set_linger0(calls, &stream)?;
    }
    let stream = stream.into_std().map_err(failed)?;
    super::close(calls, stream)?;
    Ok(ex)
}

//! The `backlog` lab: the program a student would write, and the checks.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crate::lab::kit::{connect, local, or_none, pause, send, wait_until, Server};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord, ACK, SYN};
use crate::sockets::server::ServeOptions;
use crate::track::event::Event;
use crate::track::state::TcpState;

pub fn backlog(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!(
        "a server listens on {port} with backlog 1 and never calls accept()"
    ))?;
    let _server = Server::start(
        ServeOptions {
            addr: local(port),
            backlog: 1,
            no_accept: true,
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    ctx.step("four clients connect, 100 ms apart, each waiting at most 2.5 s")?;
    let clients: Vec<_> = (0..4u64)
        .map(|i| {
            let calls = ctx.calls.named(format!("client {}", i + 1));
            thread::spawn(move || {
                // The lesson: clients arriving one after another, in order.
                pause(100 * i);
                let r = connect(&calls, port, Some(Duration::from_millis(2500)));
                if let Ok(mut s) = r.as_ref().map(|s| s.try_clone()) {
                    if let Ok(s) = s.as_mut() {
                        let _ = send(&calls, s, b"hi", Some("ACKed though nobody accepted"));
                    }
                }
                r.ok()
            })
        })
        .collect();
    // Clients 1 and 2 fill the queue; 3 and 4 wait with their SYNs unanswered.
    wait_until(|| {
        crate::lab::sockstate::snapshot(&[port]).is_some_and(|rows| {
            rows.iter()
                .filter(|r| r.state == KernelState::Tcp(TcpState::SynSent))
                .count()
                >= 2
        })
    });
    let rows = ctx.states("while clients 3 and 4 wait");
    let listener = rows
        .iter()
        .find(|r| r.state == KernelState::Tcp(TcpState::Listen));
    let listen_q = listener.map(|r| r.recv_q);
    let backlog = listener.and_then(|r| r.send_q);
    let connected: Vec<Option<TcpStream>> = clients
        .into_iter()
        .map(|c| c.join().ok().flatten())
        .collect();
    let ok = connected.iter().filter(|c| c.is_some()).count();
    ctx.check(
        "two connects succeed (the queue holds backlog + 1 = 2), two time out",
        ok == 2,
        format!("{ok} connected"),
    );
    ctx.check(
        "the listening socket's Recv-Q shows 2 connections waiting for accept()",
        listen_q == Some(2),
        or_none(listen_q),
    );
    // See: issue 14 (l): for a listener, ss's Send-Q is the backlog.
    ctx.check(
        "its Send-Q shows the backlog given to listen(): 1",
        backlog == Some(1),
        or_none(backlog),
    );
    let unowned = rows
        .iter()
        .filter(|r| {
            r.local.port() == ctx.port(0)
                && r.state == KernelState::Tcp(TcpState::Established)
                && r.owner.is_none()
        })
        .count();
    ctx.check(
        "the 2 queued connections belong to no process yet (no fd until accept())",
        unowned == 2,
        format!("{unowned} without a process"),
    );
    Ok(())
}

pub fn backlog_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let port = ctx.port(0);
    let syn_acks = rows
        .iter()
        .filter(|r| r.sport == port && r.has(SYN | ACK))
        .count();
    let retries = rows
        .iter()
        .filter(|r| r.shows(|e| matches!(e, Event::SynRetransmitted { .. })))
        .count();
    let data_acked = rows
        .iter()
        .any(|r| r.sport == port && r.shows(|e| matches!(e, Event::Ack { received: 2, .. })));
    vec![
        packet_check("exactly two SYN-ACKs", syn_acks == 2, format!("{syn_acks}")),
        packet_check(
            "the other SYNs get no answer and are retransmitted (the timeline shows the intervals)",
            retries >= 2,
            format!("{retries} retransmissions"),
        ),
        packet_check(
            "data sent to a connection nobody accepted yet is ACKed by the kernel",
            data_acked,
            "",
        ),
    ]
}

//! The `tcp-echo` lab: the program a student would write, and the checks.

use crate::lab::kit::{echo_server, kernel_has, list, local, shown};
use crate::lab::sockstate::KernelState;
use crate::lab::{packet_check, Check, LabCtx, RowRecord, FIN};
use crate::sockets::client::{self, ClientOptions};
use crate::track::event::Event;
use crate::track::state::TcpState;

pub fn tcp_echo(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    ctx.step(&format!("start an echo server on 127.0.0.1:{port}"))?;
    let _server = echo_server(ctx, port)?;
    ctx.states("after listen()");
    let mut client_ports = Vec::new();
    for i in 1..=2 {
        ctx.step(&format!(
            "client {i} connects, sends \"hello\", reads the echo and closes first"
        ))?;
        let opts = ClientOptions {
            server: local(port),
            ..ClientOptions::default()
        };
        let ex = client::run(&opts, &ctx.calls.named(format!("client {i}")))?;
        let reply_ok = ex[0].replies == vec![b"hello".to_vec()];
        ctx.check(
            &format!("client {i} gets its 5 bytes back"),
            reply_ok,
            shown(&ex[0].replies),
        );
        if let Some(local) = ex[0].local {
            client_ports.push(local.port());
            // The last ACK of the close has put the client in TIME-WAIT.
            kernel_has(local.port(), TcpState::TimeWait);
        }
    }
    let rows = ctx.states("after both clients closed");
    ctx.check(
        "each client gets a new ephemeral port",
        client_ports.len() == 2 && client_ports[0] != client_ports[1],
        format!("ports {}", list(&client_ports)),
    );
    let tw_on_client = client_ports.iter().all(|p| {
        rows.iter()
            .any(|r| r.state == KernelState::Tcp(TcpState::TimeWait) && r.local.port() == *p)
    });
    ctx.check(
        "TIME-WAIT is on the client's side (it closed first)",
        tw_on_client,
        "kernel socket table (/proc/net/tcp)",
    );
    Ok(())
}

pub fn tcp_echo_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let conns: Vec<u64> = {
        let mut c: Vec<u64> = rows.iter().filter_map(|r| r.conn).collect();
        c.dedup();
        c
    };
    let handshakes = rows
        .iter()
        .filter(|r| r.shows(|e| *e == Event::HandshakeDone))
        .count();
    let first_fin_by_client = conns.iter().all(|c| {
        rows.iter()
            .find(|r| r.conn == Some(*c) && r.has(FIN))
            .is_some_and(|r| r.from_client)
    });
    let last_states: Vec<_> = conns
        .iter()
        .filter_map(|c| {
            rows.iter()
                .rev()
                .find(|r| r.conn == Some(*c))
                .and_then(|r| r.states)
        })
        .collect();
    vec![
        packet_check(
            "two connections, each with handshake 1/3, 2/3, 3/3",
            handshakes == 2,
            format!("{handshakes} completed handshakes"),
        ),
        packet_check(
            "the client sends the first FIN in each connection",
            first_fin_by_client,
            "",
        ),
        packet_check(
            "each connection ends with the client in TIME-WAIT and the server CLOSED",
            last_states.len() == 2
                && last_states
                    .iter()
                    .all(|s| *s == [TcpState::TimeWait, TcpState::Closed]),
            last_states
                .iter()
                .map(|[c, s]| format!("{c} / {s}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

//! The `udp-wrong-address` lab: the program a student would write, and the checks.

use std::time::Duration;

use crate::lab::kit::{
    connect, connected_send_refused, local, on, recv_times_out, recvfrom, sendto, udp_client,
    Server,
};
use crate::lab::{packet_check, Check, LabCtx, RowRecord, RST};
use crate::sockets::server::ServeOptions;

pub fn udp_wrong_address(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let (port, tcp_port) = (ctx.port(0), ctx.port(1));
    let right = on([127, 0, 0, 2], port);
    let wrong = local(port);
    ctx.step(&format!("a UDP echo server bound to {right} only"))?;
    let _server = Server::start(
        ServeOptions {
            addr: right,
            udp: true,
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    let calls = ctx.calls.named("client".into());
    ctx.step(&format!(
        "an unconnected client sends to {wrong}: the right port, the wrong address"
    ))?;
    let s = udp_client(&calls)?;
    sendto(
        &calls,
        &s,
        b"hello",
        wrong,
        Some("sendto() succeeds: the datagram left"),
    )?;
    let waits = recv_times_out(&calls, &s)?;
    ctx.check(
        "the unconnected client just waits: nothing listens on 127.0.0.1, and it never hears of the ICMP error",
        waits,
        "",
    );
    ctx.step(&format!(
        "a connected client: connect({wrong}), send(), send() again"
    ))?;
    let refused = connected_send_refused(&calls, wrong)?;
    ctx.check(
        "the connected client's next call fails with ECONNREFUSED (the ICMP error, reported)",
        refused,
        "",
    );
    ctx.step(&format!(
        "a client bound to 127.0.0.1 sends to the right address, {right}"
    ))?;
    let ok = udp_client(&calls)?;
    ok.set_read_timeout(Some(Duration::from_millis(1000)))?;
    sendto(&calls, &ok, b"hello", right, None)?;
    let echo = recvfrom(&calls, &ok, 64);
    ctx.check(
        "127.0.0.1 and 127.0.0.2 talk: the kernel routes between its local addresses",
        matches!(&echo, Ok((data, from)) if data.len() == 5 && *from == right),
        "",
    );
    ctx.step(&format!(
        "the same with TCP: a server listening on 127.0.0.2:{tcp_port}, a client connecting to 127.0.0.1:{tcp_port}"
    ))?;
    let _tcp = Server::start(
        ServeOptions {
            addr: on([127, 0, 0, 2], tcp_port),
            ..ServeOptions::default()
        },
        &ctx.calls,
    )?;
    let refused = connect(&calls, tcp_port, None);
    ctx.check(
        "connect() to the wrong address fails with ECONNREFUSED",
        matches!(&refused, Err(e) if e.errno == Some(libc::ECONNREFUSED)),
        "",
    );
    Ok(())
}

pub fn udp_wrong_address_packets(ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let (port, tcp_port) = (ctx.port(0), ctx.port(1));
    let unreachable = rows.iter().filter(|r| r.icmp == Some((3, 3))).count();
    let echo = rows.iter().any(|r| r.udp && r.sport == port && r.len == 5);
    let rst = rows.iter().any(|r| r.sport == tcp_port && r.has(RST));
    vec![
        packet_check(
            "both datagrams to 127.0.0.1 are answered by ICMP port unreachable (3/3)",
            unreachable == 2,
            format!("{unreachable} ICMP errors"),
        ),
        packet_check("the datagram to 127.0.0.2 is echoed", echo, ""),
        packet_check("the TCP SYN to 127.0.0.1 is answered by RST", rst, ""),
    ]
}

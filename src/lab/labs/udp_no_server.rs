//! The `udp-no-server` lab: the program a student would write, and the checks.

use std::net::UdpSocket;

use crate::call::{Call, Op, Returned};
use crate::lab::kit::{connected_send_refused, local, recv_times_out, sendto};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::on;
use crate::track::event::Event;

pub fn udp_no_server(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let target = local(port);
    let calls = ctx.calls.named("client".into());
    ctx.step(&format!(
        "unconnected UDP socket: sendto(127.0.0.1:{port}), where nothing is bound, then recvfrom()"
    ))?;
    // No bind(): the socket has no port until the first sendto().
    let mut call = Call::new(Op::Socket).comment("no bind()");
    call.args.family = Some("AF_INET");
    call.args.kind = Some("SOCK_DGRAM");
    let s: UdpSocket = calls
        .run(
            call,
            || {
                socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )
            },
            |s| Returned {
                fd: Some(std::os::fd::AsRawFd::as_raw_fd(s)),
                ..Returned::default()
            },
        )?
        .into();
    let port_now = |comment: &str| {
        let call = on(Call::new(Op::Getsockname), &s).comment(comment);
        calls
            .run(
                call,
                || s.local_addr(),
                |&a| Returned {
                    value: Some(0),
                    local: Some(a),
                    ..Returned::default()
                },
            )
            .map_or(0, |a| a.port())
    };
    let before = port_now("no port yet, and no row in the socket table");
    sendto(&calls, &s, b"hello", target, None)?;
    let after = port_now("the kernel picked a port at sendto() (an implicit bind)");
    let ss = ctx.calls.named("ss".into());
    let rows = crate::lab::sockstate::by_local_port(after);
    for r in &rows {
        ss.say(&format!("after sendto(): {r}"));
    }
    ctx.check(
        "a UDP socket gets its port at its first sendto(), not before",
        before == 0 && after != 0 && rows.iter().any(|r| r.proto == "udp" && r.owner.is_some()),
        format!("port {before} before, {after} after"),
    );
    let timed_out = recv_times_out(&calls, &s)?;
    ctx.check(
        "an unconnected socket never hears of the error: recvfrom just times out",
        timed_out,
        "",
    );
    ctx.step("connected UDP socket: connect(), send(), then send() again")?;
    let refused = connected_send_refused(&calls, target)?;
    ctx.check(
        "the connected socket's next call fails with ECONNREFUSED",
        refused,
        "",
    );
    Ok(())
}

pub fn udp_no_server_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let datagrams = rows.iter().filter(|r| r.udp).count();
    let unreachable = rows.iter().filter(|r| r.icmp == Some((3, 3))).count();
    vec![
        packet_check(
            "the datagrams go out anyway (no handshake)",
            datagrams >= 2,
            format!("{datagrams} datagrams"),
        ),
        packet_check(
            "each is answered by ICMP port unreachable (3/3)",
            unreachable >= 2
                && rows
                    .iter()
                    .any(|r| r.shows(|e| matches!(e, Event::PortUnreachable { answers: Some(_) }))),
            format!("{unreachable} ICMP errors"),
        ),
    ]
}

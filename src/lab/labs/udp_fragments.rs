//! The `udp-fragments` lab: a UDP datagram larger than the link's MTU, on a
//! real link (a veth pair into a private network namespace; loopback's MTU
//! is 65536 and would never cut it).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::call::{Call, Op};
use crate::lab::kit::{list, recvfrom, sendto, udp_bound};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::{ok, on};
use crate::track::event::Event;

/// The datagram: more than the link's 1500 bytes.
const SIZE: usize = 4000;

pub fn udp_fragments(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let Some(veth) = ctx.veth.clone() else {
        bail!("this lab runs on a private network of its own (a namespace and a veth pair): run it captured, as root");
    };
    let port = ctx.port(0);
    let server_addr = SocketAddr::from((veth.peer_addr, port));
    ctx.step(&format!(
        "a UDP server at {server_addr}, in a private network behind a link with MTU 1500"
    ))?;
    let server_calls = ctx.calls.named("server".into());
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let inside = Arc::clone(&veth);
    // The server's thread enters the namespace; its socket lives there.
    let server = std::thread::spawn(move || -> anyhow::Result<Vec<usize>> {
        inside
            .enter()
            .context("cannot enter the lab's network namespace")?;
        let s = udp_bound(&server_calls, server_addr)?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let _ = ready_tx.send(());
        let (data, _) = recvfrom(&server_calls, &s, 65_536)?;
        Ok(vec![data.len()])
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .context("the lab's server did not start")?;
    let calls = ctx.calls.named("client".into());
    let client = udp_bound(&calls, SocketAddr::from((veth.host_addr, 0)))?;
    let data: Vec<u8> = (0..SIZE).map(|i| b'a' + (i % 26) as u8).collect();
    ctx.step(&format!(
        "sendto() {SIZE} bytes: more than the 1500-byte MTU, so the kernel cuts the IP datagram"
    ))?;
    sendto(&calls, &client, &data, server_addr, None)?;
    let received = server
        .join()
        .map_err(|_| anyhow::anyhow!("the lab's server thread failed"))??;
    ctx.check(
        "the server's one recvfrom() returns all the bytes: the receiving kernel put the fragments back together",
        received == [SIZE],
        format!("{} bytes", list(&received)),
    );
    ctx.step("the same sendto() with IP_MTU_DISCOVER = IP_PMTUDISC_DO: the don't-fragment bit")?;
    let call = on(Call::new(Op::Setsockopt), &client).option("IP_MTU_DISCOVER", "IP_PMTUDISC_DO");
    calls.run(call, || dont_fragment(&client), ok)?;
    let refused = sendto(&calls, &client, &data, server_addr, None);
    let errno = refused.as_ref().err().and_then(|e| e.errno);
    ctx.check(
        "with don't-fragment, sendto() fails at once with EMSGSIZE: a datagram may not be cut, and this one does not fit",
        errno == Some(libc::EMSGSIZE),
        errno.map_or("it was sent".to_string(), |e| crate::sockets::errno_name(e).to_string()),
    );
    Ok(())
}

/// setsockopt(IP_MTU_DISCOVER, IP_PMTUDISC_DO): no crate wraps it.
fn dont_fragment(socket: &std::net::UdpSocket) -> std::io::Result<()> {
    let value: libc::c_int = libc::IP_PMTUDISC_DO;
    // SAFETY: a valid socket, a pointer to an int that lives across the call
    // and its size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn udp_fragments_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let whole: Vec<(u16, u32, u32)> = rows
        .iter()
        .filter(|r| r.udp)
        .filter_map(|r| {
            r.events.iter().find_map(|e| match e {
                Event::Reassembled { fragments, len, .. } => Some((*fragments, *len, r.len)),
                _ => None,
            })
        })
        .collect();
    let datagrams = rows.iter().filter(|r| r.udp).count();
    vec![
        packet_check(
            "the datagram crossed the link as 3 IP fragments (1480 bytes of it in each full one), put back together at the last",
            whole.iter().any(|&(fragments, _, _)| fragments == 3),
            list(
                &whole
                    .iter()
                    .map(|(fragments, len, payload)| {
                        format!("{fragments} fragments, {len} bytes of IP payload, {payload} of UDP payload")
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        packet_check(
            "reassembled, it is one UDP datagram of 4000 bytes (4008 with its UDP header)",
            whole.iter().any(|&(_, len, payload)| len == SIZE as u32 + 8 && payload == SIZE as u32),
            "",
        ),
        packet_check(
            "the don't-fragment sendto() put nothing on the wire",
            datagrams == 1,
            format!("{datagrams} UDP datagram(s) captured"),
        ),
    ]
}

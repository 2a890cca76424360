//! The JSON form of a socket call (`kind:"call"`), a lab's step
//! (`kind:"step"`) and a program's note (`kind:"note"`); docs/json-schema.md
//! lists the fields. Bytes are shown escaped, as packet payloads are.

use std::borrow::Cow;
use std::net::SocketAddr;

use serde::Serialize;

use crate::call::{Bytes, Call, ChildKind, KernelLine, Line, Op, Outcome, SocketKind};
use crate::kernel::{KernelEvent, ResetReason};
use crate::render::escape::{escape_text, preview};
use crate::render::explain::call_text;
use crate::track::state::TcpState;

/// How many characters of a call's bytes JSON shows.
const SHOWN_CHARS: usize = 200;

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LineJson<'l> {
    Call(Box<CallJson<'l>>),
    Kernel(Box<KernelJson>),
    Step {
        ts_ns: i64,
        text: Cow<'l, str>,
    },
    Note {
        ts_ns: i64,
        actor: Cow<'l, str>,
        text: Cow<'l, str>,
    },
}

impl<'l> LineJson<'l> {
    pub fn new(line: &'l Line) -> LineJson<'l> {
        match line {
            Line::Call(call) => LineJson::Call(Box::new(CallJson::new(call))),
            Line::Kernel(k) => LineJson::Kernel(Box::new(KernelJson::new(k))),
            Line::Step { ts_ns, text } => LineJson::Step {
                ts_ns: *ts_ns,
                text: escape_text(text),
            },
            Line::Note { ts_ns, actor, text } => LineJson::Note {
                ts_ns: *ts_ns,
                actor: escape_text(actor),
                text: escape_text(text),
            },
        }
    }
}

/// `kind:"kernel"`: an event of the kernel's own record.
#[derive(Serialize)]
pub struct KernelJson {
    ts_ns: i64,
    event: &'static str,
    local: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_state: Option<TcpState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_state: Option<TcpState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<TcpState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket: Option<SocketKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<&'static str>,
    /// `state`: what the packets so far say of this socket, and whether
    /// the kernel agrees (after normalising its TIME-WAIT report).
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<crate::kernel::ProbeFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inferred_state: Option<TcpState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agrees: Option<bool>,
    text: String,
}

impl KernelJson {
    fn new(k: &KernelLine) -> KernelJson {
        let (local, remote) = k.event.ends();
        let mut j = KernelJson {
            ts_ns: k.ts_ns,
            event: k.event.code(),
            local,
            remote,
            old_state: None,
            new_state: None,
            state: None,
            reason: None,
            errno: None,
            socket: Some(SocketKind::Tcp),
            frame: k.frame,
            conn: k.conn,
            side: k.client_side.map(|c| if c { "client" } else { "server" }),
            probe: None,
            inferred_state: k.inferred,
            agrees: k.inferred.zip(k.kernel_view).map(|(i, v)| i == v),
            text: crate::render::explain::kernel_text(k),
        };
        match &k.event {
            KernelEvent::State { old, new, .. } => {
                j.old_state = Some(*old);
                j.new_state = Some(*new);
            }
            KernelEvent::SentReset { state, reason, .. } => {
                j.state = *state;
                j.reason = reason.map(ResetReason::code);
            }
            KernelEvent::Retransmit { state, .. } => j.state = *state,
            KernelEvent::SocketError { errno, udp, .. } => {
                j.errno = Some(crate::sockets::errno_name(*errno));
                if *udp {
                    j.socket = Some(SocketKind::Udp);
                }
            }
            KernelEvent::Probe { figures, .. } => j.probe = Some(*figures),
            KernelEvent::ReceivedReset { .. } | KernelEvent::SynAckRetransmit { .. } => {}
        }
        j
    }
}

#[derive(Serialize)]
pub struct CallJson<'c> {
    ts_ns: i64,
    actor: Cow<'c, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    op: Op,
    #[serde(skip_serializing_if = "Option::is_none")]
    fd: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    socket: Option<SocketKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<SocketAddr>,
    args: ArgsJson<'c>,
    /// What it returned, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ResultJson<'c>>,
    /// The errno's name and the system's text, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    errno: Option<&'c str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'c str>,
    /// Interrupted by a signal (the errno strace showed, ERESTARTSYS).
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<&'c str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    process_ended: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<Cow<'c, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eof_since_ns: Option<i64>,
    /// The call as the timeline shows it.
    text: String,
}

#[derive(Serialize)]
struct ArgsJson<'c> {
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    nonblocking: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<BytesJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backlog: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    how: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    option: Option<Cow<'c, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Cow<'c, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Cow<'c, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Cow<'c, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<&'c str>,
}

#[derive(Serialize)]
struct ResultJson<'c> {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fd: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<BytesJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    datagram_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    child_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    child_kind: Option<ChildKind>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    addrs: &'c [SocketAddr],
    #[serde(skip_serializing_if = "Option::is_none")]
    from_sends: Option<u32>,
}

/// Bytes a call moved: `len` is the count, `shown` the escaped text of
/// what was seen (the start of a character cut at the end is in `cut`, as
/// hex, and comes with the next call).
#[derive(Serialize)]
struct BytesJson {
    len: u64,
    shown: String,
    #[serde(skip_serializing_if = "is_zero")]
    carried_in: u8,
    #[serde(skip_serializing_if = "String::is_empty")]
    cut: String,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl BytesJson {
    fn new(b: &Bytes) -> BytesJson {
        BytesJson {
            len: b.total,
            shown: preview(&[], &b.shown, SHOWN_CHARS),
            carried_in: b.carried_in,
            cut: b
                .cut
                .as_slice()
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl<'c> CallJson<'c> {
    pub fn new(call: &'c Call) -> CallJson<'c> {
        let a = &call.args;
        let mut j = CallJson {
            ts_ns: call.ts_ns,
            actor: escape_text(&call.actor),
            pid: call.pid,
            op: call.op,
            fd: call.fd,
            socket: call.socket,
            local: call.local,
            remote: call.remote,
            args: ArgsJson {
                family: a.family,
                kind: a.kind,
                nonblocking: a.nonblocking,
                addr: a.addr,
                data: a.data.as_ref().map(BytesJson::new),
                size: a.size,
                backlog: a.backlog,
                how: a.how,
                option: a.option.as_ref().map(|(n, _)| escape_text(n)),
                value: a.option.as_ref().map(|(_, v)| escape_text(v)),
                host: a.host.as_ref().map(|(h, _)| escape_text(h)),
                port: a.host.as_ref().map(|&(_, p)| p),
                command: a.command.as_deref().map(escape_text),
                exit_status: a.exit_status,
                signal: a.signal.as_deref(),
            },
            result: None,
            errno: None,
            error: None,
            interrupted: None,
            process_ended: false,
            comment: call.comment.as_deref().map(escape_text),
            eof_since_ns: call.eof_since_ns,
            text: escape_text(&call_text(call)).into_owned(),
        };
        match &call.outcome {
            Outcome::Ok(r) => {
                j.result = Some(ResultJson {
                    value: r.value,
                    fd: r.fd,
                    peer: r.peer,
                    local: r.local,
                    data: r.data.as_ref().map(BytesJson::new),
                    datagram_len: r.datagram_len,
                    child_pid: r.child.map(|c| c.pid),
                    child_kind: r.child.map(|c| c.kind),
                    addrs: &r.addrs,
                    from_sends: r.from_sends,
                })
            }
            Outcome::Error { errno, text } => {
                j.errno = Some(errno);
                j.error = Some(text);
            }
            Outcome::Interrupted { errno } => j.interrupted = Some(errno),
            Outcome::ProcessEnded => j.process_ended = true,
        }
        j
    }
}

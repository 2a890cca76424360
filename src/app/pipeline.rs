//! The pipeline: source -> decode -> track -> render, one packet at a time.

use std::io::{self};
use std::time::Duration;

use anyhow::bail;

use crate::capture::filter::FrameFilter;
use crate::capture::link::LinkType;
use crate::capture::{FrameSource, Poll};
use crate::decode::decode;
use crate::render::explain::explain;
use crate::render::progress::Progress;
use crate::render::{Render, RunEnd};
use crate::sockets::CallQueue;
use crate::track::{ListenCheck, Tracker};

/// Run the pipeline to the end of the source. A source error (a damaged
/// file, an interface that went away) still lets the output finish with
/// what was read; the error is returned afterwards.
pub fn pump(source: &mut dyn FrameSource, render: &mut dyn Render) -> anyhow::Result<()> {
    pump_with_calls(source, render, None, None)
}

/// Render socket calls from `calls` that happened up to `until_ns` (all of
/// them for `None`); the tracker hears of each call, to name it as the
/// cause of the packets that follow.
fn drain_calls(
    calls: Option<&CallQueue>,
    until_ns: Option<i64>,
    mut tracker: Option<&mut Tracker>,
    render: &mut dyn Render,
) -> io::Result<()> {
    let Some(queue) = calls else { return Ok(()) };
    // A packet waits (at most 20 ms) for a call that started before it and
    // may have sent it: close() is reported once it returns, and its FIN
    // can reach the capture first.
    if let Some(until) = until_ns {
        while queue.lock().is_ok_and(|q| q.waits_for(until)) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    // With the kernel's events, a live packet waits until events up to its
    // time have had time to arrive (at the end: the last ones).
    let hold = queue.lock().map_or(0, |q| q.hold_ns);
    if hold > 0 {
        let until = until_ns.unwrap_or_else(crate::sockets::now_ns);
        let wait = until.saturating_add(hold) - crate::sockets::now_ns();
        if wait > 0 {
            std::thread::sleep(Duration::from_nanos(wait.unsigned_abs()));
        }
    }
    loop {
        let next = {
            let Ok(mut q) = queue.lock() else {
                return Ok(());
            };
            match q.lines.front() {
                Some(line) if until_ns.is_none_or(|u| line.ts_ns() <= u) => {
                    let mut line = q.lines.pop_front();
                    // A state the kernel left again before the next packet
                    // (LISTEN -> SYN-RECEIVED -> ESTABLISHED on one ACK) is
                    // not held against the packets: only where it settles.
                    if let Some(crate::call::Line::Kernel(k)) = line.as_mut() {
                        let ends = k.event.ends();
                        // The queue is in time order: only lines up to the
                        // next packet are looked at.
                        k.settled = !q
                            .lines
                            .iter()
                            .take_while(|l| until_ns.is_none_or(|u| l.ts_ns() <= u))
                            .take(64)
                            .any(|l| {
                                matches!(l, crate::call::Line::Kernel(n)
                                    if matches!(n.event, crate::kernel::KernelEvent::State { .. })
                                        && n.event.ends() == ends)
                            });
                    }
                    line
                }
                _ => None,
            }
        };
        match next {
            Some(mut line) => {
                match (tracker.as_deref_mut(), &mut line) {
                    (Some(tracker), crate::call::Line::Call(call)) => tracker.call(call),
                    (Some(tracker), crate::call::Line::Kernel(k)) => {
                        tracker.kernel(k);
                        // Traced without a port filter, the kernel reports
                        // every TCP socket on the machine: only those of
                        // the captured conversations are shown.
                        if k.conn.is_none() && queue.lock().is_ok_and(|q| q.kernel_unfiltered) {
                            continue;
                        }
                    }
                    _ => {}
                }
                render.call(&line)?
            }
            None => return Ok(()),
        }
    }
}

/// The pipeline, with socket calls merged in by time when wirelab's own
/// programs run under `--capture`.
pub fn pump_with_calls(
    source: &mut dyn FrameSource,
    render: &mut dyn Render,
    calls: Option<&CallQueue>,
    tap: Option<&mut dyn crate::render::FrameTap>,
) -> anyhow::Result<()> {
    pump_observed(
        source,
        render,
        calls,
        tap,
        &mut Progress::off(),
        &mut Select::default(),
    )
}

/// When the capture is quiet, calls older than this are shown without
/// waiting for a packet.
const QUIET_LAG_NS: i64 = 50_000_000;

/// Which frames go through: a BPF filter and a count, as `tcpdump -r FILE
/// -c N EXPR` takes them.
#[derive(Default)]
pub struct Select {
    pub filter: Option<FrameFilter>,
    pub count: Option<u64>,
}

/// A frame of a link type wirelab cannot decode ends the run: every frame
/// of the file would be undecodable.
pub(super) fn readable(link: LinkType) -> anyhow::Result<()> {
    if !link.is_supported() {
        bail!(
            "unsupported link type {link} (wirelab reads Ethernet, Linux SLL/SLL2, BSD NULL/LOOP and raw IP)"
        );
    }
    Ok(())
}

/// [`pump_with_calls`] with a progress bar and a selection of frames.
/// A file read with nothing merged in (no calls, no filter, no pcapng tap)
/// goes on two threads ([`super::parallel`]); the rest on this one.
pub fn pump_observed(
    source: &mut dyn FrameSource,
    render: &mut dyn Render,
    calls: Option<&CallQueue>,
    mut tap: Option<&mut dyn crate::render::FrameTap>,
    progress: &mut Progress,
    select: &mut Select,
) -> anyhow::Result<()> {
    if calls.is_none() && tap.is_none() && select.filter.is_none() {
        if let Some(file) = source.read_ahead() {
            return super::parallel::pump(file, render, progress, select.count);
        }
    }
    let mut tracker = Tracker::new();
    // IP fragments are put back together; the datagram is decoded at the
    // fragment that completes it.
    let mut reassembler = crate::decode::defrag::Reassembler::new();
    if source.is_live() {
        tracker.set_listening(ListenCheck(Box::new(crate::lab::sockstate::is_listening)));
    }
    // The pcapng tap writes explanations as packet comments.
    tracker.set_explain(render.wants_notes() || tap.is_some());
    let mut source_error = None;
    let mut taken = 0u64;
    loop {
        if select.count.is_some_and(|n| taken >= n) {
            break; // -c N: stop reading (a stream on stdin may never end)
        }
        let frame = match source.poll_frame() {
            Ok(Poll::Frame(frame)) => frame,
            Ok(Poll::End) => break,
            Ok(Poll::Idle) => {
                // A quiet moment: show the calls made until a little while
                // ago (the packets they sent, if any, have been read by now).
                let until = crate::time::before(crate::sockets::now_ns(), QUIET_LAG_NS);
                drain_calls(calls, Some(until), Some(&mut tracker), render)?;
                continue;
            }
            Err(e) => {
                source_error = Some(e);
                break;
            }
        };
        readable(frame.link)?;
        if let Some(filter) = select.filter.as_mut() {
            if !filter.keeps(&frame)? {
                continue;
            }
        }
        taken += 1;
        let packet = reassembler.feed(decode(&frame));
        drain_calls(calls, Some(packet.ts_ns), Some(&mut tracker), render)?;
        let mut row = tracker.track(&packet);
        if tracker.explains() {
            explain(&mut row);
        }
        if let Some(tap) = tap.as_deref_mut() {
            tap.frame(&frame, &row)?;
        }
        render.packet(&row)?;
        tracker.recycle(&mut row);
        progress.tick(tracker.stats().packets, source.position());
        for summary in tracker.finished().drain(..) {
            render.conn(&summary)?;
        }
    }
    progress.finish();
    drain_calls(calls, None, Some(&mut tracker), render)?;
    for summary in tracker.finish() {
        render.conn(&summary)?;
    }
    render.finish(&RunEnd {
        stats: tracker.stats(),
        drops: source.drop_counters(),
    })?;
    match source_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

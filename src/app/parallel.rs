//! Replaying a capture file on two cores.
//!
//! A file needs no row shown the moment its packet arrives, so the work is
//! split: a reader thread reads, decodes and tracks (the stages that keep
//! state from packet to packet), and the calling thread explains and
//! renders. Rows cross in batches, in order, with the bytes they show
//! (headers and payload) copied beside them; emptied batches go back to be
//! filled again, so nothing is allocated per packet. The renderer sees the
//! same calls in the same order as [`super::pipeline::pump_observed`] makes
//! them on one thread, so the output is byte for byte the same.
//!
//! Live captures, streams, traced calls, BPF filters and the pcapng export
//! stay on one thread (the pipeline decides): their rows are shown as
//! packets arrive, or they need the frame itself.

use std::ops::Range;
use std::sync::mpsc;

use crate::capture::{FrameSource, Poll};
use crate::decode::{decode, Packet};
use crate::render::explain::explain;
use crate::render::progress::Progress;
use crate::render::{Render, RunEnd};
use crate::timeline::{ConnRef, ConnSummary, PacketRow, Utf8Carry};
use crate::track::event::Event;
use crate::track::state::TcpState;
use crate::track::{Tracker, TrackerStats};

/// Packets per batch: enough that handing a batch over costs nothing per
/// packet, few enough that the batches in flight stay small (a batch of
/// loopback echo packets is about 700 KB).
const BATCH_PACKETS: usize = 2048;
/// Batches between the threads: the reader may run this far ahead.
const IN_FLIGHT: usize = 4;

/// A tracked packet without its borrows: the bytes it shows are in its
/// batch, its events in the batch's list.
struct Tracked {
    /// `payload` and `headers` are empty here; `payload` and `headers` below
    /// say where their bytes are in [`Batch::bytes`].
    packet: Packet<'static>,
    payload: Range<usize>,
    headers: Range<usize>,
    events: Range<usize>,
    conn: Option<ConnRef>,
    rel_seq: Option<u32>,
    rel_ack: Option<u32>,
    window_scale: Option<u8>,
    states: Option<[TcpState; 2]>,
    carry_in: Utf8Carry,
}

/// What the renderer is handed, in the order the pipeline made it.
enum Item {
    Packet(Tracked),
    Conn(ConnSummary),
}

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    bytes: Vec<u8>,
    events: Vec<Event>,
    /// Packets tracked so far and where the reader is in the file, after
    /// this batch (for the progress bar).
    packets: u64,
    position: Option<(u64, u64)>,
}

impl Batch {
    fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
        self.events.clear();
    }

    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    fn push_row(&mut self, row: &PacketRow<'_, '_>) {
        let headers = self.keep(row.packet.headers);
        let payload = self.keep(row.packet.payload);
        let start = self.events.len();
        self.events.extend_from_slice(&row.events);
        self.items.push(Item::Packet(Tracked {
            packet: row.packet.detached(),
            payload,
            headers,
            events: start..self.events.len(),
            conn: row.conn,
            rel_seq: row.rel_seq,
            rel_ack: row.rel_ack,
            window_scale: row.window_scale,
            states: row.states,
            carry_in: row.carry_in,
        }));
    }
}

/// How the reader's side ended.
enum End {
    /// The end of the file, or a read error after which what was read is
    /// still rendered and finished (a damaged file).
    Finished {
        stats: TrackerStats,
        source_error: Option<anyhow::Error>,
    },
    /// Nothing more may be rendered (a link type wirelab cannot read).
    Failed(anyhow::Error),
}

/// Read, decode and track `source` to its end (or `count` frames), sending
/// batches to `out` and taking emptied ones back from `back`.
fn read_and_track(
    source: &mut (dyn FrameSource + Send),
    count: Option<u64>,
    out: &mpsc::SyncSender<Batch>,
    back: &mpsc::Receiver<Batch>,
) -> End {
    let mut tracker = Tracker::new();
    let mut reassembler = crate::decode::defrag::Reassembler::new();
    let mut batch = Batch::default();
    let mut taken = 0u64;
    let mut source_error = None;
    // The renderer hung up (its output failed): it has its error to report.
    let hung_up = || End::Finished {
        stats: TrackerStats::default(),
        source_error: None,
    };
    loop {
        if count.is_some_and(|n| taken >= n) {
            break;
        }
        let frame = match source.poll_frame() {
            Ok(Poll::Frame(frame)) => frame,
            Ok(Poll::End) => break,
            // Only live captures are idle; a file is not.
            Ok(Poll::Idle) => continue,
            Err(e) => {
                source_error = Some(e);
                break;
            }
        };
        if let Err(e) = super::pipeline::readable(frame.link) {
            if out.send(batch).is_err() {
                return hung_up();
            }
            return End::Failed(e);
        }
        taken += 1;
        let packet = reassembler.feed(decode(&frame));
        let row = tracker.track(&packet);
        batch.push_row(&row);
        tracker.recycle(row);
        batch.items.extend(tracker.drain_finished().map(Item::Conn));
        if batch.items.len() >= BATCH_PACKETS {
            batch.packets = tracker.stats().packets;
            batch.position = source.position();
            let next = back.try_recv().unwrap_or_default();
            if out.send(std::mem::replace(&mut batch, next)).is_err() {
                return hung_up();
            }
        }
    }
    batch
        .items
        .extend(tracker.finish().into_iter().map(Item::Conn));
    batch.packets = tracker.stats().packets;
    batch.position = source.position();
    if out.send(batch).is_err() {
        return hung_up();
    }
    End::Finished {
        stats: tracker.stats(),
        source_error,
    }
}

/// The pipeline of [`super::pipeline::pump_observed`] for a file, on two
/// threads (see the module's comment).
pub(super) fn pump(
    source: &mut (dyn FrameSource + Send),
    render: &mut dyn Render,
    progress: &mut Progress,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let (to_render, batches) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (give_back, emptied) = mpsc::channel::<Batch>();
    let explains = render.wants_notes();
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("wirelab-read".into())
            .spawn_scoped(scope, move || {
                read_and_track(source, count, &to_render, &emptied)
            })?;
        // The explanation and the events of the row being rendered; their
        // buffers are reused from row to row.
        let mut note = String::new();
        let mut events = Vec::new();
        let rendered = (|| -> anyhow::Result<()> {
            // The reader's sender is dropped when it returns: the end.
            for mut batch in batches.iter() {
                for item in batch.items.drain(..) {
                    match item {
                        Item::Packet(t) => {
                            let mut packet: Packet<'_> = t.packet;
                            packet.payload = batch.bytes.get(t.payload).unwrap_or_default();
                            packet.headers = batch.bytes.get(t.headers).unwrap_or_default();
                            events.clear();
                            events
                                .extend_from_slice(batch.events.get(t.events).unwrap_or_default());
                            note.clear();
                            let mut row = PacketRow {
                                packet: &packet,
                                conn: t.conn,
                                rel_seq: t.rel_seq,
                                rel_ack: t.rel_ack,
                                window_scale: t.window_scale,
                                states: t.states,
                                carry_in: t.carry_in,
                                events: std::mem::take(&mut events),
                                note: std::mem::take(&mut note),
                            };
                            if explains {
                                explain(&mut row);
                            }
                            render.packet(&row)?;
                            events = row.events;
                            note = row.note;
                        }
                        Item::Conn(summary) => render.conn(&summary)?,
                    }
                }
                progress.tick(batch.packets, batch.position);
                batch.clear();
                // The reader may have finished: then the batch is dropped.
                let _ = give_back.send(batch);
            }
            Ok(())
        })();
        // On an error the reader is told to stop by the closed channel.
        drop(batches);
        let end = reader
            .join()
            .unwrap_or_else(|_| End::Failed(anyhow::anyhow!("the reader thread panicked")));
        rendered?;
        progress.finish();
        match end {
            End::Failed(e) => Err(e),
            End::Finished {
                stats,
                source_error,
            } => {
                render.finish(&RunEnd { stats, drops: None })?;
                match source_error {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        }
    })
}

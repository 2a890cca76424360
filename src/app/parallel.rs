//! Replaying a capture file on two cores.
//!
//! A file needs no row shown the moment its packet arrives, so the work is
//! split between a reader thread and the calling thread, at one of two
//! places ([`Cut`]): with rows to render, the reader reads, decodes and
//! tracks (the stages that keep state from packet to packet) and the
//! calling thread explains and renders; with `--summary`, the reader reads
//! and decodes and the calling thread tracks. Packets cross in batches, in
//! order, with the bytes they show (headers and payload) copied beside
//! them; emptied batches go back to be filled again, so nothing is
//! allocated per packet. The renderer sees the same calls in the same
//! order as [`super::pipeline::pump_observed`] makes them on one thread,
//! so the output is byte for byte the same.
//!
//! The two threads share the work as it comes, batch by batch, so that
//! neither waits for the other:
//! - a packet crosses either decoded or as its frame, which the calling
//!   thread decodes again (decoding is a function of the frame alone): the
//!   frame when the calling thread is waiting for work, so the reader spends
//!   nothing on copying a decoded packet; decoded when it is behind
//!   ([`Carried`]);
//! - when the calling thread is behind, the reader also explains and writes
//!   whole batches of rows itself, with the renderer's row writer
//!   ([`crate::render::RowWriter`]: JSON and plain text rows need nothing
//!   from the rows before them but the first packet's time), and the
//!   calling thread passes the written rows on in their place.
//!
//! Live captures, streams, traced calls, BPF filters and the pcapng export
//! stay on one thread (the pipeline decides): their rows are shown as
//! packets arrive, or they need the frame itself.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::capture::link::LinkType;
use crate::capture::{FrameSource, Poll, RawFrame};
use crate::decode::{decode, Packet};
use crate::render::explain::explain;
use crate::render::progress::Progress;
use crate::render::{Render, RowWriter, RunEnd};
use crate::timeline::{ConnRef, ConnSummary, PacketRow, Utf8Carry};
use crate::track::event::Event;
use crate::track::state::TcpState;
use crate::track::{Tracker, TrackerStats};

/// Where the work is split between the two threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The reader tracks as well; the calling thread explains and renders.
    AfterTracking,
    /// The calling thread tracks: `--summary` renders no rows, and
    /// tracking is then the larger half.
    AfterDecoding,
}

/// Packets per batch: enough that handing a batch over costs nothing per
/// packet, few enough that a batch stays in the cache between the threads
/// (256 loopback echo packets are about 100 KB; 2048 were slower).
const BATCH_PACKETS: usize = 256;
/// Batches between the threads: the reader may run this far ahead (16 were
/// no faster and held more memory).
const IN_FLIGHT: usize = 8;
/// The reader writes rows itself from this many batches waiting to be
/// rendered, until no more than [`WRITE_UNTIL`] wait.
const WRITE_FROM: u64 = 4;
const WRITE_UNTIL: u64 = 2;

/// Where some bytes are in [`Batch::bytes`] (32-bit: a batch holds far
/// less than 4 GiB, and every packet's slot is smaller for it).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn of(self, bytes: &[u8]) -> &[u8] {
        let start = self.start as usize;
        bytes
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

/// How a packet crosses to the calling thread.
enum Carried {
    /// Decoded: the packet is the next of [`Batch::packets`], its
    /// `payload` and `headers` empty there and their bytes here. Always so
    /// for a datagram put back together from fragments: its last
    /// fragment's frame alone does not give it.
    Decoded { payload: Span, headers: Span },
    /// The frame, to be decoded again by the calling thread when it has
    /// time to spare.
    Frame {
        index: u64,
        ts_ns: i64,
        link: LinkType,
        orig_len: u32,
        data: Span,
    },
}

/// A packet and what tracking found, without borrows. Before tracking
/// ([`Cut::AfterDecoding`]) the row's fields are empty. Kept small (the
/// packet itself and the conversation summaries are in side lists): every
/// move of a slot copies all of it.
struct Tracked {
    carried: Carried,
    /// Where the row's events are in [`Batch::events`].
    events: Range<u32>,
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
    /// A row the reader wrote, in [`Batch::bytes`].
    Written {
        ts_ns: i64,
        row: Span,
    },
    /// The next of [`Batch::conns`].
    Conn,
}

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    bytes: Vec<u8>,
    events: Vec<Event>,
    packets: Vec<Packet<'static>>,
    conns: Vec<ConnSummary>,
    /// Packets tracked so far and where the reader is in the file, after
    /// this batch (for the progress bar).
    packets_read: u64,
    position: Option<(u64, u64)>,
}

impl Batch {
    /// Empty, for reuse. A batch that carried a burst (the tracker evicts
    /// half its table at once when it is full: 10,000 summaries in one
    /// batch) gives back what the burst took: kept in every batch that once
    /// carried one, that was 80 MB on a SYN flood (tests/memory.rs).
    fn clear(&mut self) {
        fn reset<T>(v: &mut Vec<T>, keep: usize) {
            if v.capacity() > keep {
                *v = Vec::new();
            } else {
                v.clear();
            }
        }
        reset(&mut self.items, 4 * BATCH_PACKETS);
        reset(&mut self.bytes, 1 << 20);
        reset(&mut self.events, 4 * BATCH_PACKETS);
        reset(&mut self.packets, BATCH_PACKETS);
        reset(&mut self.conns, BATCH_PACKETS);
    }

    fn keep(&mut self, bytes: &[u8]) -> Span {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len() as u32,
        }
    }

    /// How `packet`, decoded from `frame`, crosses: as the frame when
    /// `as_frame` and decoding the frame again gives the packet.
    fn carry(&mut self, frame: &RawFrame<'_>, packet: &Packet<'_>, as_frame: bool) -> Carried {
        let whole =
            packet.reassembled.is_none() && packet.ip.is_none_or(|ip| ip.fragment.is_none());
        if as_frame && whole {
            Carried::Frame {
                index: frame.index,
                ts_ns: frame.ts_ns,
                link: frame.link,
                orig_len: frame.orig_len,
                data: self.keep(frame.data),
            }
        } else {
            self.packets.push(packet.detached());
            Carried::Decoded {
                headers: self.keep(packet.headers),
                payload: self.keep(packet.payload),
            }
        }
    }

    fn push_row(&mut self, carried: Carried, row: &PacketRow<'_, '_>) {
        let start = self.events.len() as u32;
        self.events.extend_from_slice(&row.events);
        self.items.push(Item::Packet(Tracked {
            carried,
            events: start..self.events.len() as u32,
            conn: row.conn,
            rel_seq: row.rel_seq,
            rel_ack: row.rel_ack,
            window_scale: row.window_scale,
            states: row.states,
            carry_in: row.carry_in,
        }));
    }

    /// A packet not tracked yet ([`Cut::AfterDecoding`]).
    fn push_packet(&mut self, carried: Carried) {
        self.items.push(Item::Packet(Tracked {
            carried,
            events: 0..0,
            conn: None,
            rel_seq: None,
            rel_ack: None,
            window_scale: None,
            states: None,
            carry_in: Utf8Carry::default(),
        }));
    }

    /// The conversations that ended, moved from `ended` (left empty) in
    /// one piece.
    fn push_conns(&mut self, ended: &mut Vec<ConnSummary>) {
        for _ in 0..ended.len() {
            self.items.push(Item::Conn);
        }
        self.conns.append(ended);
    }
}

/// How the threads share the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Share {
    /// As it comes (see the module's comment).
    Adaptive,
    /// One way throughout, for the tests: each way must give the same output.
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed { as_frames: bool, write_rows: bool },
}

/// What the reader does.
struct Plan {
    /// Frames to take (`-c N`), all if `None`.
    count: Option<u64>,
    cut: Cut,
    share: Share,
    /// The renderer's row writer, if it lends one.
    writer: Option<Box<dyn RowWriter>>,
}

/// The reader's ends of the channels between the threads.
struct Link<'a> {
    /// Filled batches, to the calling thread.
    out: &'a mpsc::SyncSender<Batch>,
    /// Emptied batches, back.
    back: &'a mpsc::Receiver<Batch>,
    /// Batches the calling thread has rendered.
    rendered: &'a AtomicU64,
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

/// Read, decode (and with [`Cut::AfterTracking`] track) `source` to its
/// end or `count` frames, sending batches to `out` and taking emptied ones
/// back from `back`.
fn read(source: &mut (dyn FrameSource + Send), plan: Plan, link: Link<'_>) -> End {
    let Plan {
        count,
        cut,
        share,
        mut writer,
    } = plan;
    let Link {
        out,
        back,
        rendered,
    } = link;
    let mut tracker = Tracker::new();
    let mut reassembler = crate::decode::defrag::Reassembler::new();
    let mut batch = Batch::default();
    let mut taken = 0u64;
    let mut sent = 0u64;
    // Frames while the calling thread keeps up (at most one batch waits);
    // rows written here while it does not.
    let (mut as_frames, mut write_rows) = match share {
        Share::Adaptive => (true, false),
        Share::Fixed {
            as_frames,
            write_rows,
        } => (as_frames, write_rows),
    };
    let mut first_ns = None;
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
        let first_ns = *first_ns.get_or_insert(frame.ts_ns);
        let packet = reassembler.feed(decode(&frame));
        match (cut, writer.as_mut()) {
            (Cut::AfterTracking, Some(writer)) if write_rows => {
                let mut row = tracker.track(&packet);
                explain(&mut row);
                let start = batch.bytes.len();
                if let Err(e) = writer.write_row(&row, first_ns, &mut batch.bytes) {
                    return End::Failed(e.into());
                }
                let row_bytes = Span {
                    start: start as u32,
                    len: (batch.bytes.len() - start) as u32,
                };
                batch.items.push(Item::Written {
                    ts_ns: packet.ts_ns,
                    row: row_bytes,
                });
                tracker.recycle(row);
                batch.push_conns(tracker.finished());
            }
            (Cut::AfterTracking, _) => {
                let carried = batch.carry(&frame, &packet, as_frames);
                let row = tracker.track(&packet);
                batch.push_row(carried, &row);
                tracker.recycle(row);
                batch.push_conns(tracker.finished());
            }
            (Cut::AfterDecoding, _) => {
                let carried = batch.carry(&frame, &packet, as_frames);
                batch.push_packet(carried);
            }
        }
        if batch.items.len() >= BATCH_PACKETS {
            batch.packets_read = taken;
            batch.position = source.position();
            let next = back.try_recv().unwrap_or_default();
            if out.send(std::mem::replace(&mut batch, next)).is_err() {
                return hung_up();
            }
            sent += 1;
            // Batches sent and not yet rendered. The calling thread is kept
            // supplied: rows are written here only while several batches wait
            // (with hysteresis, so the share settles rather than flips).
            if share == Share::Adaptive {
                let waiting = sent.saturating_sub(rendered.load(Ordering::Relaxed));
                as_frames = waiting <= 1;
                write_rows = match write_rows {
                    false => waiting >= WRITE_FROM,
                    true => waiting > WRITE_UNTIL,
                };
            }
        }
    }
    if cut == Cut::AfterTracking {
        batch.push_conns(&mut tracker.finish());
    }
    batch.packets_read = taken;
    batch.position = source.position();
    if out.send(batch).is_err() {
        return hung_up();
    }
    End::Finished {
        stats: tracker.stats(),
        source_error,
    }
}

/// Spins before waiting for a batch this many times (about 100 µs): a
/// waiting thread must be woken by the sender, a system call that cost the
/// reader 2-4% of its time when the calling thread was the quicker one.
const SPINS: u32 = 20_000;

/// The next batch, `None` once the reader has finished.
fn next_batch(batches: &mpsc::Receiver<Batch>) -> Option<Batch> {
    for _ in 0..SPINS {
        match batches.try_recv() {
            Ok(batch) => return Some(batch),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Disconnected) => return None,
        }
    }
    batches.recv().ok()
}

/// The pipeline of [`super::pipeline::pump_observed`] for a file, on two
/// threads (see the module's comment).
pub(super) fn pump(
    source: &mut (dyn FrameSource + Send),
    render: &mut dyn Render,
    progress: &mut Progress,
    count: Option<u64>,
) -> anyhow::Result<()> {
    pump_shared(source, render, progress, count, Share::Adaptive)
}

fn pump_shared(
    source: &mut (dyn FrameSource + Send),
    render: &mut dyn Render,
    progress: &mut Progress,
    count: Option<u64>,
    share: Share,
) -> anyhow::Result<()> {
    let explains = render.wants_notes();
    let cut = if explains {
        Cut::AfterTracking
    } else {
        Cut::AfterDecoding
    };
    let (to_render, batches) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (give_back, emptied) = mpsc::channel::<Batch>();
    // Batches rendered so far: how far behind the calling thread is.
    let rendered_batches = AtomicU64::new(0);
    // With Cut::AfterDecoding, this thread's tracker.
    let mut tracker = Tracker::new();
    tracker.set_explain(explains);
    let rendered_batches = &rendered_batches;
    let writer = match cut {
        Cut::AfterTracking => render.row_writer(),
        Cut::AfterDecoding => None,
    };
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("wirelab-read".into())
            .spawn_scoped(scope, move || {
                let plan = Plan {
                    count,
                    cut,
                    share,
                    writer,
                };
                let link = Link {
                    out: &to_render,
                    back: &emptied,
                    rendered: rendered_batches,
                };
                read(source, plan, link)
            })?;
        // The explanation and the events of the row being rendered; their
        // buffers are reused from row to row.
        let mut note = String::new();
        let mut events = Vec::new();
        let rendered = (|| -> anyhow::Result<()> {
            // The reader's sender is dropped when it returns: the end.
            while let Some(mut batch) = next_batch(&batches) {
                // Slots are read in place (a move copied each one).
                let mut conns = batch.conns.iter();
                let mut packets = batch.packets.drain(..);
                for item in &batch.items {
                    let t = match item {
                        Item::Packet(t) => t,
                        Item::Written { ts_ns, row } => {
                            render.packet_written(*ts_ns, row.of(&batch.bytes))?;
                            continue;
                        }
                        Item::Conn => {
                            if let Some(summary) = conns.next() {
                                render.conn(summary)?;
                            }
                            continue;
                        }
                    };
                    let packet: Packet<'_> = match t.carried {
                        Carried::Decoded { payload, headers } => {
                            let Some(mut packet) = packets.next() else {
                                continue;
                            };
                            packet.payload = payload.of(&batch.bytes);
                            packet.headers = headers.of(&batch.bytes);
                            packet
                        }
                        Carried::Frame {
                            index,
                            ts_ns,
                            link,
                            orig_len,
                            data,
                        } => decode(&RawFrame {
                            index,
                            ts_ns,
                            link,
                            orig_len,
                            data: data.of(&batch.bytes),
                        }),
                    };
                    let mut row = match cut {
                        Cut::AfterDecoding => tracker.track(&packet),
                        Cut::AfterTracking => {
                            events.clear();
                            events.extend_from_slice(
                                batch
                                    .events
                                    .get(t.events.start as usize..t.events.end as usize)
                                    .unwrap_or_default(),
                            );
                            note.clear();
                            PacketRow {
                                packet: &packet,
                                conn: t.conn,
                                rel_seq: t.rel_seq,
                                rel_ack: t.rel_ack,
                                window_scale: t.window_scale,
                                states: t.states,
                                carry_in: t.carry_in,
                                events: std::mem::take(&mut events),
                                note: std::mem::take(&mut note),
                            }
                        }
                    };
                    if explains {
                        explain(&mut row);
                    }
                    render.packet(&row)?;
                    match cut {
                        Cut::AfterDecoding => {
                            tracker.recycle(row);
                            for summary in tracker.finished().drain(..) {
                                render.conn(&summary)?;
                            }
                        }
                        Cut::AfterTracking => {
                            events = row.events;
                            note = row.note;
                        }
                    }
                }
                drop(packets);
                progress.tick(batch.packets_read, batch.position);
                rendered_batches.fetch_add(1, Ordering::Relaxed);
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
                let stats = match cut {
                    Cut::AfterTracking => stats,
                    Cut::AfterDecoding => {
                        for summary in tracker.finish() {
                            render.conn(&summary)?;
                        }
                        tracker.stats()
                    }
                };
                render.finish(&RunEnd { stats, drops: None })?;
                match source_error {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{pump_shared, Share};
    use crate::app::pipeline::{pump_observed, Select};
    use crate::capture::file::FileSource;
    use crate::capture::FrameSource;
    use crate::export::json::JsonRender;
    use crate::render::progress::Progress;
    use crate::render::text::TextRender;
    use crate::render::{Render, Verbosity};

    /// `format`'s output for `source`: on two threads shared as `share`,
    /// or (`None`) through the pipeline's entry.
    fn output(mut source: FileSource, format: &str, share: Option<Share>) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut render: Box<dyn Render + '_> = match format {
                "json" => Box::new(JsonRender::new(&mut out, true).batched()),
                "summary" => Box::new(TextRender::new(&mut out, Verbosity::Normal, false)),
                _ => Box::new(TextRender::new(&mut out, Verbosity::Normal, true)),
            };
            let mut progress = Progress::off();
            match share {
                Some(share) => {
                    pump_shared(&mut source, render.as_mut(), &mut progress, None, share)
                }
                None => pump_observed(
                    &mut source,
                    render.as_mut(),
                    None,
                    None,
                    &mut progress,
                    &mut Select::default(),
                ),
            }
            .unwrap();
        }
        out
    }

    #[test]
    fn every_way_of_sharing_the_work_gives_the_same_output_as_one_thread() {
        let echo =
            std::env::temp_dir().join(format!("wirelab-parallel-{}.pcap", std::process::id()));
        // Enough packets for many batches, with conversations ending in each.
        crate::synth::write_capture(
            std::fs::File::create(&echo).unwrap(),
            20_000,
            crate::synth::Kind::Echo,
        )
        .unwrap();
        let fragments = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/built/fragments.pcap");
        for path in [echo.as_path(), fragments.as_path()] {
            for format in ["text", "json", "summary"] {
                // The same bytes as a stream stay on one thread.
                let bytes = std::fs::read(path).unwrap();
                let stream = FileSource::from_reader(
                    Path::new("stream"),
                    std::io::Cursor::new(bytes),
                    0,
                    true,
                )
                .unwrap();
                assert!(stream.is_stream());
                let one = output(stream, format, None);
                assert!(!one.is_empty());
                for share in [
                    Share::Adaptive,
                    Share::Fixed {
                        as_frames: true,
                        write_rows: false,
                    },
                    Share::Fixed {
                        as_frames: false,
                        write_rows: false,
                    },
                    Share::Fixed {
                        as_frames: false,
                        write_rows: true,
                    },
                ] {
                    let mut file = FileSource::open(path).unwrap();
                    assert!(file.sendable().is_some());
                    let two = output(file, format, Some(share));
                    assert!(
                        one == two,
                        "{format} of {} differs with {share:?}",
                        path.display()
                    );
                }
            }
        }
        let _ = std::fs::remove_file(&echo);
    }
}

//! Replaying a capture file on two cores.
//!
//! A file needs no row shown the moment its packet arrives, so the stages
//! are shared between two threads. With rows to render, each packet goes
//! out and back ([`track_on_worker`]):
//! - the calling thread reads and decodes (decoding keeps no state but IP
//!   reassembly's, which is in frame order here);
//! - a worker thread tracks, the stage that keeps state from packet to
//!   packet and the largest one;
//! - the calling thread explains and renders what comes back.
//!
//! Without explanations (`--summary`), tracking is most of the work, and
//! the worker reads and decodes while the calling thread tracks
//! ([`track_here`]).
//!
//! Packets cross in batches, in order, decoded once, with the bytes they
//! show (headers and payload) copied beside them; emptied batches are
//! filled again, so nothing is allocated per packet. The renderer sees the
//! same calls in the same order as [`super::pipeline::pump_observed`] makes
//! them on one thread, so the output is byte for byte the same.
//!
//! With rows to render, the calling thread has the larger share. When it
//! falls behind, the worker also explains and writes whole batches of rows
//! itself, with the renderer's row writer ([`crate::render::RowWriter`]:
//! JSON and plain text rows need nothing from the rows before them but the
//! first packet's time), and the calling thread passes the written rows on
//! in their place.
//!
//! Live captures, streams, traced calls, BPF filters and the pcapng export
//! stay on one thread (the pipeline decides): their rows are shown as
//! packets arrive, or they need the frame itself.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::capture::file::FileSource;
use crate::capture::FrameSource;
use crate::decode::defrag::Reassembler;
use crate::decode::{decode, Packet};
use crate::render::explain::explain;
use crate::render::progress::Progress;
use crate::render::{Render, RowWriter, RunEnd};
use crate::timeline::{ConnRef, ConnSummary, PacketRow, Utf8Carry};
use crate::track::event::Event;
use crate::track::state::TcpState;
use crate::track::{Tracker, TrackerStats};

/// Packets per batch: enough that handing a batch over costs nothing per
/// packet, few enough that a batch stays in the cache between the threads.
/// Measured on the bench's file (text, 5 alternating rounds): 512 took
/// 0.68 s, 256 0.73 s, 1024 0.72 s, 128 0.79 s.
const BATCH_PACKETS: usize = 512;
/// Batches out at once: read ahead of the renderer this far (4 and 16
/// were slower, and 16 held more memory).
const IN_FLIGHT: usize = 8;
/// The worker writes rows itself from this many tracked batches waiting to
/// be rendered, until no more than [`WRITE_UNTIL`] wait.
const WRITE_FROM: u64 = 4;
const WRITE_UNTIL: u64 = 2;

/// Where some bytes are in a batch's byte list (32-bit: a batch holds far
/// less than 4 GiB).
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

/// A decoded packet without borrows: its `payload` and `headers` are
/// empty, and their bytes are in [`Batch::bytes`].
struct Decoded {
    packet: Packet<'static>,
    payload: Span,
    headers: Span,
}

impl Decoded {
    fn view<'b>(&self, bytes: &'b [u8]) -> Packet<'b> {
        Packet {
            payload: self.payload.of(bytes),
            headers: self.headers.of(bytes),
            ..self.packet.clone()
        }
    }
}

/// What tracking found in the next of [`Batch::packets`], without borrows.
struct Tracked {
    /// Where the row's events are in [`Out::events`].
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
    /// A row the worker wrote (for the next of [`Batch::packets`]), in
    /// [`Out::rows`].
    Written(Span),
    /// The next of [`Out::conns`].
    Conn,
}

/// How the frames ended, on the batch that holds the last of them.
enum Last {
    /// The end of the file or of `-c N`, or a read error after which what
    /// was read is still tracked to the end and rendered (a damaged file).
    Finished(Option<anyhow::Error>),
    /// Nothing more may be rendered (a link type wirelab cannot read).
    Failed(anyhow::Error),
}

#[derive(Default)]
struct Batch {
    /// Filled by the calling thread.
    packets: Vec<Decoded>,
    bytes: Vec<u8>,
    /// Frames read so far and where the reader is in the file, after this
    /// batch (for the progress bar).
    packets_read: u64,
    position: Option<(u64, u64)>,
    last: Option<Last>,
    /// Filled by the worker (a field of its own: written while the
    /// packets above are read).
    out: Out,
    /// The tracker's counts, on the last batch.
    stats: Option<TrackerStats>,
}

/// `v` emptied, and its memory given back if a burst had grown it past
/// `keep` items.
fn reset<T>(v: &mut Vec<T>, keep: usize) {
    if v.capacity() > keep {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

impl Batch {
    /// Empty, for reuse, but for the conversation summaries (see
    /// [`Batch::clear_conns`]). A batch that carried a burst (the tracker
    /// evicts half its table at once when it is full: 10,000 summaries in
    /// one batch) gives back what the burst took: kept in every batch that
    /// once carried one, that was 80 MB on a SYN flood (tests/memory.rs).
    fn clear(&mut self) {
        reset(&mut self.packets, BATCH_PACKETS);
        reset(&mut self.bytes, 1 << 20);
        reset(&mut self.out.items, 4 * BATCH_PACKETS);
        reset(&mut self.out.events, 4 * BATCH_PACKETS);
        reset(&mut self.out.rows, 1 << 20);
        self.last = None;
        self.stats = None;
    }

    /// The summaries dropped, by the thread that made them: glibc's malloc
    /// takes a slow path, with a lock, for memory that another thread
    /// allocated (perf: malloc and free were about 5% of a replay when the
    /// calling thread dropped the worker's summaries, 2.5% since).
    fn clear_conns(&mut self) {
        reset(&mut self.out.conns, BATCH_PACKETS);
    }

    fn keep(&mut self, bytes: &[u8]) -> Span {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len() as u32,
        }
    }

    fn push_packet(&mut self, packet: &Packet<'_>) {
        let decoded = Decoded {
            packet: packet.detached(),
            headers: self.keep(packet.headers),
            payload: self.keep(packet.payload),
        };
        self.packets.push(decoded);
    }
}

/// Tracked rows, their events, the rows the worker wrote and the
/// conversations that ended: what the worker adds to a batch.
#[derive(Default)]
struct Out {
    items: Vec<Item>,
    events: Vec<Event>,
    conns: Vec<ConnSummary>,
    rows: Vec<u8>,
}

impl Out {
    fn push_row(&mut self, row: &PacketRow<'_, '_>) {
        let start = self.events.len() as u32;
        self.events.extend_from_slice(&row.events);
        self.items.push(Item::Packet(Tracked {
            events: start..self.events.len() as u32,
            conn: row.conn,
            rel_seq: row.rel_seq,
            rel_ack: row.rel_ack,
            window_scale: row.window_scale,
            states: row.states,
            carry_in: row.carry_in,
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

/// The calling thread's first stage: frames read and decoded into batches.
struct Feed<'s> {
    /// The file itself, not a `dyn FrameSource`: its frames are read
    /// without a virtual call.
    source: &'s mut FileSource,
    /// Frames to take (`-c N`), all if `None`.
    count: Option<u64>,
    taken: u64,
    reassembler: Reassembler,
}

impl Feed<'_> {
    /// Up to a batch of frames, decoded into `batch`; the batch that holds
    /// the last of them says how they ended.
    fn fill(&mut self, batch: &mut Batch) {
        while batch.packets.len() < BATCH_PACKETS {
            if self.count.is_some_and(|n| self.taken >= n) {
                batch.last = Some(Last::Finished(None));
                break;
            }
            // A file is never idle (only live captures are): its frames
            // are taken as they are, not through `poll_frame`.
            let frame = match self.source.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    batch.last = Some(Last::Finished(None));
                    break;
                }
                Err(e) => {
                    batch.last = Some(Last::Finished(Some(e)));
                    break;
                }
            };
            if let Err(e) = super::pipeline::readable(frame.link) {
                batch.last = Some(Last::Failed(e));
                break;
            }
            self.taken += 1;
            let packet = self.reassembler.feed(decode(&frame));
            batch.push_packet(&packet);
        }
        batch.packets_read = self.taken;
        batch.position = self.source.position();
    }
}

/// How the threads share the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Share {
    /// The worker writes rows while the renderer is behind (see the
    /// module's comment).
    Adaptive,
    /// One way throughout, for the tests: each way must give the same output.
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed { write_rows: bool },
}

/// The worker's ends of the channels between the threads.
struct Link<'a> {
    /// Filled batches, from the calling thread.
    input: &'a mpsc::Receiver<Batch>,
    /// Tracked batches, back.
    out: &'a mpsc::Sender<Batch>,
    /// Batches the calling thread has rendered.
    rendered: &'a AtomicU64,
}

/// Track the packets of each batch from `link.input` and send it back,
/// until the batch that holds the last packet (or the calling thread hangs
/// up). With `writer`, rows are explained and written here while the
/// calling thread is behind.
fn work(
    share: Share,
    mut writer: Option<Box<dyn RowWriter>>,
    link: Link<'_>,
) -> anyhow::Result<()> {
    let mut tracker = Tracker::new();
    let mut first_ns = None;
    let mut done = 0u64;
    let mut write_rows = share == Share::Fixed { write_rows: true };
    // The calling thread hung up (its output failed): it has its error.
    while let Some(mut batch) = next_batch(link.input) {
        batch.clear_conns();
        let out = &mut batch.out;
        for decoded in &batch.packets {
            let packet = decoded.view(&batch.bytes);
            let first_ns = *first_ns.get_or_insert(packet.ts_ns);
            let mut row = tracker.track(&packet);
            match writer.as_mut() {
                Some(writer) if write_rows => {
                    explain(&mut row);
                    let start = out.rows.len();
                    writer.write_row(&row, first_ns, &mut out.rows)?;
                    out.items.push(Item::Written(Span {
                        start: start as u32,
                        len: (out.rows.len() - start) as u32,
                    }));
                }
                _ => out.push_row(&row),
            }
            tracker.recycle(&mut row);
            out.push_conns(tracker.finished());
        }
        let last = match batch.last {
            Some(Last::Finished(_)) => {
                out.push_conns(&mut tracker.finish());
                batch.stats = Some(tracker.stats());
                true
            }
            Some(Last::Failed(_)) => true,
            None => false,
        };
        if link.out.send(batch).is_err() || last {
            break;
        }
        done += 1;
        // Batches tracked and not yet rendered. Rows are written here only
        // while several wait (with hysteresis, so the share settles rather
        // than flips).
        if share == Share::Adaptive {
            let waiting = done.saturating_sub(link.rendered.load(Ordering::Relaxed));
            write_rows = match write_rows {
                false => waiting >= WRITE_FROM,
                true => waiting > WRITE_UNTIL,
            };
        }
    }
    Ok(())
}

/// Spins before waiting for a batch this many times (about 100 µs): a
/// waiting thread must be woken by the sender, a system call that cost the
/// other thread 2-4% of its time.
const SPINS: u32 = 20_000;

/// The next batch, `None` once the other side has hung up.
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
    source: &mut FileSource,
    render: &mut dyn Render,
    progress: &mut Progress,
    count: Option<u64>,
) -> anyhow::Result<()> {
    pump_shared(source, render, progress, count, Share::Adaptive)
}

/// How the frames ended, with the tracker's counts.
struct Ended {
    last: Last,
    stats: TrackerStats,
}

fn pump_shared(
    source: &mut FileSource,
    render: &mut dyn Render,
    progress: &mut Progress,
    count: Option<u64>,
    share: Share,
) -> anyhow::Result<()> {
    let feed = Feed {
        source,
        count,
        taken: 0,
        reassembler: Reassembler::new(),
    };
    let ended = if render.wants_notes() {
        track_on_worker(feed, render, progress, share)?
    } else {
        track_here(feed, render, progress)?
    };
    progress.finish();
    match ended.last {
        Last::Failed(e) => Err(e),
        Last::Finished(source_error) => {
            render.finish(&RunEnd {
                stats: ended.stats,
                drops: None,
            })?;
            match source_error {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }
}

/// With rows to render: the calling thread reads, decodes, explains and
/// renders; the worker tracks (and writes rows while the renderer is
/// behind).
fn track_on_worker(
    mut feed: Feed<'_>,
    render: &mut dyn Render,
    progress: &mut Progress,
    share: Share,
) -> anyhow::Result<Ended> {
    let writer = render.row_writer();
    let (to_worker, input) = mpsc::channel::<Batch>();
    let (out, tracked) = mpsc::channel::<Batch>();
    // Batches rendered so far: how far behind the calling thread is.
    let rendered = AtomicU64::new(0);
    let rendered = &rendered;
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("wirelab-track".into())
            .spawn_scoped(scope, move || {
                let link = Link {
                    input: &input,
                    out: &out,
                    rendered,
                };
                work(share, writer, link)
            })?;
        let mut show = Show {
            render,
            note: String::new(),
            events: Vec::new(),
        };
        let ended = (|| -> anyhow::Result<Option<Ended>> {
            let mut spare: Vec<Batch> = Vec::new();
            let mut out_now = 0;
            let mut reading = true;
            loop {
                // The worker is kept supplied: it has up to IN_FLIGHT
                // batches ahead of the one rendered next.
                while reading && out_now < IN_FLIGHT {
                    let mut batch = spare.pop().unwrap_or_default();
                    feed.fill(&mut batch);
                    reading = batch.last.is_none();
                    if to_worker.send(batch).is_err() {
                        return Ok(None);
                    }
                    out_now += 1;
                }
                // None: the worker has returned (an error, reported at its
                // join).
                let Some(mut batch) = next_batch(&tracked) else {
                    return Ok(None);
                };
                out_now -= 1;
                show.batch(&batch)?;
                progress.tick(batch.packets_read, batch.position);
                rendered.fetch_add(1, Ordering::Relaxed);
                if let Some(last) = batch.last.take() {
                    let stats = batch.stats.unwrap_or_default();
                    return Ok(Some(Ended { last, stats }));
                }
                batch.clear();
                spare.push(batch);
            }
        })();
        // On an error the worker is told to stop by the closed channel.
        drop(to_worker);
        drop(tracked);
        let worked = worker
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the tracking thread panicked")));
        let ended = ended?;
        worked?;
        ended.ok_or_else(|| anyhow::anyhow!("the tracking thread stopped early"))
    })
}

/// Without explanations (`--summary`), tracking is the larger share: the
/// worker reads and decodes, the calling thread tracks and renders.
fn track_here(
    mut feed: Feed<'_>,
    render: &mut dyn Render,
    progress: &mut Progress,
) -> anyhow::Result<Ended> {
    let (out, filled) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (give_back, emptied) = mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("wirelab-read".into())
            .spawn_scoped(scope, move || loop {
                let mut batch = emptied.try_recv().unwrap_or_default();
                feed.fill(&mut batch);
                let last = batch.last.is_some();
                // The calling thread hung up (its output failed): it has
                // its error.
                if out.send(batch).is_err() || last {
                    break;
                }
            })?;
        let mut tracker = Tracker::new();
        tracker.set_explain(false);
        let ended = (|| -> anyhow::Result<Ended> {
            while let Some(mut batch) = next_batch(&filled) {
                for decoded in &batch.packets {
                    let packet = decoded.view(&batch.bytes);
                    let mut row = tracker.track(&packet);
                    render.packet(&row)?;
                    tracker.recycle(&mut row);
                    for summary in tracker.finished().drain(..) {
                        render.conn(&summary)?;
                    }
                }
                progress.tick(batch.packets_read, batch.position);
                if let Some(last) = batch.last.take() {
                    if let Last::Finished(_) = last {
                        for summary in tracker.finish() {
                            render.conn(&summary)?;
                        }
                    }
                    let stats = tracker.stats();
                    return Ok(Ended { last, stats });
                }
                batch.clear();
                batch.clear_conns();
                // The reader may have finished: then the batch is dropped.
                let _ = give_back.send(batch);
            }
            Err(anyhow::anyhow!("the reading thread stopped early"))
        })();
        // On an error the reader is told to stop by the closed channel.
        drop(filled);
        ended
    })
}

/// The calling thread's last stage: a tracked batch explained and rendered.
struct Show<'r> {
    render: &'r mut dyn Render,
    /// The explanation and the events of the row being rendered; their
    /// buffers are reused from row to row.
    note: String,
    events: Vec<Event>,
}

impl Show<'_> {
    fn batch(&mut self, batch: &Batch) -> anyhow::Result<()> {
        let out = &batch.out;
        let mut packets = batch.packets.iter();
        let mut conns = out.conns.iter();
        for item in &out.items {
            let t = match item {
                Item::Packet(t) => t,
                Item::Written(row) => {
                    if let Some(decoded) = packets.next() {
                        self.render
                            .packet_written(decoded.packet.ts_ns, row.of(&out.rows))?;
                    }
                    continue;
                }
                Item::Conn => {
                    if let Some(summary) = conns.next() {
                        self.render.conn(summary)?;
                    }
                    continue;
                }
            };
            let Some(decoded) = packets.next() else {
                continue;
            };
            let packet = decoded.view(&batch.bytes);
            self.events.clear();
            self.events.extend_from_slice(
                out.events
                    .get(t.events.start as usize..t.events.end as usize)
                    .unwrap_or_default(),
            );
            self.note.clear();
            let mut row = PacketRow {
                packet: &packet,
                conn: t.conn,
                rel_seq: t.rel_seq,
                rel_ack: t.rel_ack,
                window_scale: t.window_scale,
                states: t.states,
                carry_in: t.carry_in,
                events: std::mem::take(&mut self.events),
                note: std::mem::take(&mut self.note),
            };
            explain(&mut row);
            let shown = self.render.packet(&row);
            self.events = row.events;
            self.note = row.note;
            shown?;
        }
        Ok(())
    }
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
                    Share::Fixed { write_rows: false },
                    Share::Fixed { write_rows: true },
                ] {
                    let mut file = FileSource::open(path).unwrap();
                    assert!(file.read_ahead().is_some());
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

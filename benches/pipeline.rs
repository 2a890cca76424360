//! Per-stage benchmarks: reading, decode (link, IP, TCP/UDP/ICMP),
//! conversation tracking with and without explanations, and each renderer,
//! on 100,000 packets of the synthetic echo capture (`wirelab::synth`); then
//! the whole replay of that file as `wirelab replay` runs it, on two
//! threads (`app::pump`).
//!
//! `cargo bench` (divan). Whole-program figures against tcpdump and tshark
//! come from `scripts/bench`.

use std::io;

use divan::{black_box, Bencher};
use wirelab::capture::file::FileSource;
use wirelab::capture::link::LinkType;
use wirelab::capture::{FrameSource, RawFrame};
use wirelab::decode::decode;
use wirelab::export::csv::CsvRender;
use wirelab::export::json::JsonRender;
use wirelab::export::markdown::MarkdownRender;
use wirelab::render::text::TextRender;
use wirelab::render::{Render, Verbosity};
use wirelab::synth::{write_capture, Kind};
use wirelab::track::Tracker;

const PACKETS: u64 = 100_000;

struct OwnedFrame {
    ts_ns: i64,
    link: LinkType,
    orig_len: u32,
    data: Vec<u8>,
}

/// The synthetic capture's frames, read once through the real file reader.
fn frames() -> &'static [OwnedFrame] {
    static FRAMES: std::sync::OnceLock<Vec<OwnedFrame>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("wirelab-bench-{}.pcap", std::process::id()));
        let file = std::fs::File::create(&path).expect("temp file");
        write_capture(file, PACKETS, Kind::Echo).expect("write capture");
        let mut source = FileSource::open(&path).expect("open capture");
        let mut out = Vec::new();
        while let Ok(Some(f)) = source.next_frame() {
            out.push(OwnedFrame {
                ts_ns: f.ts_ns,
                link: f.link,
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            });
        }
        let _ = std::fs::remove_file(&path);
        out
    })
}

fn raw(i: usize, f: &OwnedFrame) -> RawFrame<'_> {
    RawFrame {
        index: i as u64 + 1,
        ts_ns: f.ts_ns,
        link: f.link,
        orig_len: f.orig_len,
        data: &f.data,
    }
}

#[divan::bench]
fn read_file(bencher: Bencher) {
    let path = std::env::temp_dir().join(format!("wirelab-bench-read-{}.pcap", std::process::id()));
    write_capture(std::fs::File::create(&path).unwrap(), PACKETS, Kind::Echo).unwrap();
    bencher
        .counter(divan::counter::ItemsCount::new(PACKETS))
        .bench(|| {
            let mut source = FileSource::open(&path).unwrap();
            let mut n = 0u64;
            while let Ok(Some(f)) = source.next_frame() {
                n += f.data.len() as u64;
            }
            black_box(n)
        });
    let _ = std::fs::remove_file(&path);
}

#[divan::bench]
fn decode_link_ip_transport(bencher: Bencher) {
    let frames = frames();
    bencher
        .counter(divan::counter::ItemsCount::new(frames.len()))
        .bench(|| {
            for (i, f) in frames.iter().enumerate() {
                black_box(decode(&raw(i, f)));
            }
        });
}

fn track_all(explain: bool, render: Option<&mut dyn Render>) {
    let frames = frames();
    let mut tracker = Tracker::new();
    tracker.set_explain(explain);
    let mut render = render;
    for (i, f) in frames.iter().enumerate() {
        let frame = raw(i, f);
        let packet = decode(&frame);
        let mut row = tracker.track(&packet);
        if explain {
            wirelab::render::explain::explain(&mut row);
        }
        if let Some(r) = render.as_deref_mut() {
            r.packet(&row).unwrap();
        }
        black_box(&row.states);
        tracker.recycle(&mut row);
        for s in tracker.finished().drain(..) {
            if let Some(r) = render.as_deref_mut() {
                r.conn(&s).unwrap();
            }
        }
    }
}

/// Decode and track, without explanations (what `--summary` does).
#[divan::bench]
fn track(bencher: Bencher) {
    bencher
        .counter(divan::counter::ItemsCount::new(frames().len()))
        .bench(|| track_all(false, None));
}

/// Decode, track and write every explanation.
#[divan::bench]
fn track_and_explain(bencher: Bencher) {
    bencher
        .counter(divan::counter::ItemsCount::new(frames().len()))
        .bench(|| track_all(true, None));
}

/// Decode, track, explain and render to a sink, per format.
#[divan::bench(args = ["text", "json", "csv", "md"])]
fn render(bencher: Bencher, format: &str) {
    bencher
        .counter(divan::counter::ItemsCount::new(frames().len()))
        .bench(|| {
            let mut r: Box<dyn Render> = match format {
                "text" => Box::new(TextRender::new(io::sink(), Verbosity::Normal, true)),
                "json" => Box::new(JsonRender::new(io::sink(), true)),
                "csv" => Box::new(CsvRender::new(io::sink())),
                _ => Box::new(MarkdownRender::new(io::sink())),
            };
            track_all(true, Some(r.as_mut()));
        });
}

/// The whole replay of the file, as `wirelab replay` runs it: reading,
/// decoding and tracking on one thread, explaining and rendering on the
/// other, sharing rows as they come (app::parallel).
#[divan::bench(args = ["text", "json", "summary"])]
fn replay_on_two_threads(bencher: Bencher, format: &str) {
    let path =
        std::env::temp_dir().join(format!("wirelab-bench-replay-{}.pcap", std::process::id()));
    write_capture(std::fs::File::create(&path).unwrap(), PACKETS, Kind::Echo).unwrap();
    bencher
        .counter(divan::counter::ItemsCount::new(PACKETS))
        .bench(|| {
            let mut r: Box<dyn Render> = match format {
                "json" => Box::new(JsonRender::new(io::sink(), true).batched()),
                "summary" => Box::new(TextRender::new(io::sink(), Verbosity::Normal, false)),
                _ => Box::new(TextRender::new(io::sink(), Verbosity::Normal, true)),
            };
            let mut source = FileSource::open(&path).unwrap();
            wirelab::app::pump(&mut source, r.as_mut()).unwrap();
        });
    let _ = std::fs::remove_file(&path);
}

fn main() {
    divan::main();
}

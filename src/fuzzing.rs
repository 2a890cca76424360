//! The bodies of the fuzz targets (`fuzz/`), here so that the test suite
//! can replay every input a fuzzer once crashed on
//! (`tests/fuzz-regressions/`). Neither may panic, whatever the bytes.

use std::io;
use std::path::Path;

use crate::app::pump;
use crate::capture::file::FileSource;
use crate::capture::link::LinkType;
use crate::capture::RawFrame;
use crate::decode::decode;
use crate::export::csv::CsvRender;
use crate::export::html::HtmlRender;
use crate::export::json::JsonRender;
use crate::export::markdown::MarkdownRender;
use crate::export::mermaid::MermaidRender;
use crate::render::explain::explain;
use crate::render::text::TextRender;
use crate::render::{Render, RunEnd, Tee, Verbosity};
use crate::track::Tracker;

const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
];

/// Packet bytes through decode, track, explain and every renderer. The
/// input is a sequence of frames, so tracking state carries from one packet
/// to the next: `[link selector][length][bytes...]` repeated; the selector
/// picks one of the link types wirelab decodes.
pub fn packets(data: &[u8]) {
    let mut renders: Vec<Box<dyn Render>> = vec![
        Box::new(TextRender::new(io::sink(), Verbosity::Verbose, true)),
        Box::new(JsonRender::new(io::sink(), true)),
        Box::new(CsvRender::new(io::sink())),
        Box::new(MarkdownRender::new(io::sink())),
        Box::new(MermaidRender::new(io::sink())),
        Box::new(HtmlRender::new(io::sink())),
    ];
    let mut tracker = Tracker::new();
    let mut reassembler = crate::decode::defrag::Reassembler::new();
    let mut rest = data;
    let mut index = 0;
    while let [selector, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        index += 1;
        let frame = RawFrame {
            index,
            ts_ns: index as i64 * 1_000,
            link: LINKS[usize::from(*selector) % LINKS.len()],
            // The high bits claim a longer packet on the wire (snaplen cut).
            orig_len: len as u32 + u32::from(*selector >> 4),
            data: bytes,
        };
        let packet = reassembler.feed(decode(&frame));
        let mut row = tracker.track(&packet);
        explain(&mut row);
        for r in renders.iter_mut() {
            let _ = r.packet(&row);
        }
        tracker.recycle(&mut row);
        for summary in tracker.finished().drain(..) {
            for r in renders.iter_mut() {
                let _ = r.conn(&summary);
            }
        }
    }
    let end = RunEnd {
        stats: tracker.stats(),
        drops: None,
    };
    for summary in tracker.finish() {
        for r in renders.iter_mut() {
            let _ = r.conn(&summary);
        }
    }
    for r in renders.iter_mut() {
        let _ = r.finish(&end);
    }
}

/// A whole capture file (pcap or pcapng, any link type) through replay:
/// the file reader, then the pipeline into the text and JSON renderers.
/// Errors (a damaged file, an unsupported link type) are fine.
pub fn replay(data: &[u8]) {
    let reader = io::Cursor::new(data.to_vec());
    let Ok(mut source) =
        FileSource::from_reader(Path::new("fuzz"), reader, data.len() as u64, false)
    else {
        return;
    };
    let mut text = TextRender::new(io::sink(), Verbosity::Verbose, true);
    let mut json = JsonRender::new(io::sink(), true);
    let mut both = Tee {
        first: &mut text,
        second: &mut json,
    };
    let _ = pump(&mut source, &mut both);
}

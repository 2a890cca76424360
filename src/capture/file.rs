//! Reading pcap and pcapng files, one frame at a time.
//!
//! pcap-parser does the parsing: it read every file of tcpdump's test suite,
//! both byte orders, micro- and nanosecond pcap, and pcapng with several
//! sections and interfaces. This module adds what it leaves to the caller:
//! per-interface link types and timestamp resolution, buffer growth for
//! large records, and saying where a damaged file stopped.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::classic::{Classic, Stop};
use super::link::LinkType;
use super::{FrameSource, RawFrame};

/// Initial read buffer; grown when a record is larger.
const INITIAL_BUFFER: usize = 1 << 20;
/// No real capture has a record this large; a header claiming more is damage.
const MAX_BUFFER: usize = 256 << 20;

/// One interface of a pcapng section (a classic pcap file has exactly one).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second (10^6 for classic pcap, 10^9 for nanosecond).
    units_per_second: u64,
    /// Seconds added to every timestamp (pcapng `if_tsoffset`).
    offset_seconds: i64,
}

/// Why a file could not be read to its end. The frames before the damage
/// have been delivered; this says where and why reading stopped.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason} at byte {offset} (after {frames} frames)")]
pub struct FileDamaged {
    pub path: PathBuf,
    pub reason: String,
    pub offset: u64,
    pub frames: u64,
}

/// A capture file opened for streaming.
pub struct FileSource {
    path: PathBuf,
    /// pcap-parser's reader, for everything but classic pcap.
    reader: Option<Box<dyn PcapReaderIterator + Send>>,
    /// Classic pcap, read by hand (capture::classic).
    classic: Option<Classic>,
    capacity: usize,
    interfaces: Vec<Interface>,
    frames: u64,
    /// The size of the record whose frame was handed out last: its bytes
    /// stay in the reader's buffer, where the frame borrows them, until the
    /// next call consumes them. No frame is copied.
    pending: usize,
    size: u64,
    stream: bool,
}

impl FileSource {
    /// Open a capture file; `-` is standard input. A pipe or FIFO is read
    /// as a stream: each frame as soon as its bytes arrive.
    pub fn open(path: &Path) -> anyhow::Result<FileSource> {
        if path.as_os_str() == "-" {
            let stdin = std::io::stdin();
            if std::io::IsTerminal::is_terminal(&stdin) {
                bail!("standard input is a terminal, not a capture (pipe one in: tcpdump -U -w - | wirelab replay -)");
            }
            return FileSource::sniffed(Path::new("standard input"), stdin, 0, true);
        }
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            bail!("{} is a directory, not a capture file", path.display());
        }
        let regular = meta.as_ref().is_some_and(|m| m.is_file());
        // 0 for a pipe or FIFO: no progress to show.
        let size = meta.filter(|m| m.is_file()).map_or(0, |m| m.len());
        FileSource::sniffed(path, file, size, !regular)
    }

    /// A capture from `input`, gunzipped first when it starts with gzip's
    /// magic bytes (`capture.pcap.gz`), as tshark reads it; the progress of
    /// a gzipped file is not known.
    fn sniffed(
        path: &Path,
        input: impl std::io::Read + Send + 'static,
        size: u64,
        stream: bool,
    ) -> anyhow::Result<FileSource> {
        let mut reader = std::io::BufReader::new(input);
        let gzip = std::io::BufRead::fill_buf(&mut reader)
            .map(|head| head.starts_with(&[0x1f, 0x8b]))
            .unwrap_or(false);
        if gzip {
            let inner = flate2::bufread::MultiGzDecoder::new(reader);
            return FileSource::from_reader(path, inner, 0, stream).map_err(|_| {
                anyhow!(
                    "{} is gzip-compressed, but what it holds is not a pcap or pcapng capture (or the gzip data is damaged)",
                    path.display()
                )
            });
        }
        FileSource::buffered(path, reader, size, stream)
    }

    /// True when the input is a pipe, FIFO or standard input: its frames
    /// are shown as they arrive, as for a live capture.
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// Read a capture from any reader; `path` names it in messages, `size`
    /// (0 if unknown) is for the progress bar. The fuzz targets use this.
    pub fn from_reader(
        path: &Path,
        reader: impl std::io::Read + Send + 'static,
        size: u64,
        stream: bool,
    ) -> anyhow::Result<FileSource> {
        FileSource::buffered(path, std::io::BufReader::new(reader), size, stream)
    }

    /// [`FileSource::from_reader`] once the input is buffered, so that its
    /// first bytes can be looked at: classic pcap is read by hand
    /// ([`Classic`]), any other format by pcap-parser.
    fn buffered(
        path: &Path,
        input: impl std::io::BufRead + Send + 'static,
        size: u64,
        stream: bool,
    ) -> anyhow::Result<FileSource> {
        let mut source = FileSource {
            path: path.to_path_buf(),
            reader: None,
            classic: None,
            capacity: INITIAL_BUFFER,
            interfaces: Vec::new(),
            frames: 0,
            pending: 0,
            size,
            stream,
        };
        let input = match Classic::sniff(input, INITIAL_BUFFER, MAX_BUFFER) {
            Ok(classic) => {
                source.classic = Some(classic);
                return Ok(source);
            }
            Err(input) => input,
        };
        let reader =
            create_reader(INITIAL_BUFFER, OpenWithoutWaiting::new(input)).map_err(|e| match e {
                PcapError::HeaderNotRecognized => anyhow!(
                    "{} is not a capture file (no pcap or pcapng header)",
                    path.display()
                ),
                PcapError::Eof | PcapError::UnexpectedEof | PcapError::Incomplete(_) => {
                    anyhow!(
                        "{} is empty or too short to be a capture file",
                        path.display()
                    )
                }
                other => anyhow!("cannot read {}: {other}", path.display()),
            })?;
        source.reader = Some(reader);
        Ok(source)
    }

    /// Bytes read so far: where a damaged file stopped, and progress.
    fn consumed(&self) -> u64 {
        match (&self.classic, &self.reader) {
            (Some(classic), _) => classic.consumed,
            (None, Some(reader)) => reader.consumed() as u64,
            (None, None) => 0,
        }
    }

    /// [`FrameSource::next_frame`] for classic pcap.
    fn next_classic(&mut self) -> anyhow::Result<Option<RawFrame<'_>>> {
        let next = match self.classic.as_mut() {
            Some(classic) => classic.next(),
            None => return Ok(None),
        };
        let record = match next {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(Stop::Truncated) => {
                return Err(self.damaged("file ends in the middle of a record (truncated file)"))
            }
            Err(Stop::TooLarge) => {
                return Err(self.damaged(format!(
                    "a record is larger than {} MiB, which no real capture has",
                    MAX_BUFFER >> 20
                )))
            }
            Err(Stop::Read(e)) => return Err(anyhow!("cannot read {}: {e}", self.path.display())),
        };
        self.frames += 1;
        let Some(classic) = self.classic.as_ref() else {
            return Ok(None);
        };
        // Seconds and a fraction in units that divide 10^9: no division
        // (to_ns's 128-bit one showed in profiles), the same nanoseconds.
        let ts_ns = i64::from(record.ts_sec) * 1_000_000_000
            + i64::from(record.ts_frac) * classic.ns_per_unit;
        let data = classic.frame(record.at);
        Ok(Some(RawFrame {
            index: self.frames,
            ts_ns,
            link: classic.link,
            orig_len: record.orig_len.max(data.len() as u32),
            data,
        }))
    }

    fn damaged(&self, reason: impl Into<String>) -> anyhow::Error {
        FileDamaged {
            path: self.path.clone(),
            reason: reason.into(),
            offset: self.consumed(),
            frames: self.frames,
        }
        .into()
    }
}

/// pcap-parser reads twice while opening (`create_reader`, then the
/// reader's `from_buffer`). On a stream the second read waits for more
/// bytes, so the packets already read would wait for the next ones (for
/// ever, on a quiet `tcpdump -U -w -`). This second read returns nothing
/// instead: `from_buffer` does not take 0 for the end of input, and the
/// bytes come with the first refill.
struct OpenWithoutWaiting<R> {
    inner: R,
    reads: u8,
}

impl<R> OpenWithoutWaiting<R> {
    fn new(inner: R) -> OpenWithoutWaiting<R> {
        OpenWithoutWaiting { inner, reads: 0 }
    }
}

impl<R: std::io::Read> std::io::Read for OpenWithoutWaiting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.reads < 2 {
            self.reads += 1;
            if self.reads == 2 {
                return Ok(0);
            }
        }
        self.inner.read(buf)
    }
}

/// Nanoseconds since the epoch from a count of `units` per second.
fn to_ns(ticks: u64, units_per_second: u64, offset_seconds: i64) -> i64 {
    let units = u128::from(units_per_second.max(1));
    let ticks = u128::from(ticks);
    let ns = (ticks / units) * 1_000_000_000 + (ticks % units) * 1_000_000_000 / units;
    (ns.min(i64::MAX as u128) as i64).saturating_add(offset_seconds.saturating_mul(1_000_000_000))
}

impl FrameSource for FileSource {
    fn read_ahead(&mut self) -> Option<&mut FileSource> {
        if self.stream {
            None
        } else {
            Some(self)
        }
    }

    fn position(&self) -> Option<(u64, u64)> {
        (self.size > 0).then(|| (self.consumed(), self.size))
    }

    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame<'_>>> {
        if self.classic.is_some() {
            return self.next_classic();
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        // The last frame's record, consumed without moving the buffer: a
        // consume that shifts copies half the buffer each time it passes
        // the middle (most of the file, over a replay); refill moves only
        // the unread tail.
        reader.consume_noshift(std::mem::take(&mut self.pending));
        loop {
            // What the current block means for us, decided while the block
            // borrows the reader's buffer; acted on after `consume`.
            enum Step {
                Frame {
                    ts_ns: i64,
                    link: LinkType,
                    orig_len: u32,
                    /// Where the frame's bytes are in the reader's buffer.
                    at: std::ops::Range<usize>,
                },
                Skip,
            }
            // The block borrows the buffer: its bytes are found again by
            // their place in it once the borrow has ended.
            let base = reader.data().as_ptr() as usize;
            let place = |data: &[u8]| {
                let start = (data.as_ptr() as usize).wrapping_sub(base);
                start..start + data.len()
            };
            let step = match reader.next() {
                Ok((size, block)) => {
                    let step = match block {
                        PcapBlockOwned::LegacyHeader(header) => {
                            self.interfaces.clear();
                            self.interfaces.push(Interface {
                                // The upper bits carry FCS information (pcap spec,
                                // "LinkType and additional information"); the
                                // link type is the low 16 bits.
                                link: LinkType::from_number(header.network.0 as u32 & 0xFFFF),
                                units_per_second: if header.is_nanosecond_precision() {
                                    1_000_000_000
                                } else {
                                    1_000_000
                                },
                                offset_seconds: 0,
                            });
                            Step::Skip
                        }
                        PcapBlockOwned::Legacy(packet) => {
                            let Some(&iface) = self.interfaces.first() else {
                                return Err(anyhow!(
                                    "{}: packet before the file header",
                                    self.path.display()
                                ));
                            };
                            let ticks = u64::from(packet.ts_sec) * iface.units_per_second
                                + u64::from(packet.ts_usec);
                            Step::Frame {
                                ts_ns: to_ns(ticks, iface.units_per_second, 0),
                                link: iface.link,
                                orig_len: packet.origlen.max(packet.data.len() as u32),
                                at: place(packet.data),
                            }
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            // Interface ids start again in every section.
                            self.interfaces.clear();
                            Step::Skip
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            self.interfaces.push(Interface {
                                link: LinkType::from_number(idb.linktype.0 as u32),
                                units_per_second: idb.ts_resolution().unwrap_or(1_000_000),
                                offset_seconds: idb.ts_offset(),
                            });
                            Step::Skip
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(&iface) = self.interfaces.get(epb.if_id as usize) else {
                                return Err(anyhow!(
                                    "{}: a packet names interface {}, which no block described",
                                    self.path.display(),
                                    epb.if_id
                                ));
                            };
                            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            // pcap-parser hands out the padded block body;
                            // the captured length says how much is packet.
                            let len = (epb.caplen as usize).min(epb.data.len());
                            Step::Frame {
                                ts_ns: to_ns(ticks, iface.units_per_second, iface.offset_seconds),
                                link: iface.link,
                                orig_len: epb.origlen.max(len as u32),
                                at: place(&epb.data[..len]),
                            }
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            // No timestamp and no interface id: interface 0.
                            let Some(&iface) = self.interfaces.first() else {
                                return Err(anyhow!(
                                    "{}: a packet comes before any interface block",
                                    self.path.display()
                                ));
                            };
                            let len = (spb.origlen as usize).min(spb.data.len());
                            Step::Frame {
                                ts_ns: 0,
                                link: iface.link,
                                orig_len: spb.origlen,
                                at: place(&spb.data[..len]),
                            }
                        }
                        PcapBlockOwned::NG(_) => Step::Skip,
                    };
                    match step {
                        Step::Frame { .. } => self.pending = size,
                        Step::Skip => {
                            reader.consume_noshift(size);
                        }
                    }
                    step
                }
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => {
                    reader
                        .refill()
                        .map_err(|e| anyhow!("cannot read {}: {e}", self.path.display()))?;
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    if self.capacity >= MAX_BUFFER {
                        return Err(self.damaged(format!(
                            "a record is larger than {} MiB, which no real capture has",
                            MAX_BUFFER >> 20
                        )));
                    }
                    self.capacity *= 2;
                    reader.grow(self.capacity);
                    reader
                        .refill()
                        .map_err(|e| anyhow!("cannot read {}: {e}", self.path.display()))?;
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Err(self.damaged("file ends in the middle of a record (truncated file)"))
                }
                Err(PcapError::ReadError) => {
                    return Err(anyhow!("cannot read {}: read error", self.path.display()))
                }
                Err(other) => {
                    let reason = match other {
                        PcapError::NomError(_, kind) => {
                            format!("unreadable record ({})", kind.description())
                        }
                        PcapError::OwnedNomError(_, kind) => {
                            format!("unreadable record ({})", kind.description())
                        }
                        other => format!("unreadable record ({other})"),
                    };
                    return Err(self.damaged(reason));
                }
            };
            if let Step::Frame {
                ts_ns,
                link,
                orig_len,
                at,
            } = step
            {
                self.frames += 1;
                // `at` lies inside the unconsumed data (the record was not
                // consumed yet); `get` keeps that a checked fact.
                let data = self
                    .reader
                    .as_ref()
                    .and_then(|r| r.data().get(at))
                    .unwrap_or_default();
                return Ok(Some(RawFrame {
                    index: self.frames,
                    ts_ns,
                    link,
                    orig_len,
                    data,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::to_ns;

    #[test]
    fn timestamps_convert_from_micro_nano_and_odd_resolutions() {
        assert_eq!(to_ns(1_500_000, 1_000_000, 0), 1_500_000_000);
        assert_eq!(to_ns(1_500_000_000, 1_000_000_000, 0), 1_500_000_000);
        assert_eq!(to_ns(3, 2, 10), 11_500_000_000);
    }
}

//! Classic pcap files read record by record straight out of one large
//! buffer.
//!
//! pcap-parser reads every format wirelab takes (file.rs), but through its
//! block enum and circular buffer a classic record cost about 250
//! instructions and a sixth of the reading thread's time on a replay
//! (callgrind, perf). A classic record is a 16-byte header and the frame,
//! so this module reads that one format by hand: the frame is handed out
//! where it lies in the buffer, which moves only the unread tail when it
//! refills. pcapng, the modified (Kuznetzov) pcap and anything else stay
//! with pcap-parser.

use std::io::{BufRead, Read};
use std::ops::Range;

use super::link::LinkType;

/// Magic numbers of classic pcap, as the first four bytes read:
/// microseconds, then nanoseconds (libpcap's `pcap-savefile(5)`).
const MICROS_LE: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
const MICROS_BE: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
const NANOS_LE: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];
const NANOS_BE: [u8; 4] = [0xa1, 0xb2, 0x3c, 0x4d];

/// The file header's length; a record's header's.
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// One record's frame: where it is in the buffer, and its header's fields.
pub(super) struct Record {
    pub ts_sec: u32,
    /// Microseconds or nanoseconds, as the file says ([`Classic::ns_per_unit`]).
    pub ts_frac: u32,
    pub orig_len: u32,
    pub at: Range<usize>,
}

/// Why reading stopped before the end of the file.
pub(super) enum Stop {
    /// The file ends inside a record.
    Truncated,
    /// A record claims more bytes than any real capture has.
    TooLarge,
    /// The input could not be read.
    Read(std::io::Error),
}

pub(super) struct Classic {
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The record handed out last: consumed at the next call, so that its
    /// frame can be lent out of the buffer meanwhile.
    pending: usize,
    /// Bytes consumed before `buf[start]`, the file header included.
    pub consumed: u64,
    big_endian: bool,
    /// Nanoseconds in a unit of a record's time fraction: 1000 for
    /// microseconds, 1 for nanoseconds.
    pub ns_per_unit: i64,
    pub link: LinkType,
    max_record: usize,
}

impl Classic {
    /// A reader of `input` if it starts with a classic pcap header (peeked,
    /// not consumed, when it does not). `capacity`: the first buffer's size;
    /// `max_record`: the largest record taken.
    pub fn sniff<R: BufRead + Send + 'static>(
        mut input: R,
        capacity: usize,
        max_record: usize,
    ) -> Result<Classic, R> {
        let Ok(head) = input.fill_buf() else {
            return Err(input);
        };
        let (big_endian, nanos) = match head.get(..4).and_then(|m| <[u8; 4]>::try_from(m).ok()) {
            Some(MICROS_LE) => (false, false),
            Some(MICROS_BE) => (true, false),
            Some(NANOS_LE) => (false, true),
            Some(NANOS_BE) => (true, true),
            _ => return Err(input),
        };
        // The whole header must be at hand; a stream that sent less of it so
        // far is left to pcap-parser, which waits for it.
        let Some(header) = head.get(..FILE_HEADER) else {
            return Err(input);
        };
        let network = read_u32(header, 20, big_endian);
        input.consume(FILE_HEADER);
        Ok(Classic {
            input: Box::new(input),
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            pending: 0,
            consumed: FILE_HEADER as u64,
            big_endian,
            ns_per_unit: if nanos { 1 } else { 1000 },
            // The upper bits carry FCS information (pcap spec, "LinkType and
            // additional information"); the link type is the low 16 bits.
            link: LinkType::from_number(network & 0xFFFF),
            max_record,
        })
    }

    /// The frame bytes of a record from [`Classic::next`].
    pub fn frame(&self, at: Range<usize>) -> &[u8] {
        self.buf.get(at).unwrap_or_default()
    }

    /// The next record, `None` at the end of the file.
    pub fn next(&mut self) -> Result<Option<Record>, Stop> {
        self.start += self.pending;
        self.consumed += self.pending as u64;
        self.pending = 0;
        loop {
            let unread = &self.buf[self.start..self.end];
            if let Some(header) = unread.get(..RECORD_HEADER) {
                let caplen = read_u32(header, 8, self.big_endian) as usize;
                if caplen > self.max_record {
                    return Err(Stop::TooLarge);
                }
                if unread.len() >= RECORD_HEADER + caplen {
                    let at = self.start + RECORD_HEADER;
                    self.pending = RECORD_HEADER + caplen;
                    return Ok(Some(Record {
                        ts_sec: read_u32(header, 0, self.big_endian),
                        ts_frac: read_u32(header, 4, self.big_endian),
                        orig_len: read_u32(header, 12, self.big_endian),
                        at: at..at + caplen,
                    }));
                }
                // The record continues past the buffer's end: make room, by
                // doubling (a damaged length is found out at the file's end,
                // before it costs its whole size in memory).
                let want = RECORD_HEADER + caplen;
                if want > self.buf.len() && self.end - self.start == self.buf.len() {
                    self.buf.resize(want.min(self.buf.len() * 2), 0);
                }
            }
            if !self.refill()? {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(Stop::Truncated)
                };
            }
        }
    }

    /// Move the unread bytes to the front and read more after them; false
    /// at the end of the input. One read: on a stream, the records that
    /// arrived are handed out before waiting for more.
    fn refill(&mut self) -> Result<bool, Stop> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Read(e)),
            }
        }
    }
}

fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut word = [0u8; 4];
    if let Some(b) = bytes.get(at..at + 4) {
        word.copy_from_slice(b);
    }
    if big_endian {
        u32::from_be_bytes(word)
    } else {
        u32::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::{Classic, Stop, NANOS_BE};

    /// A classic file in big-endian nanoseconds: one record per length.
    fn file(lens: &[usize]) -> Vec<u8> {
        let mut f = NANOS_BE.to_vec();
        f.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 1]);
        for (i, &len) in lens.iter().enumerate() {
            for field in [i as u32, 999_999_999, len as u32, len as u32 + 10] {
                f.extend_from_slice(&field.to_be_bytes());
            }
            f.extend(std::iter::repeat_n(i as u8, len));
        }
        f
    }

    /// What a record gave: seconds, fraction, length on the wire, frame length.
    type Seen = (u32, u32, u32, usize);

    fn read_all(bytes: Vec<u8>, max: usize) -> (Vec<Seen>, Option<Stop>) {
        let Ok(mut c) = Classic::sniff(std::io::Cursor::new(bytes), 64, max) else {
            panic!("not sniffed as classic pcap");
        };
        assert_eq!(c.ns_per_unit, 1);
        let mut seen = Vec::new();
        loop {
            match c.next() {
                Ok(Some(r)) => {
                    let frame = c.frame(r.at);
                    assert!(frame.iter().all(|&b| usize::from(b) == seen.len() % 256));
                    seen.push((r.ts_sec, r.ts_frac, r.orig_len, frame.len()));
                }
                Ok(None) => return (seen, None),
                Err(stop) => return (seen, Some(stop)),
            }
        }
    }

    #[test]
    fn records_are_read_whole_across_refills_and_growth() {
        // Records smaller and larger than the 64-byte first buffer.
        let lens = [0, 10, 48, 49, 200, 1000, 5];
        let (seen, stop) = read_all(file(&lens), 1 << 20);
        assert!(stop.is_none());
        let want: Vec<_> = lens
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, 999_999_999, l as u32 + 10, l))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_cut_file_and_an_oversized_record_stop_with_a_reason() {
        let mut cut = file(&[30, 30]);
        cut.truncate(cut.len() - 1);
        let (seen, stop) = read_all(cut, 1 << 20);
        assert_eq!(seen.len(), 1);
        assert!(matches!(stop, Some(Stop::Truncated)));
        let (seen, stop) = read_all(file(&[30, 300]), 100);
        assert_eq!(seen.len(), 1);
        assert!(matches!(stop, Some(Stop::TooLarge)));
    }

    #[test]
    fn other_formats_are_left_unread() {
        for head in [
            &b"\x0a\x0d\x0d\x0a"[..],
            b"\xa1\xb2\xcd\x34",
            b"",
            b"\xd4\xc3\xb2\xa1short",
        ] {
            let Err(mut input) = Classic::sniff(std::io::Cursor::new(head.to_vec()), 64, 100)
            else {
                panic!("{head:?} taken as classic pcap");
            };
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut input, &mut rest).unwrap();
            assert_eq!(rest, head, "nothing consumed");
        }
    }
}

//! A small pcapng writer: section header, one interface description per
//! link type seen (a capture of `any` and of `lo` merged has two), enhanced
//! packet blocks pointing at theirs, with optional comments. Written by hand because libpcap writes
//! only classic pcap, and what is needed here is ~100 lines of the format
//! (pcapng spec, draft-ietf-opsawg-pcapng): little-endian blocks, the
//! timestamp resolution declared as nanoseconds (if_tsresol = 9).

use std::io::{self, Write};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const OPT_COMMENT: u16 = 1;
const OPT_SHB_USERAPPL: u16 = 4;
const OPT_IF_TSRESOL: u16 = 9;

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    // An option value is at most 65535 bytes; longer comments are cut.
    let value = &value[..value.len().min(u16::MAX as usize)];
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.extend(std::iter::repeat_n(0u8, pad4(value.len())));
}

fn block(w: &mut impl Write, kind: u32, body: &[u8]) -> io::Result<()> {
    let total = (12 + body.len()) as u32;
    w.write_all(&kind.to_le_bytes())?;
    w.write_all(&total.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&total.to_le_bytes())
}

/// Writes frames, each with an optional comment.
pub struct PcapngWriter<W: Write> {
    out: W,
    /// The link type of each interface described so far; a frame's
    /// interface is the position of its link type here.
    interfaces: Vec<u32>,
    comment: String,
}

impl<W: Write> PcapngWriter<W> {
    /// Start a file; `comment` names what produced it (section comment).
    pub fn new(mut out: W, comment: &str) -> io::Result<PcapngWriter<W>> {
        let mut body = Vec::new();
        body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        option(&mut body, OPT_COMMENT, comment.as_bytes());
        option(
            &mut body,
            OPT_SHB_USERAPPL,
            concat!("wirelab ", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        body.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut out, SHB, &body)?;
        Ok(PcapngWriter {
            out,
            interfaces: Vec::new(),
            comment: String::new(),
        })
    }

    /// Set the comment for the next packet.
    pub fn set_comment(&mut self, comment: &str) {
        self.comment.clear();
        self.comment.push_str(comment);
    }

    pub fn frame(
        &mut self,
        linktype: u32,
        ts_ns: i64,
        orig_len: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let interface = match self.interfaces.iter().position(|&l| l == linktype) {
            Some(i) => i,
            None => {
                // Described before its first frame, as the format requires.
                let mut body = Vec::new();
                body.extend_from_slice(&(linktype as u16).to_le_bytes());
                body.extend_from_slice(&0u16.to_le_bytes());
                body.extend_from_slice(&262_144u32.to_le_bytes());
                option(&mut body, OPT_IF_TSRESOL, &[9]);
                body.extend_from_slice(&[0, 0, 0, 0]);
                block(&mut self.out, IDB, &body)?;
                self.interfaces.push(linktype);
                self.interfaces.len() - 1
            }
        };
        let ts = ts_ns.max(0) as u64;
        let mut body = Vec::with_capacity(32 + data.len());
        body.extend_from_slice(&(interface as u32).to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&orig_len.to_le_bytes());
        body.extend_from_slice(data);
        body.extend(std::iter::repeat_n(0u8, pad4(data.len())));
        if !self.comment.is_empty() {
            option(&mut body, OPT_COMMENT, self.comment.as_bytes());
            body.extend_from_slice(&[0, 0, 0, 0]);
            self.comment.clear();
        }
        block(&mut self.out, EPB, &body)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::PcapngWriter;
    use crate::capture::file::FileSource;
    use crate::capture::FrameSource;

    #[test]
    fn written_file_reads_back_with_nanosecond_timestamps() {
        let path =
            std::env::temp_dir().join(format!("wirelab-pcapng-{}.pcapng", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = PcapngWriter::new(file, "test").unwrap();
        w.set_comment("first");
        w.frame(1, 1_700_000_000_123_456_789, 60, &[0u8; 42])
            .unwrap();
        w.frame(1, 1_700_000_001_000_000_001, 42, &[1u8; 42])
            .unwrap();
        w.finish().unwrap();
        let mut source = FileSource::open(&path).unwrap();
        let f = source.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.ts_ns, f.orig_len, f.data.len()),
            (1_700_000_000_123_456_789, 60, 42)
        );
        let f = source.next_frame().unwrap().unwrap();
        assert_eq!(f.ts_ns, 1_700_000_001_000_000_001);
        assert!(source.next_frame().unwrap().is_none());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn each_link_type_gets_its_interface() {
        use crate::capture::link::LinkType;
        let path = std::env::temp_dir().join(format!("wirelab-idb-{}.pcapng", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = PcapngWriter::new(file, "test").unwrap();
        for linktype in [1, 101, 1, 0] {
            w.frame(linktype, 1_700_000_000_000_000_000, 20, &[0x45; 20])
                .unwrap();
        }
        w.finish().unwrap();
        let mut source = FileSource::open(&path).unwrap();
        let mut links = Vec::new();
        while let Some(f) = source.next_frame().unwrap() {
            links.push(f.link);
        }
        assert_eq!(
            links,
            [
                LinkType::Ethernet,
                LinkType::RawIp,
                LinkType::Ethernet,
                LinkType::Null
            ]
        );
        std::fs::remove_file(path).unwrap();
    }
}

//! Where frames come from: capture files and live interfaces.
//!
//! Both sources hand out one [`RawFrame`] at a time, borrowed from their own
//! buffer, so nothing grows with the number of packets.

pub mod channel;
mod classic;
pub mod file;
pub mod filter;
pub mod link;
pub mod live;

use self::link::LinkType;

/// One captured frame, exactly as the source holds it.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    /// 1-based position in the file or capture (Wireshark's frame number).
    pub index: u64,
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub link: LinkType,
    /// Length on the wire; `data.len()` is what was captured (snaplen may cut it).
    pub orig_len: u32,
    pub data: &'a [u8],
}

impl RawFrame<'_> {
    /// True when the capture kept fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// What a source has now: a frame, nothing yet (a live capture that was
/// quiet for a moment), or nothing more.
pub enum Poll<'a> {
    Frame(RawFrame<'a>),
    Idle,
    End,
}

/// A source of frames: `Ok(None)` at the end.
pub trait FrameSource {
    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame<'_>>>;

    /// Like [`FrameSource::next_frame`], but a live capture also says when
    /// it has been quiet for a while, so that what happened meanwhile
    /// (socket calls, no packets) can be shown.
    fn poll_frame(&mut self) -> anyhow::Result<Poll<'_>> {
        Ok(match self.next_frame()? {
            Some(frame) => Poll::Frame(frame),
            None => Poll::End,
        })
    }

    /// libpcap's counters for a live capture (received by filter, dropped
    /// by the kernel, dropped by the interface); `None` for files.
    fn drop_counters(&mut self) -> Option<(u32, u32, u32)> {
        None
    }

    /// True for a live capture: the machine's sockets are there to ask.
    fn is_live(&self) -> bool {
        false
    }

    /// This source, if it is a file that may be read ahead of the renderer
    /// (app::parallel). A live capture or a stream may not, so that each
    /// row is shown as its packet arrives.
    fn read_ahead(&mut self) -> Option<&mut file::FileSource> {
        None
    }

    /// Bytes read so far and the total, for a progress bar (files only).
    fn position(&self) -> Option<(u64, u64)> {
        None
    }
}

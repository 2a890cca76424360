//! A live capture read on its own thread and handed to the pipeline through
//! a channel. The pipeline may wait (for a socket call still running, for
//! the kernel's events to arrive) without the capture falling behind, and
//! it never waits on a blocked read: when the capture stops, the channel
//! ends, and a quiet moment is a timeout on the channel ([`Poll::Idle`]).

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::link::LinkType;
use super::live::LiveSource;
use super::{FrameSource, Poll, RawFrame};

/// Frames held between the reader and the pipeline; beyond this the
/// reader waits (and the kernel's buffer takes over, as without a thread).
const QUEUED: usize = 4096;
/// How long the pipeline waits for a frame before it is told the capture
/// is quiet.
const QUIET: Duration = Duration::from_millis(100);

/// One frame, owned, on its way to the pipeline.
struct Frame {
    index: u64,
    ts_ns: i64,
    link: LinkType,
    orig_len: u32,
    data: Vec<u8>,
}

enum Message {
    Frame(Frame),
    /// The capture ended: an error, if it ended with one, and libpcap's
    /// counters.
    End(Option<anyhow::Error>, Option<(u32, u32, u32)>),
}

pub struct ChannelSource {
    frames: Receiver<Message>,
    current: Option<Frame>,
    reader: Option<JoinHandle<()>>,
    drops: Option<(u32, u32, u32)>,
    ended: bool,
}

impl ChannelSource {
    /// Read `source` on a thread of its own until it ends (its stop flag).
    pub fn start(mut source: LiveSource) -> ChannelSource {
        let (tx, frames) = sync_channel(QUEUED);
        let reader = std::thread::spawn(move || loop {
            let message = match source.next_frame() {
                Ok(Some(f)) => Message::Frame(Frame {
                    index: f.index,
                    ts_ns: f.ts_ns,
                    link: f.link,
                    orig_len: f.orig_len,
                    data: f.data.to_vec(),
                }),
                Ok(None) => Message::End(None, source.drop_counters()),
                Err(e) => Message::End(Some(e), source.drop_counters()),
            };
            let end = matches!(message, Message::End(..));
            if tx.send(message).is_err() || end {
                return;
            }
        });
        ChannelSource {
            frames,
            current: None,
            reader: Some(reader),
            drops: None,
            ended: false,
        }
    }

    fn frame(&self) -> Option<RawFrame<'_>> {
        self.current.as_ref().map(|f| RawFrame {
            index: f.index,
            ts_ns: f.ts_ns,
            link: f.link,
            orig_len: f.orig_len,
            data: &f.data,
        })
    }

    /// Take the next message, waiting at most `wait` (`None`: until one
    /// comes). `Ok(true)`: a frame is current; `Ok(false)`: the end.
    fn take(&mut self, wait: Option<Duration>) -> anyhow::Result<Option<bool>> {
        if self.ended {
            return Ok(Some(false));
        }
        let message = match wait {
            Some(wait) => match self.frames.recv_timeout(wait) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => Message::End(None, None),
            },
            None => self.frames.recv().unwrap_or(Message::End(None, None)),
        };
        match message {
            Message::Frame(f) => {
                self.current = Some(f);
                Ok(Some(true))
            }
            Message::End(error, drops) => {
                self.ended = true;
                self.drops = drops.or(self.drops);
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                match error {
                    Some(e) => Err(e),
                    None => Ok(Some(false)),
                }
            }
        }
    }
}

impl FrameSource for ChannelSource {
    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame<'_>>> {
        Ok(match self.take(None)? {
            Some(true) => self.frame(),
            _ => None,
        })
    }

    fn poll_frame(&mut self) -> anyhow::Result<Poll<'_>> {
        Ok(match self.take(Some(QUIET))? {
            Some(true) => self.frame().map_or(Poll::End, Poll::Frame),
            Some(false) => Poll::End,
            None => Poll::Idle,
        })
    }

    fn drop_counters(&mut self) -> Option<(u32, u32, u32)> {
        self.drops
    }

    fn is_live(&self) -> bool {
        true
    }
}

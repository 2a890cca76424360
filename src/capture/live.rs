//! Live capture with libpcap.
//!
//! Settings follow what was measured on Linux loopback: immediate mode (else
//! TPACKET_V3 holds packets until a ~1 s block timeout), a non-zero read
//! timeout (0 can block forever, and we must notice Ctrl-C), an explicit
//! snaplen, and a larger kernel buffer (immediate mode with a 256 KiB snaplen
//! leaves room for only a few frames and a burst gets dropped). When asked to
//! stop, the source keeps reading what the kernel captured up to that moment,
//! so the last packets of an exchange are not lost; packets stamped after
//! the stop end it (busy traffic must not keep it running), and so does a
//! one-second limit.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use pcap::{Active, Capture, Device, Precision};

use super::link::LinkType;
use super::{FrameSource, Poll, RawFrame};

pub const SNAPLEN: i32 = 262_144;
/// How long one read may wait; also how quickly Ctrl-C is noticed.
const READ_TIMEOUT_MS: i32 = 100;
const KERNEL_BUFFER: i32 = 32 << 20;
/// The longest a stop waits for the kernel's buffered packets.
const MAX_DRAIN: Duration = Duration::from_secs(1);

/// Wall-clock time in ns since the epoch, the clock packet timestamps use.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The capture ended by itself (the interface went away): what was
/// captured until then is still a valid timeline, so outputs are kept.
#[derive(Debug, thiserror::Error)]
#[error("capture on {interface} stopped: {reason}")]
pub struct CaptureLost {
    pub interface: String,
    pub reason: String,
}

/// What to capture and when to stop.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Interface name; `None` picks the loopback device by its flag.
    pub interface: Option<String>,
    /// A BPF expression, as tcpdump takes it.
    pub filter: Option<String>,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

pub struct LiveSource {
    capture: Capture<Active>,
    interface: String,
    link: LinkType,
    stop: Arc<AtomicBool>,
    deadline: Option<Instant>,
    count: Option<u64>,
    frames: u64,
    /// Whether libpcap gave nanosecond timestamps (else microseconds).
    nanoseconds: bool,
    /// Set once a stop was asked for: the wall-clock time (ns) of the stop
    /// and when draining started. Read until the kernel ring is empty, a
    /// packet from after the stop arrives, or [`MAX_DRAIN`] has passed.
    draining: Option<(i64, Instant)>,
    /// The current frame, copied out of libpcap's buffer.
    frame_buf: Vec<u8>,
    /// A frame read by [`LiveSource::skip_unfiltered`], waiting in
    /// `frame_buf` to be returned first: its time (ns) and wire length.
    held: Option<(i64, u32)>,
}

/// A capture header's time in ns since the epoch. With Precision::Nano
/// libpcap puts nanoseconds in tv_usec.
fn timestamp_ns(header: &pcap::PacketHeader, nanoseconds: bool) -> i64 {
    // timeval fields are i64 on Linux but i32 on macOS.
    #[allow(clippy::useless_conversion)]
    let fraction = i64::from(header.ts.tv_usec);
    #[allow(clippy::useless_conversion)]
    let seconds = i64::from(header.ts.tv_sec);
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(if nanoseconds {
            fraction
        } else {
            fraction * 1_000
        })
}

/// The loopback interface, found by its flag (`lo` on Linux, `lo0` on macOS).
pub fn loopback_interface() -> anyhow::Result<String> {
    let devices = Device::list().context("cannot list capture interfaces")?;
    devices
        .iter()
        .find(|d| d.flags.is_loopback())
        .map(|d| d.name.clone())
        .ok_or_else(|| {
            anyhow!(
                "no loopback interface found (interfaces here: {}); choose one with --interface",
                interface_names(&devices)
            )
        })
}

fn interface_names(devices: &[Device]) -> String {
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    if names.is_empty() {
        "none visible".to_string()
    } else {
        names.join(", ")
    }
}

/// Turn libpcap's open errors into one line that says what to do.
fn open_error(interface: &str, err: pcap::Error) -> anyhow::Error {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        anyhow!(
            "cannot capture on {interface}: permission denied (run as root, e.g. with sudo, or grant the binary \
             capture rights once: sudo setcap cap_net_raw,cap_net_admin=eip \"$(command -v wirelab)\")"
        )
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        let known = Device::list()
            .map(|d| interface_names(&d))
            .unwrap_or_default();
        anyhow!("cannot capture on {interface}: no such interface (interfaces here: {known})")
    } else {
        anyhow!("cannot capture on {interface}: {text}")
    }
}

impl LiveSource {
    /// Open the interface and apply the filter. `stop` is set by the Ctrl-C
    /// handler (or a test) to end the capture after draining.
    pub fn open(options: &LiveOptions, stop: Arc<AtomicBool>) -> anyhow::Result<LiveSource> {
        let interface = match &options.interface {
            Some(name) => name.clone(),
            None => loopback_interface()?,
        };
        let capture = Capture::from_device(interface.as_str())
            .map_err(|e| open_error(&interface, e))?
            .immediate_mode(true)
            .snaplen(SNAPLEN)
            .timeout(READ_TIMEOUT_MS)
            .buffer_size(KERNEL_BUFFER)
            .precision(Precision::Nano);
        let mut nanoseconds = true;
        let capture = match capture.open() {
            Ok(c) => c,
            // Not every platform offers nanosecond timestamps: fall back to µs.
            Err(_) => {
                nanoseconds = false;
                Capture::from_device(interface.as_str())
                    .map_err(|e| open_error(&interface, e))?
                    .immediate_mode(true)
                    .snaplen(SNAPLEN)
                    .timeout(READ_TIMEOUT_MS)
                    .buffer_size(KERNEL_BUFFER)
                    .open()
                    .map_err(|e| open_error(&interface, e))?
            }
        };
        let mut capture = capture;
        if let Some(filter) = &options.filter {
            capture.filter(filter, true).map_err(|e| {
                let text = match e {
                    pcap::Error::PcapError(msg) => msg,
                    other => other.to_string(),
                };
                anyhow!("bad capture filter \"{filter}\": {text}")
            })?;
        }
        // Non-blocking reads plus our own poll(): on TPACKET_V3 kernels
        // libpcap ignores the read timeout (it waits for a ring block), so a
        // blocking read could sleep through Ctrl-C forever.
        let capture = capture
            .setnonblock()
            .map_err(|e| anyhow!("cannot capture on {interface}: {e}"))?;
        let link = LinkType::from_number(capture.get_datalink().0 as u32);
        if !link.is_supported() {
            return Err(anyhow!(
                "cannot decode {interface}: unsupported link type {link}"
            ));
        }
        let mut source = LiveSource {
            capture,
            interface,
            link,
            stop,
            deadline: options.duration.map(|d| Instant::now() + d),
            count: options.count,
            frames: 0,
            nanoseconds,
            draining: None,
            frame_buf: Vec::with_capacity(65536),
            held: None,
        };
        if options.filter.is_some() {
            source.skip_unfiltered(now_ns());
        }
        Ok(source)
    }

    /// Read past what reached the kernel's buffer before the filter was
    /// attached: the whole interface's traffic, which libpcap filters as
    /// it is read. Until it is read it fills the buffer: under a flood of
    /// other traffic the first packets the user waits for found it full
    /// and were dropped (measured: 596 frames received, 84 dropped, none
    /// of the watched port's). Done before the capture is said to be
    /// ready; the first frame from `armed` on is kept for the first read.
    fn skip_unfiltered(&mut self, armed: i64) {
        let nanoseconds = self.nanoseconds;
        let started = Instant::now();
        while started.elapsed() < MAX_DRAIN {
            match self.capture.next_packet() {
                Ok(packet) => {
                    let ts_ns = timestamp_ns(packet.header, nanoseconds);
                    if ts_ns < armed {
                        continue;
                    }
                    self.frame_buf.clear();
                    self.frame_buf.extend_from_slice(packet.data);
                    self.held = Some((ts_ns, packet.header.len));
                    return;
                }
                // Empty now; an error is met again by the first read.
                Err(_) => return,
            }
        }
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn link(&self) -> LinkType {
        self.link
    }
}

impl LiveSource {
    /// Wait up to one read timeout for the capture to become readable.
    fn wait_readable(&self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.capture.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut fd, 1, READ_TIMEOUT_MS) };
        n > 0
    }
}

impl FrameSource for LiveSource {
    fn is_live(&self) -> bool {
        true
    }

    fn drop_counters(&mut self) -> Option<(u32, u32, u32)> {
        self.capture
            .stats()
            .ok()
            .map(|s| (s.received, s.dropped, s.if_dropped))
    }

    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame<'_>>> {
        Ok(match self.read(false)? {
            Poll::Frame(frame) => Some(frame),
            Poll::Idle | Poll::End => None,
        })
    }

    fn poll_frame(&mut self) -> anyhow::Result<Poll<'_>> {
        self.read(true)
    }
}

impl LiveSource {
    /// The next frame; with `idle`, [`Poll::Idle`] after a read timeout
    /// with nothing captured.
    fn read(&mut self, idle: bool) -> anyhow::Result<Poll<'_>> {
        loop {
            if self.count.is_some_and(|c| self.frames >= c) {
                return Ok(Poll::End);
            }
            if self.draining.is_none()
                && (self.stop.load(Ordering::Relaxed)
                    || self.deadline.is_some_and(|d| Instant::now() >= d))
            {
                self.draining = Some((now_ns(), Instant::now()));
            }
            if let Some((_, since)) = self.draining {
                if since.elapsed() >= MAX_DRAIN {
                    return Ok(Poll::End);
                }
            }
            if let Some((ts_ns, orig_len)) = self.held.take() {
                self.frames += 1;
                return Ok(Poll::Frame(RawFrame {
                    index: self.frames,
                    ts_ns,
                    link: self.link,
                    orig_len,
                    data: &self.frame_buf,
                }));
            }
            match self.capture.next_packet() {
                Ok(packet) => {
                    let header = *packet.header;
                    let ts_ns = timestamp_ns(&header, self.nanoseconds);
                    if self.draining.is_some_and(|(stop_ns, _)| ts_ns > stop_ns) {
                        // Captured after the stop: not part of this run.
                        return Ok(Poll::End);
                    }
                    self.frame_buf.clear();
                    self.frame_buf.extend_from_slice(packet.data);
                    self.frames += 1;
                    return Ok(Poll::Frame(RawFrame {
                        index: self.frames,
                        ts_ns,
                        link: self.link,
                        orig_len: header.len,
                        data: &self.frame_buf,
                    }));
                }
                // Non-blocking: nothing buffered right now.
                Err(pcap::Error::TimeoutExpired) => {
                    let readable = self.wait_readable();
                    if self.draining.is_some() && !readable {
                        // Stopping, and the kernel had nothing more for a
                        // whole wait: everything captured has been read.
                        return Ok(Poll::End);
                    }
                    if idle && !readable {
                        return Ok(Poll::Idle);
                    }
                }
                Err(pcap::Error::NoMorePackets) => return Ok(Poll::End),
                Err(e) => {
                    return Err(CaptureLost {
                        interface: self.interface.clone(),
                        reason: e.to_string(),
                    }
                    .into());
                }
            }
        }
    }
}

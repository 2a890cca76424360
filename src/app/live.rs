//! What every live run shares: the capture filter, the kernel's record,
//! and a capture session that runs beside a program ([`Session`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::capture::channel::ChannelSource;
use crate::capture::live::{LiveOptions, LiveSource};
use crate::cli::KernelArgs;
use crate::sockets::CallQueue;

/// How long a live packet waits before it is shown when the kernel's
/// events are read: they come through their own buffer, a little later
/// than the packets, and each must sit before the packet it precedes.
const KERNEL_HOLD_NS: i64 = 20_000_000;

/// The kernel's record for a live run on `ports` (all when empty), its
/// events flowing into `queue`; or `None`, said once on stderr with why
/// (not root, no tracefs, --no-kernel asked for it).
pub(super) fn kernel_record(
    args: KernelArgs,
    ports: &[u16],
    queue: &CallQueue,
    verbose: bool,
) -> Option<crate::kernel::tracefs::KernelTrace> {
    static SAID: std::sync::Once = std::sync::Once::new();
    if args.no_kernel {
        return None;
    }
    match crate::kernel::tracefs::KernelTrace::start(ports, Arc::clone(queue), verbose) {
        Ok(trace) => {
            if let Ok(mut q) = queue.lock() {
                q.hold_ns = KERNEL_HOLD_NS;
                q.kernel_unfiltered = ports.is_empty();
            }
            Some(trace)
        }
        Err(why) => {
            SAID.call_once(|| {
                eprintln!("wirelab: TCP states are inferred from the packets alone: {why}");
            });
            None
        }
    }
}

/// The BPF expression for `--filter` and `--port`.
///
/// With ports, an ICMP error stays in when the packet it quotes has one of
/// them (a port unreachable is part of the story), and no other ICMP: a
/// flood of unrelated errors on the loopback would bury the ports'
/// packets and fill the kernel's buffer (measured: a busy UDP sender to a
/// closed port next to a test's connection left none of its packets).
/// The quoted header starts 8 bytes into the ICMP message: IPv4's is
/// IHL words long, IPv6's 40 bytes (no extension headers: libpcap's
/// `icmp6[]` assumes none).
pub fn capture_filter(filter: Option<&str>, ports: &[u16]) -> Option<String> {
    let ports = if ports.is_empty() {
        None
    } else {
        let any = |quoted: &dyn Fn(u16) -> String| {
            ports
                .iter()
                .map(|&p| quoted(p))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let tcp_udp = any(&|p| format!("port {p}"));
        let icmp = any(&|p| {
            format!(
                "icmp[(8 + ((icmp[8] & 0xf) << 2)):2] = {p} or icmp[(10 + ((icmp[8] & 0xf) << 2)):2] = {p}"
            )
        });
        let icmp6 = any(&|p| format!("icmp6[48:2] = {p} or icmp6[50:2] = {p}"));
        Some(format!(
            "{tcp_udp} \
             or (icmp and (icmp[0] = 3 or icmp[0] = 4 or icmp[0] = 5 or icmp[0] = 11 or icmp[0] = 12) and ({icmp})) \
             or (icmp6 and icmp6[0] < 128 and ({icmp6}))"
        ))
    };
    match (filter, ports) {
        (Some(f), Some(p)) => Some(format!("({f}) and ({p})")),
        (Some(f), None) => Some(f.to_string()),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    }
}

/// What [`capture_filter`] keeps, in words, for the "capturing on" line.
pub fn filter_words(filter: Option<&str>, ports: &[u16]) -> String {
    let mut words = Vec::new();
    if let Some(f) = filter {
        words.push(format!("filter \"{f}\""));
    }
    if !ports.is_empty() {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        words.push(format!(
            "{} {} and ICMP errors about {}",
            if ports.len() == 1 { "port" } else { "ports" },
            list.join(", "),
            if ports.len() == 1 { "it" } else { "them" }
        ));
    }
    if words.is_empty() {
        "all".to_string()
    } else {
        words.join(", ")
    }
}

/// A live capture of a run's ports, with its socket calls and the kernel's
/// record flowing into one queue: what `--capture` and the demos share.
pub(super) struct Session {
    pub source: LiveSource,
    pub queue: CallQueue,
    stop: Arc<AtomicBool>,
    kernel: Option<crate::kernel::tracefs::KernelTrace>,
}

impl Session {
    /// Open the capture of `ports` (and their ICMP errors), and the
    /// kernel's record of them unless `--no-kernel`.
    pub(super) fn open(
        ports: &[u16],
        kernel: KernelArgs,
        verbose: bool,
    ) -> anyhow::Result<Session> {
        Session::open_on(
            LiveOptions {
                filter: capture_filter(None, ports),
                ..LiveOptions::default()
            },
            ports,
            kernel,
            verbose,
        )
    }

    /// The same, capturing as `options` say (an interface of a lab's own
    /// network, a filter that keeps IP fragments, which carry no ports).
    pub(super) fn open_on(
        options: LiveOptions,
        ports: &[u16],
        kernel: KernelArgs,
        verbose: bool,
    ) -> anyhow::Result<Session> {
        let stop = Arc::new(AtomicBool::new(false));
        let source = LiveSource::open(&options, Arc::clone(&stop))?;
        let queue = CallQueue::default();
        let kernel = kernel_record(kernel, ports, &queue, verbose);
        Ok(Session {
            source,
            queue,
            stop,
            kernel,
        })
    }

    /// Start `pipeline` on its own thread, fed by the capture and the
    /// queue; the caller then runs the program whose traffic it shows.
    pub(super) fn start(
        self,
        pipeline: impl FnOnce(ChannelSource, CallQueue) -> anyhow::Result<()> + Send + 'static,
    ) -> Running {
        let Session {
            source,
            queue,
            stop,
            kernel,
        } = self;
        // Read on a thread of its own: the pipeline's waits (for calls, for
        // the kernel's events) never hold the capture back.
        let source = ChannelSource::start(source);
        let thread = std::thread::spawn(move || pipeline(source, queue));
        // The capture thread is reading before the program starts.
        std::thread::sleep(Duration::from_millis(100));
        Running {
            stop,
            thread,
            _kernel: kernel,
        }
    }
}

/// A session's pipeline, running.
pub(super) struct Running {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
    /// Its tracepoints are removed when the run ends.
    _kernel: Option<crate::kernel::tracefs::KernelTrace>,
}

impl Running {
    /// The program is done: let its last packets (a delayed ACK is ~40 ms)
    /// reach the capture, then stop reading (what the kernel still holds
    /// is drained).
    pub(super) fn stop(&self) {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Wait for the pipeline to finish its output.
    pub(super) fn join(self) -> anyhow::Result<()> {
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread failed"))?
    }
}

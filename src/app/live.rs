//! What every live run shares: the capture filter and the kernel's record.

use std::sync::Arc;

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
pub fn capture_filter(filter: Option<&str>, ports: &[u16]) -> Option<String> {
    let ports = if ports.is_empty() {
        None
    } else {
        let list: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
        // ICMP stays in: a port-unreachable answer is part of the story.
        Some(format!("{} or icmp or icmp6", list.join(" or ")))
    };
    match (filter, ports) {
        (Some(f), Some(p)) => Some(format!("({f}) and ({p})")),
        (Some(f), None) => Some(f.to_string()),
        (None, Some(p)) => Some(p),
        (None, None) => None,
    }
}

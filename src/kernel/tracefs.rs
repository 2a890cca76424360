//! A private tracefs instance for one run: created at the start (events
//! filtered to the capture's ports where the event has port fields), read
//! from `trace_pipe` on a thread into the timeline's queue, and removed on
//! every way out: the end of the run and errors (Drop), SIGTERM and SIGHUP
//! (and SIGINT where no other handler stops the run gracefully), and a
//! killed earlier run (its instance is removed by the next one).
//!
//! Written by hand over the tracefs files: the crates that read tracepoints
//! go through perf or eBPF, which need more than these few files do.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{parse_line, EVENTS};
use crate::call::Line;
use crate::sockets::CallQueue;

/// Instances of this process, for the signal handlers to remove, each
/// with a flag its reader sets once it closed `trace_pipe` (an instance
/// with an open reader cannot be removed).
static ACTIVE: Mutex<Vec<(PathBuf, Arc<AtomicBool>)>> = Mutex::new(Vec::new());
/// Set on a fatal signal: every reader stops at once.
static ABORT: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "wirelab-";

/// The kernel's events for one live run, flowing into a timeline's queue.
pub struct KernelTrace {
    instance: PathBuf,
    stop: Arc<AtomicBool>,
    /// Set by the reader once `trace_pipe` is closed.
    closed: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

/// Where tracefs is, mounting it if it is not (as root).
fn tracefs_root() -> Result<PathBuf, String> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let dir = Path::new(dir);
        if dir.join("instances").is_dir() {
            return Ok(dir.to_path_buf());
        }
    }
    let dir = Path::new("/sys/kernel/tracing");
    if dir.is_dir() {
        let (source, target, kind) = (c"nodev", c"/sys/kernel/tracing", c"tracefs");
        // Another run may mount it at the same moment (this mount then
        // fails): what counts is that it is there afterwards.
        // SAFETY: mount(2) with valid NUL-terminated strings and no data.
        let _ = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                kind.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if dir.join("instances").is_dir() {
            return Ok(dir.to_path_buf());
        }
    }
    Err("tracefs is not available here (no /sys/kernel/tracing)".into())
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    fs::write(path, text)
}

/// Stop an instance's events and remove it.
fn remove(instance: &Path) {
    let _ = write(&instance.join("events/enable"), "0");
    let _ = fs::remove_dir(instance);
}

/// Remove instances left by runs whose process is gone (killed with
/// SIGKILL, or a crash): `wirelab-PID-N` where /proc/PID does not exist.
fn remove_stale(root: &Path) {
    let Ok(entries) = fs::read_dir(root.join("instances")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove(&entry.path());
        }
    }
}

/// Remove every instance of this process (from a signal handler's thread):
/// stop the readers, wait (briefly) for them to close their pipes, remove.
pub fn remove_all() {
    ABORT.store(true, Ordering::Relaxed);
    let Ok(mut active) = ACTIVE.lock() else {
        return;
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    for (instance, closed) in active.drain(..) {
        while !closed.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        remove(&instance);
    }
}

/// CLOCK_REALTIME - CLOCK_MONOTONIC in ns: what turns the trace's `mono`
/// clock into the packets' clock.
fn mono_offset_ns() -> i64 {
    let read = |clock| {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime fills the timespec it is given.
        unsafe { libc::clock_gettime(clock, &mut t) };
        t.tv_sec * 1_000_000_000 + t.tv_nsec
    };
    let mono = read(libc::CLOCK_MONOTONIC);
    let real = read(libc::CLOCK_REALTIME);
    real - mono
}

impl KernelTrace {
    /// Start reading the kernel's TCP events for `ports` (all ports when
    /// empty) into `queue`. The error says why the record is not available.
    /// `probes`: also each segment's window and congestion figures (`-v`).
    pub fn start(ports: &[u16], queue: CallQueue, probes: bool) -> Result<KernelTrace, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the kernel's record (tracefs) needs root".into());
        }
        let root = tracefs_root()?;
        remove_stale(&root);
        let instance = root.join("instances").join(format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&instance)
            .map_err(|e| format!("cannot create a trace instance in {}: {e}", root.display()))?;
        // Until a reader exists, the instance can be removed at once.
        let closed = Arc::new(AtomicBool::new(true));
        if let Ok(mut active) = ACTIVE.lock() {
            active.push((instance.clone(), Arc::clone(&closed)));
        }
        let trace = KernelTrace {
            instance,
            stop: Arc::new(AtomicBool::new(false)),
            closed,
            reader: None,
        };
        trace.configure(ports, probes)?;
        trace.read_into(queue, ports.to_vec())
    }

    fn configure(&self, ports: &[u16], probes: bool) -> Result<(), String> {
        let i = &self.instance;
        write(&i.join("trace_clock"), "mono").map_err(|e| format!("trace_clock: {e}"))?;
        let filter = ports
            .iter()
            .map(|p| format!("sport == {p} || dport == {p}"))
            .collect::<Vec<_>>()
            .join(" || ");
        let mut enabled = 0;
        for (system, name) in EVENTS {
            if name == "tcp_probe" && !probes {
                continue;
            }
            let dir = i.join("events").join(system).join(name);
            // An event this kernel lacks is left out; its fields are read
            // from its format file.
            let Ok(format) = fs::read_to_string(dir.join("format")) else {
                continue;
            };
            if !filter.is_empty() && format.contains(" sport;") && format.contains(" dport;") {
                let _ = write(&dir.join("filter"), &filter);
            }
            if write(&dir.join("enable"), "1").is_ok() {
                enabled += 1;
            }
        }
        if enabled == 0 {
            return Err("this kernel has none of the TCP tracepoints".into());
        }
        Ok(())
    }

    fn read_into(mut self, queue: CallQueue, ports: Vec<u16>) -> Result<KernelTrace, String> {
        let pipe = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.instance.join("trace_pipe"))
            .map_err(|e| format!("trace_pipe: {e}"))?;
        let offset = mono_offset_ns();
        let stop = Arc::clone(&self.stop);
        let closed = Arc::clone(&self.closed);
        closed.store(false, Ordering::Relaxed);
        self.reader = Some(std::thread::spawn(move || {
            read_pipe(pipe, offset, &stop, &queue, &ports);
            closed.store(true, Ordering::Relaxed);
        }));
        Ok(self)
    }
}

/// Read lines until `stop`, then what is left; each event on one of
/// `ports` (any, when empty) goes into the queue at its time. The kernel's
/// filter cannot do this for `tcp_send_reset`, which has no port fields.
fn read_pipe(mut pipe: fs::File, offset: i64, stop: &AtomicBool, queue: &CallQueue, ports: &[u16]) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    // Once asked to stop, what the kernel has buffered is still read, for
    // at most half a second (busy traffic must not keep it running).
    let mut deadline: Option<std::time::Instant> = None;
    loop {
        if ABORT.load(Ordering::Relaxed) {
            return;
        }
        if deadline.is_none() && stop.load(Ordering::Relaxed) {
            deadline = Some(std::time::Instant::now() + std::time::Duration::from_millis(500));
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return;
        }
        let mut p = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut p, 1, 50) };
        if ready <= 0 {
            if deadline.is_some() {
                return;
            }
            continue;
        }
        let n = match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if deadline.is_some() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        partial.extend_from_slice(&buf[..n]);
        let Some(end) = partial.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let text = String::from_utf8_lossy(&partial[..end]).into_owned();
        partial.drain(..=end);
        for line in text.lines() {
            if let Some((ts_ns, event)) = parse_line(line, offset) {
                let (local, remote) = event.ends();
                let ours = ports.is_empty()
                    || ports.contains(&local.port())
                    || remote.is_some_and(|r| ports.contains(&r.port()));
                if !ours {
                    continue;
                }
                if let Ok(mut q) = queue.lock() {
                    q.push(Line::Kernel(Box::new(crate::call::KernelLine {
                        ts_ns,
                        event,
                        frame: None,
                        conn: None,
                        client_side: None,
                        inferred: None,
                        kernel_view: None,
                        settled: true,
                    })));
                }
            }
        }
    }
}

impl Drop for KernelTrace {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        remove(&self.instance);
        if let Ok(mut active) = ACTIVE.lock() {
            active.retain(|(i, _)| i != &self.instance);
        }
    }
}

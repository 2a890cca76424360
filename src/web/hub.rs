//! The run's events on their way to the browsers: every line is kept (up
//! to a cap), so a browser that opens the page late still sees the run from
//! its start, and each viewer's stream is woken when a line arrives.
//!
//! The pipeline pushes from its own (blocking) thread; the viewers' streams
//! wait on the server's tokio runtime (`Notify`); the command's main thread
//! waits for a first viewer, for the Step button and for the viewers to
//! have everything (`Condvar`). One mutex guards all of it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The most packets a page is sent: the HTML export's cap, so the live
/// view and the file hold the same rows.
pub const MAX_PACKETS: u64 = crate::export::mermaid::MAX_PACKETS;
/// The most lines of any kind kept (socket calls, kernel events): a long
/// trace cannot grow the server's memory without bound.
pub const MAX_LINES: usize = 20_000;
/// Browsers streaming at once; more get 503.
pub const MAX_VIEWERS: usize = 16;

/// What a line is, for the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Packet,
    /// A call, kernel event, conversation summary: dropped past the cap.
    Other,
    /// The lab, its checks, a pause, the end: always kept (a few per run).
    Always,
}

pub struct Hub {
    state: Mutex<State>,
    /// Wakes the viewers' streams.
    arrived: tokio::sync::Notify,
    /// Wakes the command's thread (a viewer came or went, Step pressed).
    changed: Condvar,
    /// A random word the page sends with Step, so another site's page
    /// cannot press it through the student's browser.
    pub token: String,
}

#[derive(Default)]
struct State {
    lines: Vec<Arc<str>>,
    packets: u64,
    /// Packets and lines left out past the caps.
    left_out: u64,
    /// No more lines will come: a stream ends once it has sent them all.
    closed: bool,
    /// The server is going: streams end now.
    stopped: bool,
    viewers: usize,
    /// A viewer has connected at some point.
    opened: bool,
    /// Step presses not yet taken by the lab.
    steps: u64,
}

/// What a viewer's stream does next.
pub enum Next {
    Lines(Vec<Arc<str>>),
    End,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::default(),
            arrived: tokio::sync::Notify::new(),
            changed: Condvar::new(),
            token: random_token(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn woken(&self) {
        self.arrived.notify_waiters();
        self.changed.notify_all();
    }

    /// Add one JSON line.
    pub fn push(&self, line: String, kind: Kind) {
        let mut state = self.lock();
        let over = match kind {
            Kind::Packet => state.packets >= MAX_PACKETS || state.lines.len() >= MAX_LINES,
            Kind::Other => state.lines.len() >= MAX_LINES,
            Kind::Always => false,
        };
        if over {
            state.left_out += 1;
            if state.left_out == 1 {
                let cap =
                    serde_json::json!({"kind": "cap", "packets": MAX_PACKETS, "lines": MAX_LINES});
                state.lines.push(cap.to_string().into());
            }
        } else {
            if kind == Kind::Packet {
                state.packets += 1;
            }
            state.lines.push(line.into());
        }
        drop(state);
        self.woken();
    }

    /// The lines after the first `from`, waiting for some when there are none yet.
    pub async fn next(&self, from: usize) -> Next {
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            // Registered before looking, so a push in between still wakes us.
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.stopped {
                    return Next::End;
                }
                if state.lines.len() > from {
                    return Next::Lines(state.lines[from..].to_vec());
                }
                if state.closed {
                    return Next::End;
                }
            }
            notified.await;
        }
    }

    /// A browser starts streaming: `None` when there are enough already.
    pub fn join(self: &Arc<Hub>) -> Option<Viewer> {
        let mut state = self.lock();
        if state.viewers >= MAX_VIEWERS {
            return None;
        }
        state.viewers += 1;
        state.opened = true;
        drop(state);
        self.changed.notify_all();
        Some(Viewer {
            hub: Arc::clone(self),
        })
    }

    /// Block until a browser has opened the stream.
    pub fn wait_for_viewer(&self) {
        let mut state = self.lock();
        while !state.opened && !state.stopped {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// No more lines: each stream ends once it has sent what is there.
    pub fn close(&self) {
        self.lock().closed = true;
        self.woken();
    }

    /// Block until every viewer has had every line (its stream ended),
    /// for at most `limit`.
    pub fn wait_viewers_done(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        while state.viewers > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// End every stream now (the server is going).
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.woken();
    }

    /// Returns once [`Hub::stop`] was called (the server's graceful end).
    pub async fn stopped(&self) {
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            // Registered before looking, as in `next`.
            notified.as_mut().enable();
            if self.lock().stopped {
                return;
            }
            notified.await;
        }
    }

    /// The lab waits before a step (`--step`): the page shows the step and
    /// its Step button, and this returns when the button is pressed.
    pub fn pause(&self, step: &str) {
        self.push(
            serde_json::json!({"kind": "pause", "step": step}).to_string(),
            Kind::Always,
        );
        let mut state = self.lock();
        while state.steps == 0 && !state.stopped {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.steps = state.steps.saturating_sub(1);
    }

    /// The Step button was pressed.
    pub fn step(&self) {
        self.lock().steps += 1;
        self.woken();
    }

    /// How many lines were left out past the caps.
    pub fn left_out(&self) -> u64 {
        self.lock().left_out
    }
}

/// One browser streaming; counted until its stream is dropped.
pub struct Viewer {
    hub: Arc<Hub>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.hub.lock().viewers -= 1;
        self.hub.changed.notify_all();
    }
}

/// 128 random bits as hex, from the kernel's generator.
fn random_token() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_past_the_cap_are_left_out_with_one_cap_line() {
        let hub = Hub::new();
        for i in 0..MAX_PACKETS + 5 {
            hub.push(
                format!("{{\"kind\":\"packet\",\"frame\":{i}}}"),
                Kind::Packet,
            );
        }
        hub.push("{\"kind\":\"end\"}".to_string(), Kind::Always);
        let lines = hub.lock().lines.clone();
        assert_eq!(lines.len() as u64, MAX_PACKETS + 2);
        assert!(lines[MAX_PACKETS as usize].contains("\"cap\""));
        assert!(lines.last().is_some_and(|l| l.contains("end")));
        assert_eq!(hub.left_out(), 5);
    }

    #[test]
    fn viewers_are_bounded_and_counted_until_dropped() {
        let hub = Hub::new();
        let viewers: Vec<Viewer> = (0..MAX_VIEWERS).filter_map(|_| hub.join()).collect();
        assert_eq!(viewers.len(), MAX_VIEWERS);
        assert!(hub.join().is_none());
        drop(viewers);
        assert!(hub.join().is_some());
        assert_eq!(hub.token.len(), 32);
    }
}

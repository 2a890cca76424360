//! A progress bar for long replays, on stderr.
//!
//! Shown only when stderr is a terminal and the timeline does not go to
//! that same terminal (so it never mixes with the output), and only once a
//! replay has run for a second. The clock is read every few thousand
//! packets, so the bar costs nothing per packet.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Packets between two looks at the clock.
const CHECK_EVERY: u64 = 1 << 14;
/// Replays shorter than this show no bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

pub struct Progress {
    enabled: bool,
    start: Instant,
    next_check: u64,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            start: Instant::now(),
            next_check: CHECK_EVERY,
            bar: None,
        }
    }

    pub fn off() -> Progress {
        Progress::new(false)
    }

    /// After `packets` packets, at `position` (bytes read, file size).
    pub fn tick(&mut self, packets: u64, position: Option<(u64, u64)>) {
        if !self.enabled || packets < self.next_check {
            return;
        }
        self.next_check = packets + CHECK_EVERY;
        let Some((read, total)) = position else {
            return;
        };
        let elapsed = self.start.elapsed();
        if self.bar.is_none() && elapsed >= SHOW_AFTER {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:24} {percent:>3}% of {total_bytes}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            let rate = packets as f64 / elapsed.as_secs_f64().max(1e-9);
            bar.set_position(read);
            bar.set_message(format!(
                "{packets} packets, {:.0}k packets/s",
                rate / 1000.0
            ));
        }
    }

    /// Remove the bar, leaving the terminal as it was.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

//! One stop that every thread, forked process and loop of the echo programs
//! hears: Ctrl-C, SIGTERM or `--duration`, as mini-redis's shutdown does
//! with a broadcast channel.
//!
//! The teaching modes block in recv() and accept() on purpose (a thread per
//! connection, a forked process per connection, a poll() loop), and blocking
//! code cannot `select!` on a channel. So the stop is also a file
//! descriptor: one end of a socket pair that becomes readable when the stop
//! is triggered. Every blocking wait polls its own socket and this
//! descriptor together ([`Shutdown::wait_readable`]) and wakes at once; a
//! forked child inherits the descriptor, so the parent's stop reaches it.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};

#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    triggered: AtomicBool,
    /// Readable once the stop is triggered (a byte is written to `wake`
    /// and never read, so it stays readable for every poller).
    readable: UnixStream,
    wake: UnixStream,
}

/// What a wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The socket has something to read (data, a connection, EOF).
    Readable,
    /// The stop was triggered.
    Stop,
}

/// Whether `fd` has something to read, without waiting.
pub fn readable_now(fd: impl AsFd) -> bool {
    let mut fds = [PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN)];
    let now = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0)
}

/// The stop's descriptors live at 100 and above: a student's first socket
/// should be fd 3, as in their own programs.
const FIRST_FD: RawFd = 100;

fn moved_up(fd: impl Into<OwnedFd>) -> std::io::Result<OwnedFd> {
    let fd: OwnedFd = fd.into();
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, FIRST_FD)?)
}

impl Shutdown {
    pub fn new() -> std::io::Result<Shutdown> {
        let (readable, wake) = UnixStream::pair()?;
        let readable = UnixStream::from(moved_up(readable)?);
        let wake = UnixStream::from(moved_up(wake)?);
        Ok(Shutdown {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                readable,
                wake,
            }),
        })
    }

    /// Stop everything that listens. Safe to call more than once, from any
    /// thread (not from a signal handler: the handlers here run on threads).
    pub fn trigger(&self) {
        if !self.inner.triggered.swap(true, Ordering::SeqCst) {
            let _ = (&self.inner.wake).write_all(b"x");
        }
    }

    /// Triggered here, or by a signal (whose handler can only write to
    /// the descriptor).
    pub fn is_triggered(&self) -> bool {
        if self.inner.triggered.load(Ordering::SeqCst) {
            return true;
        }
        let woken = readable_now(&self.inner.readable);
        if woken {
            self.inner.triggered.store(true, Ordering::SeqCst);
        }
        woken
    }

    /// Block until `socket` is readable or the stop comes, whichever is
    /// first (the stop wins a tie: a stopping server takes no new work).
    pub fn wait_readable(&self, socket: impl AsFd) -> Woken {
        loop {
            if self.is_triggered() {
                return Woken::Stop;
            }
            let mut fds = [
                PollFd::new(&self.inner.readable, PollFlags::IN),
                PollFd::from_borrowed_fd(socket.as_fd(), PollFlags::IN),
            ];
            if poll(&mut fds, None).is_err() {
                continue; // EINTR
            }
            if !fds[0].revents().is_empty() || self.is_triggered() {
                return Woken::Stop;
            }
            if !fds[1].revents().is_empty() {
                return Woken::Readable;
            }
        }
    }

    /// Block until the stop.
    pub fn wait(&self) {
        while self.wait_readable(&self.inner.readable) != Woken::Stop {}
    }

    /// The stop's descriptor, to poll beside a loop's own sockets.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.readable.as_fd()
    }

    /// For tokio tasks: ready at the stop (a tokio `UnixStream` on a copy
    /// of the stop's descriptor), to `select!` on beside a socket.
    pub async fn stopped(&self) {
        let copy = self.inner.readable.try_clone().and_then(|c| {
            c.set_nonblocking(true)?;
            tokio::net::UnixStream::from_std(c)
        });
        let Ok(copy) = copy else {
            return;
        };
        while !self.is_triggered() {
            if copy.readable().await.is_err() {
                return;
            }
        }
    }

    /// Trigger on Ctrl-C (SIGINT), SIGTERM, and after `duration`. The
    /// signal handler writes a byte to the stop's descriptor (all a signal
    /// handler may safely do): every waiter wakes.
    pub fn on_signals(&self, duration: Option<Duration>) -> anyhow::Result<()> {
        use anyhow::Context;
        for signal in [libc::SIGINT, libc::SIGTERM] {
            let wake = moved_up(self.inner.wake.try_clone()?)?;
            signal_hook::low_level::pipe::register(signal, wake)
                .context("cannot install the signal handlers")?;
        }
        if let Some(d) = duration {
            let on_time = self.clone();
            std::thread::spawn(move || {
                std::thread::sleep(d);
                on_time.trigger();
            });
        }
        Ok(())
    }

    /// In a forked child: the terminal's Ctrl-C goes to the whole process
    /// group, and would end the child before it closes its connection
    /// visibly; it ignores SIGINT and SIGTERM and stops when the parent's
    /// stop reaches it through [`Shutdown::fd`].
    pub fn in_forked_child() {
        // SAFETY: setting a signal's disposition to SIG_IGN has no
        // preconditions.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Shutdown, Woken};

    #[test]
    fn a_waiter_wakes_at_the_stop_and_sees_data_before_it() {
        let stop = Shutdown::new().unwrap();
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut b, b"x").unwrap();
        assert_eq!(stop.wait_readable(&a), Woken::Readable);
        let waiter = {
            let stop = stop.clone();
            let (c, d) = std::os::unix::net::UnixStream::pair().unwrap();
            std::thread::spawn(move || {
                let _quiet_peer = d;
                stop.wait_readable(&c)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.trigger();
        stop.trigger();
        assert_eq!(waiter.join().unwrap(), Woken::Stop);
        assert_eq!(stop.wait_readable(&a), Woken::Stop);
    }
}

//! The labs' echo programs (`wirelab serve`, `wirelab client`), built so
//! that every socket call shows itself: `bind(0.0.0.0:12333) -> EADDRINUSE
//! (Address already in use)`.
//!
//! Each call goes through [`Calls::run`], which prints the call and its
//! result and hands back a [`CallError`] carrying the errno, so tests assert
//! on what the kernel said, not on printed prose.

pub mod client;
pub mod proxy;
pub mod server;

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// The symbolic name of an errno value, as `errno(3)` lists it.
pub fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::EPIPE => "EPIPE",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EINVAL => "EINVAL",
        libc::EAGAIN => "EAGAIN",
        libc::EINTR => "EINTR",
        libc::ENOTCONN => "ENOTCONN",
        libc::EISCONN => "EISCONN",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EBADF => "EBADF",
        libc::EINPROGRESS => "EINPROGRESS",
        _ => "E?",
    }
}

/// A socket call that failed, with the errno the kernel returned.
#[derive(Debug)]
pub struct CallError {
    /// The call as printed: `bind(127.0.0.1:12333)`.
    pub call: String,
    pub errno: Option<i32>,
    pub source: io::Error,
}

impl CallError {
    pub fn errno_name(&self) -> &'static str {
        self.errno.map(errno_name).unwrap_or("error")
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} ({})",
            self.call,
            self.errno_name(),
            os_text(&self.source)
        )
    }
}

impl std::error::Error for CallError {}

/// The OS's own text for an error, without Rust's " (os error N)" suffix.
fn os_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Socket calls waiting to be merged into a captured timeline, with the
/// time each call started (ns since the epoch, the clock pcap uses).
pub type CallQueue = Arc<Mutex<std::collections::VecDeque<(i64, String)>>>;

#[derive(Clone)]
enum Sink {
    Writer(Arc<Mutex<Box<dyn Write + Send>>>),
    Queue(CallQueue),
}

/// Where socket calls are reported: one line each, prefixed with who made it.
#[derive(Clone)]
pub struct Calls {
    who: String,
    sink: Sink,
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Calls {
    pub fn stdout(who: &str) -> Calls {
        Calls {
            who: who.to_string(),
            sink: Sink::Writer(Arc::new(Mutex::new(Box::new(io::stdout())))),
        }
    }

    /// Reports nowhere (library use, tests).
    pub fn quiet(who: &str) -> Calls {
        Calls {
            who: who.to_string(),
            sink: Sink::Writer(Arc::new(Mutex::new(Box::new(io::sink())))),
        }
    }

    /// Reports into a queue that a live capture merges with its packets by time.
    pub fn queued(who: &str, queue: CallQueue) -> Calls {
        Calls {
            who: who.to_string(),
            sink: Sink::Queue(queue),
        }
    }

    /// The same output, reported under another name (a worker).
    pub fn named(&self, who: String) -> Calls {
        Calls {
            who,
            sink: self.sink.clone(),
        }
    }

    pub fn say(&self, line: &str) {
        let ts_ns = now_ns();
        match &self.sink {
            Sink::Writer(out) => {
                if let Ok(mut out) = out.lock() {
                    let _ = writeln!(out, "{}: {line}", self.who);
                    let _ = out.flush();
                }
            }
            Sink::Queue(queue) => {
                if let Ok(mut q) = queue.lock() {
                    q.push_back((ts_ns, format!("{}: {line}", self.who)));
                }
            }
        }
    }

    /// Run one call, report `call -> result`, and turn a failure into a [`CallError`].
    pub fn run<T>(
        &self,
        call: impl Into<String>,
        f: impl FnOnce() -> io::Result<T>,
        describe: impl FnOnce(&T) -> String,
    ) -> Result<T, CallError> {
        let call = call.into();
        // Stamped when the call returns, with its result: connect() -> ok
        // lands after the SYN-ACK that completed it, recv() after the data.
        match f() {
            Ok(v) => {
                self.say(&format!("{call} -> {}", describe(&v)));
                Ok(v)
            }
            Err(source) => {
                let err = CallError {
                    call,
                    errno: source.raw_os_error(),
                    source,
                };
                self.say(&err.to_string());
                Err(err)
            }
        }
    }
}

/// How text is turned into bytes, as the lab programs choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Ascii,
    /// Send the message's bytes as given.
    Bytes,
}

/// Encode a message, failing before anything is sent when ASCII cannot
/// hold it (Python's `'γειά'.encode('ascii')` raises the same way).
pub fn encode(message: &str, encoding: Encoding) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Utf8 | Encoding::Bytes => Ok(message.as_bytes().to_vec()),
        Encoding::Ascii => match message.char_indices().find(|(_, c)| !c.is_ascii()) {
            None => Ok(message.as_bytes().to_vec()),
            Some((i, c)) => Err(format!(
                "UnicodeEncodeError: 'ascii' codec can't encode character '{c}' (U+{:04X}) in position {}: \
                 ordinal not in range(128); nothing was sent",
                c as u32,
                message[..i].chars().count()
            )),
        },
    }
}

/// Describe received bytes as text, saying where a multi-byte UTF-8
/// character was cut by the recv() boundary.
pub fn describe_chunk(carry: &mut Vec<u8>, chunk: &[u8]) -> String {
    let mut bytes = std::mem::take(carry);
    let had_carry = !bytes.is_empty();
    bytes.extend_from_slice(chunk);
    let tail = crate::timeline::Utf8Carry::trailing(&bytes);
    let keep = bytes.len() - usize::from(tail.len);
    carry.extend_from_slice(tail.as_slice());
    let mut out = String::new();
    if had_carry {
        out.push_str("[completes a character cut by the previous recv] ");
    }
    out.push('"');
    out.push_str(&crate::render::escape::preview(&[], &bytes[..keep], 200));
    out.push('"');
    if tail.len > 0 {
        // The lead byte says how long the character is (UTF-8: 110xxxxx is
        // 2 bytes, 1110xxxx 3, 11110xxx 4).
        let need = match tail.bytes[0] {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            _ => 2,
        };
        let here = usize::from(tail.len);
        out.push_str(&format!(
            " [recv boundary cut a character: its first {here} of {need} bytes ({}) arrived in this recv, \
             the other {} {} in the next]",
            tail.as_slice()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
            need - here,
            if need - here == 1 { "comes" } else { "come" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{describe_chunk, encode, errno_name, Encoding};

    #[test]
    fn ascii_refuses_greek_before_sending() {
        let err = encode("γειά", Encoding::Ascii).unwrap_err();
        assert!(err.contains("can't encode character 'γ'"), "{err}");
        assert_eq!(encode("hi", Encoding::Ascii).unwrap(), b"hi");
    }

    #[test]
    fn recv_of_three_bytes_splits_greek_letters() {
        let bytes = "καλημέρα".as_bytes();
        let mut carry = Vec::new();
        let first = describe_chunk(&mut carry, &bytes[..3]);
        assert!(
            first.starts_with("\"κ\"") && first.contains("recv boundary cut a character"),
            "{first}"
        );
        // κ is ce ba, α is ce b1: this recv ended after ce.
        assert!(
            first.contains(
                "first 1 of 2 bytes (ce) arrived in this recv, the other 1 comes in the next"
            ),
            "{first}"
        );
        let second = describe_chunk(&mut carry, &bytes[3..6]);
        assert!(second.starts_with("[completes"), "{second}");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EADDRINUSE), "EADDRINUSE");
    }
}

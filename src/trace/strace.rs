//! Reading strace's output: one system call per line, as strace 5 and 6
//! print it with `-f -ttt -T -yy -xx`:
//!
//! ```text
//! 4165  1795388353.568096 sendto(5<TCP:[127.0.0.1:32916->127.0.0.1:23777]>, "\xce\xb3", 2, 0, NULL, 0) = 2 <0.000298>
//! 4165  1795388353.568697 recvfrom(5<TCP:[...]>,  <unfinished ...>
//! 4165  1795388353.569036 <... recvfrom resumed>"\xce\xb3\xce", 10, 0, NULL, NULL) = 3 <0.000327>
//! ```
//!
//! `-xx` writes every string byte as `\xHH`, so payload, including quotes
//! and parentheses, can never be confused with the syntax around it; `-yy`
//! names each socket by its addresses. A line that does not parse is
//! skipped, never guessed at.

use std::collections::HashMap;

/// One finished system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    pub pid: u32,
    /// Entry time, ns since the epoch (the clock packet timestamps use).
    pub entry_ns: i64,
    /// Time spent in the call, ns.
    pub duration_ns: i64,
    pub name: String,
    /// The arguments as strace printed them.
    pub args: String,
    /// The return value: a number, or `-1` with the errno name and text.
    pub ret: Ret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ret {
    /// The value, and its `-yy` decoration for a returned fd (accept).
    Value(i64, Option<String>),
    Error {
        errno: String,
        text: String,
    },
    /// `= ?` (the process exited inside the call).
    Unknown,
    /// `= ? ERESTARTSYS (To be restarted if SA_RESTART is set)`: a signal
    /// interrupted the call; the kernel restarts it or it fails with EINTR.
    Interrupted {
        errno: String,
    },
}

impl Syscall {
    /// The exit time: when the call's effect was visible to the program.
    pub fn exit_ns(&self) -> i64 {
        self.entry_ns.saturating_add(self.duration_ns)
    }

    /// The first argument as an fd, with its `-yy` decoration
    /// (`TCP:[127.0.0.1:1->127.0.0.1:2]`), if it has one.
    pub fn fd(&self) -> Option<(i32, Option<&str>)> {
        fd_at(&self.args)
    }

    /// The first string argument, decoded.
    pub fn data(&self) -> Option<Vec<u8>> {
        let start = self.args.find('"')?;
        let rest = &self.args[start + 1..];
        let end = rest.find('"')?;
        Some(unhex(&rest[..end]))
    }

    /// The data buffers, concatenated (one for send/recv, each iovec's for
    /// writev/sendmsg), as strace showed them (possibly cut, see
    /// [`Syscall::length`]). Address strings (`inet_addr("…")`,
    /// `inet_pton(…, "…")`, `sun_path="…"`) are not data.
    pub fn buffers(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = self.args.as_str();
        while let Some(start) = rest.find('"') {
            let before = &rest[..start];
            let after = &rest[start + 1..];
            let Some(end) = after.find('"') else { break };
            let address = before.ends_with("inet_addr(")
                || before.ends_with("inet_pton(AF_INET6, ")
                || before.ends_with("inet_pton(AF_INET, ")
                || before.ends_with("sun_path=");
            if !address {
                out.extend(unhex(&after[..end]));
            }
            rest = &after[end + 1..];
        }
        out
    }

    /// The byte count the program passed: the length argument of
    /// send/sendto/recv/recvfrom/read/write, the sum of `iov_len` for the
    /// vector calls. strace may show fewer bytes than this (`-s`).
    pub fn length(&self) -> Option<u64> {
        match self.name.as_str() {
            "send" | "sendto" | "recv" | "recvfrom" | "read" | "write" => {
                // The buffer is one hex string without ", ": the third field.
                self.args.split(", ").nth(2)?.parse().ok()
            }
            "sendmsg" | "recvmsg" | "writev" | "readv" => {
                let mut total = 0u64;
                let mut rest = self.args.as_str();
                let mut any = false;
                while let Some(at) = rest.find("iov_len=") {
                    rest = &rest[at + "iov_len=".len()..];
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    total = total.saturating_add(rest[..digits].parse().ok()?);
                    any = true;
                }
                any.then_some(total)
            }
            _ => None,
        }
    }

    /// execve's argument vector, decoded (`["python3", "server.py"]`).
    pub fn argv(&self) -> Vec<String> {
        let Some(open) = self.args.find('[') else {
            return Vec::new();
        };
        let Some(close) = self.args[open..].find(']') else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut rest = &self.args[open + 1..open + close];
        while let Some(start) = rest.find('"') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('"') else { break };
            out.push(String::from_utf8_lossy(&unhex(&after[..end])).into_owned());
            rest = &after[end + 1..];
        }
        out
    }

    /// The socket address argument of bind/connect/sendto, as `ip:port`.
    pub fn sockaddr(&self) -> Option<String> {
        let port_at = self.args.find("_port=htons(")?;
        let port_text = &self.args[port_at + "_port=htons(".len()..];
        let port: u16 = port_text[..port_text.find(')')?].parse().ok()?;
        let ip = if let Some(at) = self.args.find("inet_addr(\"") {
            let text = &self.args[at + "inet_addr(\"".len()..];
            String::from_utf8(unhex(&text[..text.find('"')?])).ok()?
        } else if let Some(at) = self.args.find("inet_pton(AF_INET6, \"") {
            let text = &self.args[at + "inet_pton(AF_INET6, \"".len()..];
            format!(
                "[{}]",
                String::from_utf8(unhex(&text[..text.find('"')?])).ok()?
            )
        } else {
            return None;
        };
        Some(format!("{ip}:{port}"))
    }
}

/// `5<TCP:[...]>` at the start of `text`.
fn fd_at(text: &str) -> Option<(i32, Option<&str>)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let fd: i32 = text[..digits].parse().ok()?;
    let rest = &text[digits..];
    if let Some(inner) = rest.strip_prefix('<') {
        // The decoration ends at "]>" (sockets) or the first ">" (others).
        let end = inner
            .find("]>")
            .map(|e| e + 1)
            .or_else(|| inner.find('>'))?;
        return Some((fd, Some(&inner[..end])));
    }
    Some((fd, None))
}

/// Decode strace's `-xx` string body (`\xHH` per byte; tolerate plain text).
fn unhex(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') && i + 3 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A line of strace's output: a finished call, or a process ending
/// (`+++ exited with 0 +++`, `+++ killed by SIGKILL +++`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traced {
    Call(Syscall),
    Ended { pid: u32, ts_ns: i64, how: Ending },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// The signal's name: `SIGKILL`.
    Killed(String),
}

/// Joins `<unfinished ...>` and `<... resumed>` halves, per process.
#[derive(Debug, Default)]
pub struct Parser {
    unfinished: HashMap<u32, (i64, String, String)>,
}

impl Parser {
    /// Feed one line; a finished call or a process's end comes out when
    /// the line completes one.
    pub fn event(&mut self, line: &str) -> Option<Traced> {
        if let Some(call) = self.line(line) {
            return Some(Traced::Call(call));
        }
        let (pid, rest) = line.trim_end().split_once(char::is_whitespace)?;
        let (ts, body) = rest.trim_start().split_once(' ')?;
        let body = body.strip_prefix("+++ ")?.strip_suffix(" +++")?;
        let how = if let Some(code) = body.strip_prefix("exited with ") {
            Ending::Exited(code.parse().ok()?)
        } else {
            let signal = body.strip_prefix("killed by ")?;
            Ending::Killed(signal.split_whitespace().next()?.to_string())
        };
        Some(Traced::Ended {
            pid: pid.parse().ok()?,
            ts_ns: parse_seconds(ts)?,
            how,
        })
    }

    /// Feed one line; a finished call comes out when the line completes one.
    pub fn line(&mut self, line: &str) -> Option<Syscall> {
        let line = line.trim_end();
        let (pid, rest) = line.split_once(char::is_whitespace)?;
        let pid: u32 = pid.parse().ok()?;
        let rest = rest.trim_start();
        let (ts, body) = rest.split_once(' ')?;
        let entry_ns = parse_seconds(ts)?;
        if let Some(resumed) = body.strip_prefix("<... ") {
            let (name, tail) = resumed.split_once(" resumed>")?;
            let (start_ns, start_name, head) = self.unfinished.remove(&pid)?;
            if start_name != name {
                return None;
            }
            let (args_tail, ret, duration_ns) = split_result(tail)?;
            return Some(Syscall {
                pid,
                entry_ns: start_ns,
                // strace's own -T figure; the resumed line is printed a bit
                // after the call returned.
                duration_ns: if duration_ns > 0 {
                    duration_ns
                } else {
                    crate::time::since(entry_ns, start_ns)
                },
                name: name.to_string(),
                args: format!("{head}{args_tail}"),
                ret,
            });
        }
        let open = body.find('(')?;
        let name = &body[..open];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None; // "+++ exited", "--- SIGCHLD", ...
        }
        let after = &body[open + 1..];
        if let Some(head) = after.strip_suffix(" <unfinished ...>") {
            self.unfinished
                .insert(pid, (entry_ns, name.to_string(), head.to_string()));
            return None;
        }
        let (args, ret, duration_ns) = split_result(after)?;
        Some(Syscall {
            pid,
            entry_ns,
            duration_ns,
            name: name.to_string(),
            args: args.to_string(),
            ret,
        })
    }
}

/// `ARGS) = RET <DUR>` into its parts.
fn split_result(text: &str) -> Option<(&str, Ret, i64)> {
    let at = text.rfind(") = ")?;
    let args = &text[..at];
    let mut result = &text[at + 4..];
    let mut duration_ns = 0;
    if let Some(open) = result.rfind(" <") {
        if let Some(d) = result[open + 2..].strip_suffix('>') {
            duration_ns = parse_seconds(d).unwrap_or(0);
            result = &result[..open];
        }
    }
    let ret = if let Some(rest) = result.strip_prefix("? ") {
        Ret::Interrupted {
            errno: rest.split_whitespace().next().unwrap_or("?").to_string(),
        }
    } else if result.starts_with('?') {
        Ret::Unknown
    } else if let Some(err) = result.strip_prefix("-1 ") {
        let (errno, text) = err.split_once(' ').unwrap_or((err, ""));
        Ret::Error {
            errno: errno.to_string(),
            text: text.trim_matches(|c| c == '(' || c == ')').to_string(),
        }
    } else {
        let digits_end = result
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(result.len(), |(i, _)| i);
        let value: i64 = result[..digits_end].parse().ok()?;
        let decoration = fd_at(result).and_then(|(_, d)| d.map(str::to_string));
        Ret::Value(value, decoration)
    };
    Some((args, ret, duration_ns))
}

/// `1795388353.568096` (or `0.000298`) into nanoseconds.
fn parse_seconds(text: &str) -> Option<i64> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        nanos += i64::from(c.to_digit(10)?) * 10i64.pow(8 - i as u32);
    }
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::{Ending, Parser, Ret, Traced};

    #[test]
    fn a_whole_call_with_fd_data_and_duration() {
        let mut p = Parser::default();
        let c = p
            .line(r#"4165  1795388353.568896 recvfrom(4<TCP:[127.0.0.1:23777->127.0.0.1:32916]>, "\xce\xb3\xce", 3, 0, NULL, NULL) = 3 <0.000028>"#)
            .unwrap();
        assert_eq!(c.pid, 4165);
        assert_eq!(c.name, "recvfrom");
        assert_eq!(c.entry_ns, 1_795_388_353_568_896_000);
        assert_eq!(c.duration_ns, 28_000);
        assert_eq!(
            c.fd(),
            Some((4, Some("TCP:[127.0.0.1:23777->127.0.0.1:32916]")))
        );
        assert_eq!(
            c.data().unwrap(),
            "γ".bytes().chain([0xce]).collect::<Vec<u8>>()
        );
        assert_eq!(c.ret, Ret::Value(3, None));
    }

    #[test]
    fn unfinished_and_resumed_halves_join() {
        let mut p = Parser::default();
        assert!(p
            .line("4208  1795388353.559654 accept4(3<TCP:[127.0.0.1:23777]>,  <unfinished ...>")
            .is_none());
        let c = p.line(r#"4208  1795388353.568374 <... accept4 resumed>{sa_family=AF_INET, sin_port=htons(32916), sin_addr=inet_addr("\x31\x32\x37\x2e\x30\x2e\x30\x2e\x31")}, [16], SOCK_CLOEXEC) = 4<TCP:[127.0.0.1:23777->127.0.0.1:32916]> <0.008643>"#).unwrap();
        assert_eq!(c.name, "accept4");
        assert_eq!(c.entry_ns, 1_795_388_353_559_654_000);
        assert_eq!(c.exit_ns(), 1_795_388_353_568_297_000);
        assert_eq!(c.sockaddr().as_deref(), Some("127.0.0.1:32916"));
        assert_eq!(
            c.ret,
            Ret::Value(
                4,
                Some("TCP:[127.0.0.1:23777->127.0.0.1:32916]".to_string())
            )
        );
    }

    #[test]
    fn errors_and_noise() {
        let mut p = Parser::default();
        let c = p.line(r#"4165  1795388353.570110 connect(4<TCP:[33198570]>, {sa_family=AF_INET, sin_port=htons(23778), sin_addr=inet_addr("\x31\x32\x37\x2e\x30\x2e\x30\x2e\x31")}, 16) = -1 ECONNREFUSED (Connection refused) <0.000032>"#).unwrap();
        assert_eq!(
            c.ret,
            Ret::Error {
                errno: "ECONNREFUSED".into(),
                text: "Connection refused".into()
            }
        );
        assert_eq!(c.sockaddr().as_deref(), Some("127.0.0.1:23778"));
        assert!(p.line("4165  1795388353.6 +++ exited with 0 +++").is_none());
        assert!(p
            .line("4165  1795388353.6 --- SIGCHLD {si_signo=SIGCHLD} ---")
            .is_none());
        assert!(p.line("garbage").is_none());
        assert_eq!(
            p.event("4165  1795388353.6 +++ exited with 3 +++"),
            Some(Traced::Ended {
                pid: 4165,
                ts_ns: 1_795_388_353_600_000_000,
                how: Ending::Exited(3)
            })
        );
        assert!(matches!(
            p.event("4165  1795388353.6 +++ killed by SIGKILL +++"),
            Some(Traced::Ended { how: Ending::Killed(s), .. }) if s == "SIGKILL"
        ));
        let c = p.line(r#"9 1.0 execve("/usr/bin/py", ["py", "s.py"], 0x7ffd /* 3 vars */) = 0 <0.000200>"#).unwrap();
        assert_eq!(c.argv(), ["py", "s.py"]);
        // A payload with quotes and parentheses cannot break the syntax.
        let c = p.line(r#"7 1.5 sendto(3<UDP:[127.0.0.1:1->127.0.0.1:2]>, "\x29\x20\x3d\x20\x22", 5, 0, NULL, 0) = 5 <0.000001>"#).unwrap();
        assert_eq!(c.data().unwrap(), b") = \"");
    }
}

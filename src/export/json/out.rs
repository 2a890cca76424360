//! JSON written straight into the output buffer, for the lines there is
//! one of per packet or per conversation.
//!
//! serde_json's derive went through its map machinery and escaped every
//! key byte by byte: with it, `--format json` spent a fifth of its time in
//! `format_escaped_str` (perf, 3M packets). Keys here are fixed ASCII and
//! written as they are; strings that may hold anything (the explanation,
//! the escaped payload preview, a history) go through [`escape_into`],
//! which writes what serde_json writes, eight bytes at a time while none
//! needs escaping. The same lines through serde_json are compared in the
//! tests below and in `tests/exports.rs`.

use std::net::{IpAddr, SocketAddr};

use crate::render::{ipv4_bytes, words};

/// `,"name":`, the start of a pair, as one literal: written with one
/// copy of a length known at compile time.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(crate) use key;

/// Appends `,"key":value` pairs to a line (the caller writes the `{` and
/// the first pair). Each `key` is a [`key!`].
pub struct JsonOut<'o>(pub &'o mut Vec<u8>);

// Inlined: a key or name then has a length known at compile time, and its
// copy is a few moves instead of a call to memcpy (a quarter of the JSON
// renderer's time went to such calls).
impl JsonOut<'_> {
    #[inline]
    pub fn key(&mut self, key: &str) {
        self.0.extend_from_slice(key.as_bytes());
    }

    #[inline]
    pub fn num<N: itoa::Integer>(&mut self, key: &str, n: N) {
        self.key(key);
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// A number, or `null`.
    #[inline]
    pub fn opt<N: itoa::Integer>(&mut self, key: &str, n: Option<N>) {
        match n {
            Some(n) => self.num(key, n),
            None => self.null(key),
        }
    }

    /// A number, or nothing at all (the field is left out).
    #[inline]
    pub fn some<N: itoa::Integer>(&mut self, key: &str, n: Option<N>) {
        if let Some(n) = n {
            self.num(key, n);
        }
    }

    #[inline]
    pub fn flag(&mut self, key: &str, value: bool) {
        self.key(key);
        self.0
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// `true`, `false`, or `null`.
    #[inline]
    pub fn opt_flag(&mut self, key: &str, value: Option<bool>) {
        match value {
            Some(v) => self.flag(key, v),
            None => self.null(key),
        }
    }

    /// `null` for a value that is not known.
    #[inline]
    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.0.extend_from_slice(b"null");
    }

    /// One of wirelab's own names (a state, a code): nothing to escape.
    #[inline]
    pub fn name(&mut self, key: &str, name: &str) {
        self.key(key);
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(b'"');
    }

    /// Any text, escaped.
    #[inline]
    pub fn text(&mut self, key: &str, text: &str) {
        self.key(key);
        quoted(self.0, text);
    }

    /// An address, its text from `cache`.
    #[inline]
    pub fn ip_cached(&mut self, key: &str, ip: IpAddr, cache: &mut IpCache) {
        self.key(key);
        self.0.push(b'"');
        self.0.extend_from_slice(cache.text(ip));
        self.0.push(b'"');
    }

    /// `"127.0.0.1:80"`, `"[::1]:80"`, as serde writes a socket address.
    pub fn socket(&mut self, key: &str, addr: SocketAddr) {
        self.key(key);
        self.0.push(b'"');
        match addr.ip() {
            ip @ IpAddr::V4(_) => push_ip(self.0, ip),
            IpAddr::V6(_) => {
                // Display brackets it and adds a scope id, as serde does.
                use std::io::Write as _;
                let _ = write!(self.0, "{addr}");
                self.0.push(b'"');
                return;
            }
        }
        self.0.push(b':');
        self.0
            .extend_from_slice(itoa::Buffer::new().format(addr.port()).as_bytes());
        self.0.push(b'"');
    }
}

/// The text of the last two addresses written: a capture's packets mostly
/// repeat the same ones (writing both of a row's was 180 instructions).
#[derive(Debug, Default)]
pub struct IpCache {
    entries: [(Option<IpAddr>, Vec<u8>); 2],
    /// The entry the next new address replaces.
    next: usize,
}

impl IpCache {
    pub fn text(&mut self, ip: IpAddr) -> &[u8] {
        let at = match self.entries.iter().position(|(a, _)| *a == Some(ip)) {
            Some(at) => at,
            None => {
                let at = self.next;
                self.next = 1 - at;
                let (address, text) = &mut self.entries[at];
                *address = Some(ip);
                text.clear();
                push_ip(text, ip);
                at
            }
        };
        &self.entries[at].1
    }
}

/// An address as its text (IPv6 through Display, which compresses zeros as
/// the RFC says).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out.extend_from_slice(ipv4_bytes(v4, &mut [0; 15])),
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// `text` as a JSON string, quotes included.
pub fn quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    escape_into(out, text.as_bytes());
    out.push(b'"');
}

/// Whether any of eight bytes is a control character, `"` or `\\`.
fn any_to_escape(word: u64) -> bool {
    words::below(word, 0x20) | words::equal(word, b'"') | words::equal(word, b'\\') != 0
}

/// What serde_json writes for a byte that needs escaping.
fn escaped(byte: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    static CONTROL: [[u8; 6]; 32] = {
        let mut table = [[0u8; 6]; 32];
        let mut b = 0;
        while b < 32 {
            table[b] = [b'\\', b'u', b'0', b'0', HEX[b >> 4], HEX[b & 15]];
            b += 1;
        }
        table
    };
    Some(match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x09 => b"\\t",
        0x0a => b"\\n",
        0x0c => b"\\f",
        0x0d => b"\\r",
        0..=0x1f => &CONTROL[usize::from(byte)],
        _ => return None,
    })
}

/// Append `bytes` (UTF-8) with JSON's escapes, as serde_json writes them.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    // Bytes before `done` are in `out`; runs with nothing to escape are
    // copied in one piece.
    let mut done = 0;
    let mut escape = |out: &mut Vec<u8>, from: usize, to: usize| {
        for (i, &b) in bytes.iter().enumerate().take(to).skip(from) {
            if let Some(e) = escaped(b) {
                out.extend_from_slice(&bytes[done..i]);
                out.extend_from_slice(e);
                done = i + 1;
            }
        }
    };
    let words = bytes.len() / 8;
    for (at, word) in words::words(bytes) {
        if any_to_escape(word) {
            escape(out, at, at + 8);
        }
    }
    escape(out, words * 8, bytes.len());
    out.extend_from_slice(&bytes[done..]);
}

#[cfg(test)]
mod tests {
    use super::{quoted, JsonOut};

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "plain words, longer than eight bytes".into(),
            "quote \" backslash \\ end".into(),
            "é→ and \u{7f} and \u{2028} pass".into(),
        ];
        // Every byte below 0x20, alone and at each place in a word.
        for b in 0u8..0x20 {
            for pad in 0..9 {
                texts.push(format!("{}{}tail", "x".repeat(pad), char::from(b)));
            }
        }
        for text in texts {
            let mut ours = Vec::new();
            quoted(&mut ours, &text);
            let theirs = serde_json::to_vec(&text).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }

    #[test]
    fn addresses_are_written_as_serde_writes_them() {
        for addr in [
            "127.0.0.1:80",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:443",
            "[fe80::1%2]:22",
        ] {
            let addr: std::net::SocketAddr = addr.parse().unwrap();
            let mut line = Vec::new();
            let mut o = JsonOut(&mut line);
            o.socket(key!("a"), addr);
            o.ip_cached(key!("i"), addr.ip(), &mut super::IpCache::default());
            let theirs = format!(
                ",\"a\":{},\"i\":{}",
                serde_json::to_string(&addr).unwrap(),
                serde_json::to_string(&addr.ip()).unwrap()
            );
            assert_eq!(String::from_utf8_lossy(&line), theirs);
        }
    }
}

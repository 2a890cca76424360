//! Making untrusted payload safe to print.
//!
//! No crate does this for us: comfy-table, serde_json and anstream all pass
//! control characters through. A payload can hold terminal escape
//! sequences, bidi overrides that reorder the line, or zero-width
//! characters that hide text; all of them are shown as visible escapes.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::words;

/// Characters that change how text around them is displayed.
fn is_invisible_or_reordering(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{00AD}')
}

/// Append one character, escaped if it is not safe to show as itself.
pub fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if ('\u{80}'..='\u{9f}').contains(&c) || is_invisible_or_reordering(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

fn needs_escape(c: char) -> bool {
    if c.is_ascii() {
        return (c as u32) < 0x20 || c == '\u{7f}';
    }
    ('\u{80}'..='\u{9f}').contains(&c) || is_invisible_or_reordering(c)
}

/// The last line of defence before any output: control, C1, bidi and
/// zero-width characters become visible escapes. Backslashes pass through,
/// because the texts that reach here (explanations, socket calls) quote
/// payload only through [`preview`], which has already escaped it
/// (backslashes included); escaping them again would show `\\x1b` for
/// an ESC byte. Text with nothing to escape, the common case, is not copied.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    if first_to_escape(text).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            push_char(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Where the first character that needs escaping starts. Printable ASCII,
/// nearly all of an explanation, is passed over eight bytes at a time;
/// each other character is looked at on its own.
fn first_to_escape(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Bytes before `from` are known to need nothing.
    let mut from = 0;
    while from < bytes.len() {
        let rest = &bytes[from..];
        let plain = words::words(rest)
            .find(|&(_, w)| words::below(w, 0x20) | words::equal(w, 0x7f) | words::high(w) != 0)
            .map_or(rest.len() / 8 * 8, |(at, _)| at);
        // The first byte from there that is not printable ASCII: the start
        // of a character (all before it is ASCII).
        let at = rest[plain..]
            .iter()
            .position(|b| !(0x20..0x7f).contains(b))?;
        let start = from + plain + at;
        let c = text[start..].chars().next()?;
        if needs_escape(c) {
            return Some(start);
        }
        from = start + c.len_utf8();
    }
    None
}

/// A preview of payload bytes: valid UTF-8 shown as characters, anything
/// else as `\xNN`, at most `max_chars` characters, `…` when cut.
/// `carry_in` holds the start of a character the previous segment cut; a
/// character cut at the end is shown as such.
pub fn preview(carry_in: &[u8], payload: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    push_preview(&mut out, carry_in, payload, max_chars);
    out
}

/// [`preview`], appended to `out` (a row's buffer: no allocation per packet).
pub fn push_preview(out: &mut String, carry_in: &[u8], payload: &[u8], max_chars: usize) {
    let mut rest = payload;
    if !carry_in.is_empty() {
        // The continuation bytes that complete the carried character.
        let need = match carry_in[0] {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        } - carry_in.len();
        if rest.len() >= need && rest[..need].iter().all(|b| b & 0xC0 == 0x80) {
            let mut whole = carry_in.to_vec();
            whole.extend_from_slice(&rest[..need]);
            out.push_str("[…");
            for b in &rest[..need] {
                let _ = write!(out, "{b:02x}");
            }
            if let Ok(s) = std::str::from_utf8(&whole) {
                out.push_str(" completes '");
                for c in s.chars() {
                    push_char(out, c);
                }
                out.push('\'');
            }
            out.push(']');
            rest = &rest[need..];
        }
    }
    let mut shown = 0;
    while !rest.is_empty() {
        if shown >= max_chars {
            out.push('…');
            return;
        }
        match std::str::from_utf8(rest) {
            Ok(s) => {
                for c in s.chars() {
                    if shown >= max_chars {
                        out.push('…');
                        return;
                    }
                    push_char(out, c);
                    shown += 1;
                }
                return;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // SAFETY of the unwrap-free path: `good` was validated by from_utf8.
                for c in std::str::from_utf8(good).unwrap_or_default().chars() {
                    if shown >= max_chars {
                        out.push('…');
                        return;
                    }
                    push_char(out, c);
                    shown += 1;
                }
                match e.error_len() {
                    Some(n) => {
                        for b in &bad[..n] {
                            let _ = write!(out, "\\x{b:02x}");
                        }
                        shown += n;
                        rest = &bad[n..];
                    }
                    None => {
                        // Incomplete character at the end: cut by the segment boundary.
                        out.push('[');
                        for b in bad {
                            let _ = write!(out, "{b:02x}");
                        }
                        out.push_str("… character continues in the next segment]");
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{escape_text, preview};

    #[test]
    fn controls_and_escapes_become_visible() {
        assert_eq!(escape_text("a\x1b[31mb\r\n"), "a\\x1b[31mb\\r\\n");
        assert_eq!(
            escape_text("x\u{202e}y\u{200b}z\u{85}"),
            "x\\u{202e}y\\u{200b}z\\u{85}"
        );
        assert_eq!(escape_text("\x7f"), "\\x7f");
        // Already-escaped text is left as it is.
        assert_eq!(escape_text("\\x1b"), "\\x1b");
    }

    #[test]
    fn only_what_needs_it_is_escaped_wherever_it_is() {
        for pad in 0..17 {
            let plain = format!("{}µs → ok", "x".repeat(pad));
            assert!(matches!(escape_text(&plain), std::borrow::Cow::Borrowed(_)));
            for (c, bad) in [
                ('\x1b', r"\x1b"),
                ('\u{202e}', r"\u{202e}"),
                ('\x7f', r"\x7f"),
                ('\n', r"\n"),
            ] {
                let text = format!("{plain}{c}{}", "y".repeat(pad));
                assert_eq!(
                    escape_text(&text),
                    format!("{plain}{bad}{}", "y".repeat(pad))
                );
            }
        }
    }

    #[test]
    fn payload_backslashes_are_escaped_in_previews() {
        assert_eq!(preview(&[], b"a\\x1b", 40), "a\\\\x1b");
    }

    #[test]
    fn greek_text_is_shown_as_characters() {
        assert_eq!(preview(&[], "γειά σου".as_bytes(), 40), "γειά σου");
    }

    #[test]
    fn character_cut_at_the_end_is_named() {
        let bytes = "κα".as_bytes();
        assert_eq!(
            preview(&[], &bytes[..3], 40),
            "κ[ce… character continues in the next segment]"
        );
        assert_eq!(
            preview(&bytes[2..3], &bytes[3..], 40),
            "[…b1 completes 'α']"
        );
    }

    #[test]
    fn invalid_bytes_are_hex() {
        assert_eq!(preview(&[], b"ok\xff\x00", 40), "ok\\xff\\x00");
        assert_eq!(preview(&[], b"abcdef", 3), "abc…");
    }
}

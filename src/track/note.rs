//! An explanation being written.
//!
//! With `--summary` no explanation is shown, so none is formatted: [`Note`]
//! then drops the text but still records that something was said, because
//! some tracking decisions ("is this a pure ACK with nothing else to say?")
//! depend on it. The text goes into a buffer the pipeline hands back after
//! each row ([`crate::track::Tracker::recycle`]), so the common case
//! allocates nothing per packet.

use std::fmt;

#[derive(Debug)]
pub struct Note {
    text: String,
    on: bool,
    said: bool,
}

impl Note {
    /// `buf` is reused (cleared); `on` is false when nobody reads the text.
    pub fn new(mut buf: String, on: bool) -> Note {
        buf.clear();
        Note {
            text: buf,
            on,
            said: false,
        }
    }

    /// Add a clause, separated from the previous one by "; ".
    pub fn say(&mut self, clause: impl fmt::Display) {
        if self.on {
            if self.said {
                self.text.push_str("; ");
            }
            let _ = fmt::Write::write_fmt(&mut self.text, format_args!("{clause}"));
        }
        self.said = true;
    }

    pub fn push_str(&mut self, text: &str) {
        let _ = fmt::Write::write_str(self, text);
    }

    /// True until something was said (even when the text is not kept).
    pub fn is_empty(&self) -> bool {
        !self.said
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Write for Note {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !s.is_empty() {
            self.said = true;
            if self.on {
                self.text.push_str(s);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Note;
    use std::fmt::Write as _;

    #[test]
    fn clauses_are_joined_and_buffers_reused() {
        let mut note = Note::new(String::from("old text"), true);
        assert!(note.is_empty());
        note.say("FIN");
        note.say(format_args!("ACK of {}", 7));
        let _ = write!(note, ", MSS {}", 1460);
        assert_eq!(note.into_string(), "FIN; ACK of 7, MSS 1460");
    }

    #[test]
    fn a_silent_note_still_knows_it_was_said() {
        let mut note = Note::new(String::new(), false);
        note.say(format_args!("ACK of {}", 7));
        assert!(!note.is_empty());
        assert_eq!(note.into_string(), "");
    }
}

//! A BPF filter on frames read from a file, as `tcpdump -r FILE EXPR`
//! applies one: libpcap compiles the expression (for each link type the
//! file holds) and runs it on each frame's captured bytes.

use anyhow::anyhow;
use pcap::{BpfProgram, Capture, Linktype};

use super::RawFrame;

pub struct FrameFilter {
    expression: String,
    /// One program per link type seen: a pcapng file can mix them.
    programs: Vec<(u32, BpfProgram)>,
}

impl FrameFilter {
    /// Compile `expression` now (for Ethernet), so a typo is one line
    /// before any output.
    pub fn new(expression: &str) -> anyhow::Result<FrameFilter> {
        let mut filter = FrameFilter {
            expression: expression.to_string(),
            programs: Vec::new(),
        };
        filter.program(1)?;
        Ok(filter)
    }

    fn program(&mut self, link: u32) -> anyhow::Result<&BpfProgram> {
        let at = match self.programs.iter().position(|(l, _)| *l == link) {
            Some(at) => at,
            None => {
                let dead = Capture::dead(Linktype(link as i32))
                    .map_err(|e| anyhow!("cannot filter link type {link}: {e}"))?;
                let program = dead
                    .compile(&self.expression, true)
                    .map_err(|e| anyhow!("bad filter expression \"{}\": {e}", self.expression))?;
                self.programs.push((link, program));
                self.programs.len() - 1
            }
        };
        Ok(&self.programs[at].1)
    }

    /// Whether the filter keeps `frame`.
    pub fn keeps(&mut self, frame: &RawFrame<'_>) -> anyhow::Result<bool> {
        Ok(self.program(frame.link.number())?.filter(frame.data))
    }
}

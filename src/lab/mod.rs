//! `wirelab demo`: each lab step of ../shared/LABS.md, run on loopback,
//! captured, explained, and checked.
//!
//! A lab is a small program written against [`crate::sockets`] (so its
//! socket calls report themselves) plus the checks a student should see
//! hold. API checks are recorded while the lab runs; packet checks look at
//! the rows the live capture actually produced, never at the lab's name.

mod kit;
pub mod labs;
pub mod netns;
pub mod sockstate;

use std::sync::{Arc, Mutex};

use crate::decode::Transport;
use crate::render::{Render, RunEnd};
use crate::sockets::Calls;
use crate::timeline::{ConnSummary, PacketRow};
use crate::track::event::Event;
use crate::track::state::TcpState;

/// What a packet check needs of a captured row.
#[derive(Debug, Clone)]
pub struct RowRecord {
    pub frame: u64,
    /// Carried over IPv6 (else IPv4).
    pub v6: bool,
    /// Raw TCP sequence number.
    pub seq: u32,
    pub udp: bool,
    pub tcp_flags: Option<u8>,
    pub icmp: Option<(u8, u8)>,
    pub sport: u16,
    pub dport: u16,
    pub len: u32,
    pub conn: Option<u64>,
    pub from_client: bool,
    /// Client and server state after the packet (TCP).
    pub states: Option<[TcpState; 2]>,
    /// What tracking found: checks read these, never the sentences.
    pub events: Vec<Event>,
}

impl RowRecord {
    pub fn has(&self, bits: u8) -> bool {
        self.tcp_flags.is_some_and(|f| f & bits == bits)
    }

    /// Whether one of the row's events matches.
    pub fn shows(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(pred)
    }
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;

/// A renderer that passes everything on and keeps a record of packet rows
/// for the checks (labs are short: a few hundred rows at most).
pub struct Recorder<'r> {
    pub inner: &'r mut dyn Render,
    pub rows: Arc<Mutex<Vec<RowRecord>>>,
}

impl Render for Recorder<'_> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> std::io::Result<()> {
        // The capture keeps every ICMP error (they answer the lab's
        // datagrams); one about a flow not in this capture belongs to
        // other traffic on the machine, not to the lab: checks do not see it.
        if row.conn.is_none() {
            return self.inner.packet(row);
        }
        let (tcp_flags, icmp, sport, dport, len, udp) = match row.packet.transport {
            Transport::Tcp(t) => (
                Some(t.flags.0),
                None,
                t.src_port,
                t.dst_port,
                t.payload_len,
                false,
            ),
            Transport::Udp(u) => (None, None, u.src_port, u.dst_port, u.payload_len, true),
            Transport::Icmp(i) => (None, Some((i.icmp_type, i.code)), 0, 0, 0, false),
            _ => (None, None, 0, 0, 0, false),
        };
        if let Ok(mut rows) = self.rows.lock() {
            rows.push(RowRecord {
                frame: row.packet.frame,
                v6: row.packet.ip.is_some_and(|ip| ip.src.is_ipv6()),
                seq: match row.packet.transport {
                    Transport::Tcp(t) => t.seq.0,
                    _ => 0,
                },
                udp,
                tcp_flags,
                icmp,
                sport,
                dport,
                len,
                conn: row.conn.map(|c| c.id),
                from_client: row
                    .conn
                    .is_some_and(|c| c.direction == crate::track::flow::Direction::ClientToServer),
                states: row.states,
                events: row.events.clone(),
            });
        }
        self.inner.packet(row)
    }
    fn call(&mut self, line: &crate::call::Line) -> std::io::Result<()> {
        self.inner.call(line)
    }
    fn conn(&mut self, summary: &ConnSummary) -> std::io::Result<()> {
        self.inner.conn(summary)
    }
    fn finish(&mut self, end: &RunEnd) -> std::io::Result<()> {
        self.inner.finish(end)
    }
    fn lab(&mut self, name: &str, question: &str) -> std::io::Result<()> {
        self.inner.lab(name, question)
    }
    fn checks(&mut self, checks: &[Check]) -> std::io::Result<()> {
        self.inner.checks(checks)
    }
}

/// Passes everything on except `finish`, which waits: a lab's checks are
/// judged on its rows once the capture has ended, and a document format
/// (Markdown, HTML, Mermaid) puts them before its end.
pub struct HoldFinish<'r> {
    pub inner: &'r mut dyn Render,
    pub end: Option<RunEnd>,
}

impl Render for HoldFinish<'_> {
    fn wants_notes(&self) -> bool {
        self.inner.wants_notes()
    }
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> std::io::Result<()> {
        self.inner.packet(row)
    }
    fn call(&mut self, line: &crate::call::Line) -> std::io::Result<()> {
        self.inner.call(line)
    }
    fn conn(&mut self, summary: &ConnSummary) -> std::io::Result<()> {
        self.inner.conn(summary)
    }
    fn finish(&mut self, end: &RunEnd) -> std::io::Result<()> {
        self.end = Some(end.clone());
        Ok(())
    }
}

/// The student pressed `q` at a `--step` prompt: the lab ends there.
#[derive(Debug, thiserror::Error)]
#[error("stopped at the student's request (q)")]
pub struct Quit;

/// One "what you should have seen" line.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    /// `None`: could not be checked (no capture).
    pub passed: Option<bool>,
    pub detail: String,
}

impl Check {
    /// "passed", "FAILED" or "not checked".
    pub fn verdict(&self) -> &'static str {
        match self.passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "not checked",
        }
    }

    /// " (detail)", or nothing when there is none; each format escapes it.
    pub fn detail_suffix(&self) -> String {
        if self.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.detail)
        }
    }
}

/// What a lab body works with.
pub struct LabCtx {
    pub calls: Calls,
    /// Free ports chosen for this run; the capture filters on them.
    pub ports: Vec<u16>,
    pub checks: Vec<Check>,
    pub step_mode: bool,
    pub quit: bool,
    /// The classroom view (`--web`): each check is shown as it is made,
    /// and `--step` waits for the page's Step button. With the lab's name.
    web: Option<(Arc<crate::web::hub::Hub>, &'static str)>,
    /// The private network of a [`Net::Veth`] lab.
    pub veth: Option<Arc<netns::Veth>>,
}

impl LabCtx {
    pub fn new(calls: Calls, ports: Vec<u16>, step_mode: bool) -> LabCtx {
        LabCtx {
            calls,
            ports,
            checks: Vec::new(),
            step_mode,
            quit: false,
            web: None,
            veth: None,
        }
    }

    /// Show this lab (`name`) in the classroom view as it runs.
    pub fn with_web(
        mut self,
        hub: Option<Arc<crate::web::hub::Hub>>,
        name: &'static str,
    ) -> LabCtx {
        self.web = hub.map(|h| (h, name));
        self
    }

    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// Announce a step; with --step, wait for Enter. `q` ends the lab
    /// here: the step does not run (the error stops the lab's program,
    /// and the checks that can still be judged are printed).
    pub fn step(&mut self, text: &str) -> Result<(), Quit> {
        if self.step_mode {
            // What the previous step did is on screen before the prompt.
            self.calls.wait_shown(std::time::Duration::from_secs(2));
            if let Some((hub, _)) = &self.web {
                // The browser's Step button is the prompt.
                eprintln!("[{text}] waiting for Step in the browser");
                hub.pause(text);
                self.calls.step(text);
                return Ok(());
            }
            eprint!("[{text}] Enter continues, q quits: ");
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            if line.trim() == "q" {
                self.quit = true;
                return Err(Quit);
            }
        }
        self.calls.step(text);
        Ok(())
    }

    /// Snapshot the kernel's sockets on the lab's ports, like `ss -tan`.
    pub fn states(&self, label: &str) -> Vec<sockstate::SocketRow> {
        let ss = self.calls.named("ss".into());
        match sockstate::snapshot(&self.ports) {
            Some(rows) => {
                if rows.is_empty() {
                    ss.say(&format!("{label}: no socket on these ports"));
                }
                for r in &rows {
                    ss.say(&format!("{label}: {r}"));
                }
                rows
            }
            None => {
                ss.say("socket states are unavailable here (Linux /proc/net/tcp only)");
                Vec::new()
            }
        }
    }

    pub fn check(&mut self, what: &str, passed: bool, detail: impl Into<String>) {
        let check = Check {
            what: what.to_string(),
            passed: Some(passed),
            detail: detail.into(),
        };
        if let Some((hub, lab)) = &self.web {
            hub.push(
                crate::export::json::check_line(lab, &check),
                crate::web::hub::Kind::Always,
            );
        }
        self.checks.push(check);
    }
}

/// A lab: a question, a program, and checks on its capture.
pub struct Lab {
    pub name: &'static str,
    pub question: &'static str,
    /// Rough running time, for `--list`.
    pub seconds: f32,
    /// How many free ports it needs.
    pub ports: usize,
    pub run: fn(&mut LabCtx) -> anyhow::Result<()>,
    /// Checks on the captured rows.
    pub packets: fn(&LabCtx, &[RowRecord]) -> Vec<Check>,
    /// Where its traffic goes.
    pub net: Net,
}

/// A lab's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// Loopback (`lo`), captured on the lab's ports.
    Loopback,
    /// A private namespace joined by a veth pair with this MTU, captured
    /// on the host's end ([`netns::Veth`]).
    Veth { mtu: u32 },
}

pub fn packet_check(what: &str, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        what: what.to_string(),
        passed: Some(passed),
        detail: detail.into(),
    }
}

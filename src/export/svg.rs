//! `--format svg`: the ladder diagram as one picture for slides: a
//! lifeline per socket (address and port, client or server), one slanted
//! arrow per packet with its flags and relative numbers, each side's state
//! in a box after it (dashed: inferred from the packets; solid with a tick:
//! the kernel reported it), socket calls as dots on their socket's
//! lifeline, and the explanation beside each row.
//!
//! The browser's classroom view draws the same ladder from the same events
//! (src/web/page.js); this is its still form. Text is escaped with
//! [`html`] (XML needs the same five escapes); the file has no script.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use super::html::html;
use super::mermaid::{too_large, MAX_PACKETS};
use crate::call::Line;
use crate::decode::Transport;
use crate::kernel::KernelEvent;
use crate::render::{Render, RunEnd};
use crate::timeline::{ConnSummary, PacketRow};
use crate::track::flow::Direction;
use crate::track::state::TcpState;

const LEFT: usize = 60;
const COL: usize = 250;
const HEAD: usize = 64;
const ROW: usize = 62;
const CALL_ROW: usize = 24;
const NOTE_WIDTH: usize = 600;
/// An explanation beside its row: two lines of this many characters at
/// most (a slide has no room for more).
const NOTE_CHARS: usize = 66;

enum Item {
    Packet {
        frame: u64,
        conn: Option<u64>,
        from: String,
        to: String,
        label: String,
        colour: &'static str,
        /// (client socket, its state), (server socket, its state), with the frame.
        states: Option<[(String, TcpState); 2]>,
        note: String,
    },
    Call {
        socket: Option<String>,
        text: String,
    },
}

pub struct SvgRender<W: Write> {
    out: W,
    items: Vec<Item>,
    packets: u64,
    /// Sockets in order of first appearance, with their role.
    sockets: Vec<(String, &'static str)>,
    /// (conversation, client side, state): the kernel reported that socket
    /// entering that state.
    confirmed: HashSet<(u64, bool, TcpState)>,
    title: Option<String>,
}

impl<W: Write> SvgRender<W> {
    pub fn new(out: W) -> SvgRender<W> {
        SvgRender {
            out,
            items: Vec::new(),
            packets: 0,
            sockets: Vec::new(),
            confirmed: HashSet::new(),
            title: None,
        }
    }

    fn socket(&mut self, key: &str, role: &'static str) {
        if !self.sockets.iter().any(|(k, _)| k == key) {
            self.sockets.push((key.to_string(), role));
        }
    }
}

/// "SYN+ACK  seq 0  ack 1  len 5", as the page labels an arrow.
fn label(row: &PacketRow<'_, '_>) -> (String, &'static str) {
    match row.packet.transport {
        Transport::Tcp(t) => {
            let mut s = t.flags.names().collect::<Vec<_>>().join("+");
            let _ = write!(s, "  seq {}", row.rel_seq.unwrap_or(t.seq.0));
            if let Some(ack) = t.ack {
                let _ = write!(s, "  ack {}", row.rel_ack.unwrap_or(ack.0));
            }
            if t.payload_len > 0 {
                let _ = write!(s, "  len {}", t.payload_len);
            }
            let colour = if t.flags.rst() {
                "#c62828"
            } else if t.flags.syn() {
                "#1b7f2a"
            } else if t.flags.fin() {
                "#b26a00"
            } else {
                "#1f3b73"
            };
            (s, colour)
        }
        Transport::Udp(u) => (format!("UDP  len {}", u.payload_len), "#1f3b73"),
        Transport::Icmp(i) => (
            format!(
                "{} type {} code {}",
                if i.v6 { "ICMPv6" } else { "ICMP" },
                i.icmp_type,
                i.code
            ),
            "#8e24aa",
        ),
        _ => ("other".to_string(), "#555"),
    }
}

impl<W: Write> Render for SvgRender<W> {
    fn packet(&mut self, row: &PacketRow<'_, '_>) -> io::Result<()> {
        if self.packets >= MAX_PACKETS {
            return Err(too_large("svg"));
        }
        self.packets += 1;
        let p = row.packet;
        let ports = match p.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        };
        let (from, to) = match (row.conn, ports, p.ip) {
            (_, Some((sp, dp)), Some(ip)) => (
                std::net::SocketAddr::new(ip.src, sp).to_string(),
                std::net::SocketAddr::new(ip.dst, dp).to_string(),
            ),
            // An ICMP error: between the conversation's two sockets.
            (Some(c), _, _) => match c.direction {
                Direction::ClientToServer => (c.client.to_string(), c.server.to_string()),
                Direction::ServerToClient => (c.server.to_string(), c.client.to_string()),
            },
            (None, _, Some(ip)) => (ip.src.to_string(), ip.dst.to_string()),
            (None, _, None) => ("?".to_string(), "?".to_string()),
        };
        let c2s = row
            .conn
            .is_none_or(|c| c.direction == Direction::ClientToServer);
        let (from_role, to_role) = match (row.conn.is_some(), c2s) {
            (false, _) => ("host", "host"),
            (true, true) => ("client", "server"),
            (true, false) => ("server", "client"),
        };
        self.socket(&from, from_role);
        self.socket(&to, to_role);
        let (label, colour) = label(row);
        let (client, server) = if c2s {
            (from.clone(), to.clone())
        } else {
            (to.clone(), from.clone())
        };
        self.items.push(Item::Packet {
            frame: p.frame,
            conn: row.conn.map(|c| c.id),
            from,
            to,
            label,
            colour,
            states: row.states.map(|[c, s]| [(client, c), (server, s)]),
            note: row.note.clone(),
        });
        Ok(())
    }

    fn call(&mut self, line: &Line) -> io::Result<()> {
        let socket = match line {
            Line::Call(call) => call.local.map(|a| a.to_string()),
            Line::Kernel(k) => {
                if let (Some(conn), Some(client), KernelEvent::State { new, .. }) =
                    (k.conn, k.client_side, &k.event)
                {
                    self.confirmed.insert((conn, client, *new));
                    // TIME-WAIT, which Linux reports as CLOSED, through
                    // its agreement with the inferred state.
                    if let (Some(inferred), Some(seen)) = (k.inferred, k.kernel_view) {
                        if inferred == seen {
                            self.confirmed.insert((conn, client, inferred));
                        }
                    }
                }
                Some(k.event.ends().0.to_string())
            }
            _ => None,
        };
        self.items.push(Item::Call {
            socket,
            text: crate::render::explain::line_text(line),
        });
        Ok(())
    }

    fn conn(&mut self, _summary: &ConnSummary) -> io::Result<()> {
        Ok(())
    }

    fn lab(&mut self, name: &str, question: &str) -> io::Result<()> {
        self.title = Some(format!("{name}: {question}"));
        Ok(())
    }

    fn finish(&mut self, _end: &RunEnd) -> io::Result<()> {
        let x: HashMap<&str, usize> = self
            .sockets
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.as_str(), LEFT + i * COL + COL / 2))
            .collect();
        let note_x = LEFT + self.sockets.len().max(1) * COL + 10;
        let width = note_x + NOTE_WIDTH;
        let title_h = if self.title.is_some() { 34 } else { 0 };
        let body: usize = self
            .items
            .iter()
            .map(|i| match i {
                Item::Packet { .. } => ROW,
                Item::Call { .. } => CALL_ROW,
            })
            .sum();
        let height = title_h + HEAD + body + 10;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
             font-family=\"DejaVu Sans Mono, monospace\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
        );
        if let Some(title) = &self.title {
            let _ = writeln!(
                s,
                "<text x=\"10\" y=\"24\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"20\" font-weight=\"bold\">{}</text>",
                html(title)
            );
        }
        for (key, role) in &self.sockets {
            let cx = x[key.as_str()];
            let _ = writeln!(
                s,
                "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"16\">{role}</text>\
                 <text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
                 <line x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{height}\" stroke=\"#99aaaa\" stroke-width=\"2\"/>",
                title_h + 22,
                title_h + 42,
                html(key),
                title_h + HEAD - 10,
            );
        }
        let mut y = title_h + HEAD;
        let mut last: HashMap<(Option<u64>, bool), TcpState> = HashMap::new();
        for item in &self.items {
            match item {
                Item::Packet {
                    frame,
                    conn,
                    from,
                    to,
                    label,
                    colour,
                    states,
                    note,
                } => {
                    let (x1, x2) = (x[from.as_str()], x[to.as_str()]);
                    let dir: isize = if x2 >= x1 { 1 } else { -1 };
                    let (ay, hy) = (y + 22, y + 34);
                    let tip = x2 as isize;
                    let back = tip - dir * 12;
                    let _ = writeln!(
                        s,
                        "<text x=\"8\" y=\"{}\" fill=\"#555\">{frame}</text>\
                         <line x1=\"{x1}\" y1=\"{ay}\" x2=\"{}\" y2=\"{hy}\" stroke=\"{colour}\" stroke-width=\"2.5\"/>\
                         <polygon points=\"{tip},{hy} {back},{} {back},{}\" fill=\"{colour}\"/>\
                         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"15\">{}</text>",
                        y + 30,
                        tip - dir * 9,
                        hy - 6,
                        hy + 6,
                        (x1 + x2) / 2,
                        ay - 5,
                        html(label),
                    );
                    for (i, (socket, state)) in states.iter().flatten().enumerate() {
                        if *state == TcpState::Unknown {
                            continue;
                        }
                        let client = i == 0;
                        let same = last.insert((*conn, client), *state) == Some(*state);
                        let kernel =
                            conn.is_some_and(|c| self.confirmed.contains(&(c, client, *state)));
                        let name = state.name();
                        let w = name.len() * 9 + 16 + if kernel { 14 } else { 0 };
                        let bx = x[socket.as_str()].saturating_sub(w / 2);
                        let _ = writeln!(
                            s,
                            "<g opacity=\"{}\"><rect x=\"{bx}\" y=\"{}\" width=\"{w}\" height=\"19\" rx=\"4\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>\
                             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{name}{}</text></g>",
                            if same { "0.45" } else { "1" },
                            y + ROW - 22,
                            if kernel { "#eef8ee" } else { "#ffffff" },
                            if kernel { "#1b5e20" } else { "#556" },
                            if kernel { "2.5" } else { "1.5" },
                            if kernel { "" } else { " stroke-dasharray=\"5 3\"" },
                            x[socket.as_str()],
                            y + ROW - 8,
                            if kernel { " \u{2713}" } else { "" },
                        );
                    }
                    let _ = write!(
                        s,
                        "<text x=\"{note_x}\" y=\"{}\" font-family=\"DejaVu Sans, sans-serif\">",
                        y + 24
                    );
                    for (i, line) in two_lines(note).iter().enumerate() {
                        let _ = write!(
                            s,
                            "<tspan x=\"{note_x}\" dy=\"{}\">{}</tspan>",
                            if i == 0 { 0 } else { 18 },
                            html(line)
                        );
                    }
                    s.push_str("</text>\n");
                    y += ROW;
                }
                Item::Call { socket, text } => {
                    let cx = socket
                        .as_deref()
                        .and_then(|k| x.get(k).copied())
                        .unwrap_or(LEFT / 2 + 10);
                    let _ = writeln!(
                        s,
                        "<circle cx=\"{cx}\" cy=\"{}\" r=\"5\" fill=\"#0b5a2a\"/>\
                         <text x=\"{note_x}\" y=\"{}\" fill=\"#0b5a2a\" font-size=\"12\">{}</text>",
                        y + CALL_ROW / 2,
                        y + CALL_ROW / 2 + 4,
                        html(&shortened(text)),
                    );
                    y += CALL_ROW;
                }
            }
        }
        s.push_str("</svg>\n");
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }
}

/// At most [`NOTE_CHARS`] characters, with "…" when cut.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(NOTE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `text` wrapped into two lines at most, the second cut with "…".
fn two_lines(text: &str) -> Vec<String> {
    let options = textwrap::Options::new(NOTE_CHARS).break_words(false);
    let mut lines: Vec<String> = textwrap::wrap(text, options)
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect();
    if lines.len() > 2 {
        let rest = lines[1..].join(" ");
        lines.truncate(1);
        lines.push(shortened(&format!("{rest} ")).trim_end().to_string());
        if !lines[1].ends_with('…') {
            lines[1].push('…');
        }
    }
    lines
}

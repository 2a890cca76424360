//! One integration-test binary (one link step), as ripgrep does.

// Shared helpers: paths, the wirelab command, replay to a string.
mod common;
// Command-line behaviour: help, bad input, broken pipe, output files.
mod cli;
// tcpdump's and tshark's habits: -r, -w, -c, filters, - as a stream, --conn, --follow.
mod habits;
// What a terminal shows: the compact layout, the table, colour, --step by keys (tmux).
mod screen;
// The lab demos, run with a real capture.
mod demo;
// Decoding agrees with tshark field by field on tcpdump's wellformed captures.
mod decode_vs_tshark;
// The classroom view (--web) over HTTP and in headless Chromium.
mod web;
// Exports: CSV, Markdown, Mermaid, HTML, pcapng.
mod exports;
// Damaged captures replay without panic or hang.
mod malformed;
// Peak memory on a million packets (a regression check, not a timing).
mod memory;
// The kernel as the referee: inferred states against its record, 20+ programs.
mod oracle;
// Past fuzz crashes, property tests of decoding, cuts at every length.
mod robustness;
// Snapshots of the timeline and JSON of every capture under captures/.
mod replay;
// The kernel's record (tracepoints) in live timelines; its trace instance cleaned up.
mod kernel;
// Live capture on loopback with real traffic (needs root or CAP_NET_RAW).
mod live;
// The echo programs (serve, client) and their knobs on loopback.
mod sockets;
// `wirelab trace`: Python programs' calls joined with their packets.
mod trace;

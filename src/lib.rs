//! wirelab makes TCP and UDP visible to people learning socket programming:
//! every packet of a lab exchange, with the endpoint states it leaves
//! behind and a sentence that says what it means.
//!
//! # Layout
//! Data flows top to bottom, one packet at a time (nothing holds the whole
//! capture):
//! - [`capture`]: frames from pcap/pcapng files or live libpcap; link types.
//! - [`decode`]: link header, IP, TCP/UDP/ICMP into owned types; never panics.
//! - [`track`]: conversations, roles, relative sequence numbers, TCP state
//!   per endpoint, typed events per packet (observed or inferred),
//!   Zeek-style summaries; bounded memory.
//! - [`timeline`]: the rows the tracker produces; [`time`]: every difference of
//!   two capture or call times, saturating.
//! - [`call`]: socket calls as data, from wirelab's own programs and from
//!   strace, merged into the timeline by time.
//! - [`render`]: `explain`, the one writer of explanations (from events);
//!   terminal tables and plain text; payload escaping; `--hex`.
//! - [`export`]: one file per format: JSON Lines, CSV, Markdown, Mermaid,
//!   HTML, pcapng with packet comments.
//! - [`sockets`]: the labs' echo programs (server, client, proxy), each
//!   socket call reported with its result or errno.
//! - [`lab`]: `wirelab demo`: lab steps run on loopback, captured, checked.
//! - [`kernel`]: the kernel's own TCP record (tracepoints): state changes,
//!   RST reasons, retransmissions, socket errors, beside the packets.
//! - [`trace`]: `wirelab trace`: a program's socket calls (from strace)
//!   tied to the packets they caused or consumed.
//! - [`synth`]: deterministic synthetic captures for benchmarks.
//! - [`fuzzing`]: the fuzz targets' bodies, also run on past crashes by the tests.
//! - [`cli`] and [`app`]: arguments and the pipeline that ties it together.

pub mod app;
pub mod call;
pub mod capture;
pub mod cleanup;
pub mod cli;
pub mod decode;
pub mod export;
pub mod fuzzing;
pub mod kernel;
pub mod lab;
pub mod render;
pub mod sockets;
pub mod synth;
pub mod time;
pub mod timeline;
pub mod trace;
pub mod track;
pub mod web;

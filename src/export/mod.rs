//! Exports, one file per format, each a [`crate::render::Render`] writing
//! to an `impl Write`: JSON Lines, CSV, Markdown, Mermaid, HTML, and a
//! small pcapng writer whose packet comments carry the explanations.

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod mermaid;
pub mod pcapng;
pub mod svg;

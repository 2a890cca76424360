//! Machine-readable exports. JSON Lines for now; one file per format.

pub mod json;
pub mod pcapng;

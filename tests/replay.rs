//! Snapshots of every capture under captures/lab and captures/linktypes: the timeline as plain text
//! and as JSON Lines (timestamps in JSON are absolute and part of the
//! snapshot: the files do not change).

use crate::common::{replay_to_string, repo, wirelab};

#[test]
fn timeline_snapshots_of_reference_captures() {
    let root = repo().join("captures");
    insta::glob!(root.as_path(), "{lab,linktypes}/*.pcap*", |path| {
        insta::assert_snapshot!("text", replay_to_string(path, "text"));
        insta::assert_snapshot!("json", replay_to_string(path, "json"));
    });
}

#[test]
fn table_format_is_the_default_and_plain_without_a_terminal() {
    let path = repo().join("captures/lab/tcp_echo.pcap");
    let out = wirelab().args(["replay"]).arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!(text);
}

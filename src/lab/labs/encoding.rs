//! The `encoding` lab: the program a student would write, and the checks.

use crate::lab::kit::{echo_server, local, shown};
use crate::lab::{packet_check, Check, LabCtx, RowRecord};
use crate::sockets::client::{self, ClientOptions};
use crate::track::event::Event;

pub fn encoding(ctx: &mut LabCtx) -> anyhow::Result<()> {
    let port = ctx.port(0);
    let _server = echo_server(ctx, port)?;
    let text = "γειά σου";
    ctx.step("the client encodes 'γειά σου' as ASCII")?;
    let ascii = ClientOptions {
        server: local(port),
        messages: vec![text.into()],
        encoding: crate::sockets::Encoding::Ascii,
        ..ClientOptions::default()
    };
    let refused = matches!(
        client::run(&ascii, &ctx.calls.named("client".into())),
        Err(client::ClientError::Encoding(_))
    );
    ctx.check(
        "ASCII cannot hold Greek: the program fails before anything is sent",
        refused,
        "",
    );
    ctx.step("the client sends it as UTF-8")?;
    let utf8 = ClientOptions {
        server: local(port),
        messages: vec![text.into()],
        ..ClientOptions::default()
    };
    let ex = client::run(&utf8, &ctx.calls.named("client".into()))?;
    ctx.check(
        "8 characters are 15 bytes in UTF-8, and all 15 come back",
        text.chars().count() == 8 && ex[0].replies == vec![text.as_bytes().to_vec()],
        shown(&ex[0].replies),
    );
    Ok(())
}

pub fn encoding_packets(_ctx: &LabCtx, rows: &[RowRecord]) -> Vec<Check> {
    let conns = rows
        .iter()
        .filter(|r| r.shows(|e| matches!(e, Event::Syn { .. })))
        .count();
    let one_segment = rows.iter().any(|r| r.from_client && r.len == 15);
    vec![
        packet_check(
            "only one connection was made (the ASCII attempt never reached the wire)",
            conns == 1,
            format!("{conns}"),
        ),
        packet_check("the 15 bytes travel in one segment", one_segment, ""),
    ]
}

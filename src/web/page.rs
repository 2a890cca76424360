//! The classroom page: one HTML file with its style and script inside.
//! `--web` serves it and streams the run's events to it; `--format html`
//! is the same page with the events embedded, so the two cannot drift.
//!
//! Safety: the events are JSON inside `<script type="application/json">`
//! with `<`, `>` and `&` written as `\u003c`-style escapes, and the script
//! builds every element with `textContent`/`setAttribute`, never HTML
//! from strings. The Content-Security-Policy allows only this style and
//! this script (by their SHA-256) and, live, a connection to the server
//! itself: even a missed escape could neither load nor run anything.

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::export::html::html;

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What the script is told about how it runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageConfig {
    /// Stream events from `/events` (else they are embedded).
    pub live: bool,
    /// Ask the student to predict each TCP packet before it is shown.
    pub quiz: bool,
    /// The Step button's token (live only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl PageConfig {
    pub fn with_token(&self, token: &str) -> PageConfig {
        PageConfig {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }
}

fn sha256(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// The policy: this style, this script, and (live) the server's own stream.
pub fn content_security_policy(live: bool) -> String {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; connect-src {}; \
         img-src 'none'; base-uri 'none'; form-action 'none'",
        sha256(STYLE),
        sha256(SCRIPT),
        if live { "'self'" } else { "'none'" }
    )
}

/// JSON made safe inside a `<script>` element: "</script>" or "<!--" in a
/// string would end it; JSON lets those characters be `\u` escapes.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn fill(config: &PageConfig, title: &str, data: Option<&str>) -> String {
    let config = serde_json::to_string(config).unwrap_or_else(|_| "{}".to_string());
    let data = match data {
        Some(lines) => format!(
            "<script id=\"data\" type=\"application/json\">{}</script>\n",
            script_json(lines)
        ),
        None => String::new(),
    };
    let csp = content_security_policy(data.is_empty());
    let (title, config) = (html(title), script_json(&config));
    // One pass over the template: what is put in is never searched again,
    // so a payload that contains "{{SCRIPT}}" stays text.
    let mut page = String::with_capacity(TEMPLATE.len() + STYLE.len() + SCRIPT.len() + data.len());
    let mut rest = TEMPLATE;
    while let Some(open) = rest.find("{{") {
        page.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            rest = &rest[open..];
            break;
        };
        page.push_str(match &after[..close] {
            "CSP" => &csp,
            "TITLE" => &title,
            "STYLE" => STYLE,
            "CONFIG" => &config,
            "DATA" => &data,
            "SCRIPT" => SCRIPT,
            _ => "",
        });
        rest = &after[close + 2..];
    }
    page.push_str(rest);
    page
}

/// The page `--web` serves; the events come from `/events`.
pub fn live_page(config: &PageConfig) -> String {
    fill(
        &PageConfig {
            live: true,
            ..config.clone()
        },
        "wirelab classroom view",
        None,
    )
}

/// The self-contained page of `--format html`: `lines` are the run's
/// events, one JSON object per line.
pub fn document(config: &PageConfig, title: &str, lines: &[String]) -> String {
    let mut array = String::with_capacity(lines.iter().map(|l| l.len() + 2).sum::<usize>() + 2);
    array.push('[');
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            array.push_str(",\n");
        }
        array.push_str(line);
    }
    array.push(']');
    fill(
        &PageConfig {
            live: false,
            token: None,
            ..config.clone()
        },
        title,
        Some(&array),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_events_cannot_end_their_script_element() {
        let page = document(
            &PageConfig::default(),
            "<b>t</b>",
            &["{\"payload\":\"</script><script>alert(1)</script>{{SCRIPT}}\"}".to_string()],
        );
        assert!(
            page.contains("alert(1)\\u003c/script\\u003e{{SCRIPT}}"),
            "not filled in"
        );
        assert_eq!(page.matches("</script>").count(), 3, "config, data, code");
        assert!(page.contains("<title>&lt;b&gt;t&lt;/b&gt;</title>"));
        assert!(page.contains("\\u003c/script\\u003e"));
        assert!(page.contains("connect-src 'none'"));
    }
}

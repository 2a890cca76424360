//! Exports: snapshots of each format for the reference captures, CSV read
//! back with a CSV reader, pcapng read by tshark, tcpdump and capinfos, and
//! a hostile capture whose payload must stay inert in every format.

use std::process::Command;

use crate::common::{
    assert_succeeded, packet_events, packet_notes, replay_to_string, repo, wirelab,
};

#[test]
fn export_snapshots_of_reference_captures() {
    let root = repo().join("captures");
    insta::glob!(root.as_path(), "lab/*.pcap", |path| {
        insta::assert_snapshot!("csv", replay_to_string(path, "csv"));
        insta::assert_snapshot!("md", replay_to_string(path, "md"));
        insta::assert_snapshot!("mermaid", replay_to_string(path, "mermaid"));
        // The page's code is the same for every capture: its data is the snapshot.
        insta::assert_snapshot!("html", page_data(&replay_to_string(path, "html")));
        insta::assert_snapshot!("svg", replay_to_string(path, "svg"));
    });
}

/// The JSON array of events embedded in a `--format html` page.
fn page_json(page: &str) -> &str {
    let open = "<script id=\"data\" type=\"application/json\">";
    let start = page.find(open).expect("the page embeds its events") + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    &page[start..end]
}

/// The embedded events, one per line (for snapshots).
fn page_data(page: &str) -> String {
    page_json(page).replace(",\n{", "\n{")
}

/// The embedded events, parsed.
pub fn page_events(page: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(page_json(page)).unwrap()
}

#[test]
fn csv_parses_back_to_the_same_rows() {
    let path = repo().join("captures/linktypes/lab-lo-ethernet.pcap");
    let text = replay_to_string(&path, "csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header[0], "kind");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let packets: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "packet").collect();
    assert_eq!(packets.len(), 30);
    // Row 4 carries the Greek payload with a comma-free quote-free note.
    let notes = packet_notes(&path);
    for (row, note) in packets.iter().zip(&notes) {
        assert_eq!(&row[15], note.as_str(), "the note survives CSV quoting");
    }
}

fn tool(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

#[test]
fn pcapng_export_carries_every_explanation_and_reads_cleanly() {
    let dir = std::env::temp_dir().join(format!("wirelab-pcapng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = repo().join("captures/linktypes/lab-lo-ethernet.pcap");
    let out = dir.join("out.pcapng");
    wirelab()
        .args(["replay", "--format", "pcapng", "-o"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let notes = packet_notes(&input);
    assert!(
        tool("tshark") && tool("tcpdump") && tool("capinfos"),
        "tshark, tcpdump and capinfos are needed (scripts/setup installs them)"
    );
    let t = Command::new("tshark")
        .args(["-r"])
        .arg(&out)
        .args(["-T", "fields", "-e", "frame.comment"])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    let comments: Vec<String> = String::from_utf8(t.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(comments, notes, "every packet's comment is its explanation");
    let d = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(d.status.success());
    assert_eq!(String::from_utf8_lossy(&d.stdout).lines().count(), 30);
    let c = Command::new("capinfos").arg(&out).output().unwrap();
    assert!(c.status.success());
    let info = String::from_utf8_lossy(&c.stdout);
    assert!(
        info.contains("wirelab replay of"),
        "section comment: {info}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn pcapng_is_not_written_to_a_terminal_but_to_a_file_or_pipe() {
    // Not a terminal here: a pipe is fine.
    let input = repo().join("captures/lab/tcp_refused.pcap");
    let out = wirelab()
        .args(["replay", "--format", "pcapng"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
}

/// Characters that must never reach any output raw: C0 controls (but the
/// line ends), DEL, C1 controls, bidi overrides and zero-width characters.
fn dangerous_chars(text: &str) -> Vec<(usize, char)> {
    text.char_indices()
        .filter(|&(i, c)| {
            let line_end = c == '\n' || (c == '\r' && text[i + 1..].starts_with('\n'));
            ((c as u32) < 0x20 && !line_end)
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        })
        .collect()
}

fn hostile() -> std::path::PathBuf {
    repo().join("captures/lab/hostile.pcap")
}

/// The hostile capture's packets, as JSON Lines objects.
fn hostile_packets() -> Vec<serde_json::Value> {
    packet_events(&hostile())
}

#[test]
fn hostile_payload_is_inert_in_every_format() {
    let packets = hostile_packets();
    assert_eq!(packets.len(), 24);
    for format in [
        "text", "table", "json", "csv", "md", "mermaid", "html", "svg",
    ] {
        let out = replay_to_string(&hostile(), format);
        let bad = dangerous_chars(&out);
        assert!(bad.is_empty(), "{format}: raw {bad:?}");
        if format == "svg" {
            // A picture for slides: no payload, no script, and well-formed.
            assert!(!out.contains("<script") && !out.contains("alert(1)"));
            assert_eq!(out.matches("<svg ").count(), 1);
            assert!(out.ends_with("</svg>\n"));
            continue;
        }
        // The terminal escape from the payload is there, as visible text.
        let visible = match format {
            "md" => "\\\\x1b\\]0;owned",
            "mermaid" => "#92;x1b]0#59;owned",
            "json" => "\\\\x1b]0;owned",
            // The table shows only the start of each payload.
            "table" => "\\x1b]0;own",
            _ => "\\x1b]0;owned",
        };
        assert!(out.contains(visible), "{format} lacks {visible}");
    }
}

#[test]
fn hostile_json_keeps_the_payload_as_data() {
    let packets = hostile_packets();
    assert_eq!(packets[3]["payload"], "<script>alert(1)</script>");
    assert_eq!(
        packets[7]["payload"],
        "\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mRED\\x1b[0m"
    );
    assert_eq!(
        packets[9]["payload"],
        "\\u{202e}gnp.exe \\u{200b}zero\\u{2066}width\\u{2069}"
    );
}

#[test]
fn hostile_csv_has_no_formula_and_parses_back() {
    let text = replay_to_string(&hostile(), "csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.iter().filter(|r| &r[0] == "packet").count(), 24);
    for row in &rows {
        assert_eq!(row.len(), 17);
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a spreadsheet would run {cell:?}"
            );
        }
    }
    let formula = rows.iter().find(|r| r[16].contains("HYPERLINK")).unwrap();
    assert_eq!(&formula[16], "\"=HYPERLINK(\"http://x\",\"y\"),@SUM(1)\"");
}

#[test]
fn hostile_markdown_keeps_its_columns_and_adds_no_markup() {
    let text = replay_to_string(&hostile(), "md");
    for line in text.lines().filter(|l| l.starts_with('|')) {
        // Cell separators are the `|` not escaped by a backslash.
        let separators = line
            .match_indices('|')
            .filter(|&(i, _)| line[..i].chars().rev().take_while(|&c| c == '\\').count() % 2 == 0)
            .count();
        // 9 columns in the timeline, 6 in the conversation summary.
        let in_summary = line.starts_with("| conn") || line == "|---|---|---|---|---|---|";
        let summary_row = separators == 7 && !line.starts_with("| #");
        assert!(
            separators == 10 || (separators == 7 && (in_summary || summary_row)),
            "{separators} separators: {line}"
        );
        if line.starts_with("| # |") {
            continue; // wirelab's own header
        }
        for active in ['<', '>', '`', '[', ']', '*'] {
            for (i, _) in line.match_indices(active) {
                let backslashes = line[..i].chars().rev().take_while(|&c| c == '\\').count();
                assert!(backslashes % 2 == 1, "unescaped {active} in {line}");
            }
        }
    }
    assert!(text.contains("\\<script\\>alert(1)\\</script\\>"));
    assert!(!text.contains("http://"), "no autolink");
}

#[test]
fn hostile_mermaid_statements_stay_whole() {
    let text = replay_to_string(&hostile(), "mermaid");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("%%{init: {\"sequence\": {\"wrap\": true}}}%%")
    );
    assert_eq!(lines.next(), Some("sequenceDiagram"));
    for line in lines {
        let line = line.trim_start();
        assert!(
            [
                "participant ",
                "Note ",
                "C1->>S1: ",
                "S1->>C1: ",
                "C2->>S2: ",
                "S2->>C2: "
            ]
            .iter()
            .any(|p| line.starts_with(p)),
            "{line}"
        );
        // After the statement's own colon, only the safe alphabet and #code; entities.
        let label = line.split_once(": ").map(|(_, l)| l).unwrap_or("");
        assert!(
            !label.contains(['<', '>', ':', '%', '{', '}', '`', '"', '\\']),
            "{label}"
        );
        for (i, _) in label.match_indices(';') {
            let start = label[..i].rfind('#').expect("; ends an entity");
            assert!(
                label[start + 1..i].chars().all(|c| c.is_ascii_digit()),
                "{label}"
            );
        }
    }
}

/// Debian's Chromium (scripts/test installs it), or the one named by
/// WIRELAB_CHROMIUM.
fn chromium() -> String {
    if let Ok(path) = std::env::var("WIRELAB_CHROMIUM") {
        return path;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name).arg("--version").output().is_ok() {
            return name.to_string();
        }
    }
    panic!("Chromium is needed for the HTML test (scripts/test installs Debian's chromium)");
}

/// The DOM after the page's script has run, as headless Chromium sees it.
fn rendered_dom(html_file: &std::path::Path, fragment: &str, profile: &std::path::Path) -> String {
    let url = format!("file://{}{fragment}", html_file.display());
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox", // CI runs as root
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    assert_succeeded(&out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn html_page_renders_in_headless_chromium_and_payload_stays_inert() {
    let dir = std::env::temp_dir().join(format!("wirelab-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("hostile.html");
    std::fs::write(&page, replay_to_string(&hostile(), "html")).unwrap();
    // Open packet 4, the `<script>alert(1)</script>` segment, as a click would.
    let dom = rendered_dom(&page, "#frame-4", &dir.join("profile"));
    // The page's own script ran under its Content-Security-Policy.
    assert!(dom.contains("data-packets=\"24\""), "script did not run");
    assert_eq!(
        dom.matches("<line class=\"arrow\"").count(),
        24,
        "one arrow per packet"
    );
    // Only the page's three script elements (settings, events, code), no injected element.
    assert_eq!(dom.matches("<script").count(), 3);
    assert!(!dom.contains("<img"));
    let detail = &dom[dom.find("<aside id=\"detail\"").unwrap()..];
    assert!(detail.contains("data-frame=\"4\""), "{detail}");
    assert!(
        detail.contains("<pre class=\"payload\">&lt;script&gt;alert(1)&lt;/script&gt;</pre>"),
        "{detail}"
    );
    assert!(
        detail.contains("<pre class=\"payloadhex\">3c 73 63 72 69 70 74 3e"),
        "{detail}"
    );
    // The header bytes with their fields, as `--hex` prints them.
    assert!(
        detail.contains("<pre class=\"headers\">IPv4 header (20 bytes): 45 00"),
        "{detail}"
    );
    assert!(detail.contains("= destination port"), "{detail}");
    // The escape-sequence payload is shown as text in its row's detail too.
    let dom = rendered_dom(&page, "#frame-8", &dir.join("profile"));
    let detail = &dom[dom.find("<aside id=\"detail\"").unwrap()..];
    assert!(
        detail.contains("<pre class=\"payload\">\\x1b]0;owned\\x07"),
        "{detail}"
    );
    assert!(dangerous_chars(&dom).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

// See: issue 17. A diagram over its cap writes nothing (not a broken
// document), says how to choose fewer packets, and -c does.
#[test]
fn a_diagram_over_its_cap_writes_nothing_and_says_how_to_choose_fewer() {
    let dir = std::env::temp_dir().join(format!("wirelab-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.pcap");
    let file = std::fs::File::create(&path).unwrap();
    wirelab::synth::write_capture(file, 3000, wirelab::synth::Kind::Echo).unwrap();
    for format in ["html", "mermaid", "svg"] {
        let out = wirelab()
            .args(["replay", "--format", format])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}");
        assert!(out.stdout.is_empty(), "{format}: nothing written");
        let err = crate::common::one_line_error(&out);
        assert!(
            err.contains("-c N") && !err.contains("cannot write"),
            "{err}"
        );
        let out = wirelab()
            .args(["replay", "--format", format, "-c", "100"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{format} -c 100");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

// See: issue 20. The pcapng writer declared one interface, from the first
// frame: exported, a capture of three link types turned two thirds of its
// frames into garbage ("not an IP packet").
#[test]
fn a_multi_interface_pcapng_exports_with_its_interfaces_and_replays_the_same() {
    let input = repo().join("captures/built/multi-interface.pcapng");
    let dir = std::env::temp_dir().join(format!("wirelab-idb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("export.pcapng");
    let out = wirelab()
        .args(["replay", "-w"])
        .arg(&output)
        .arg(&input)
        .output()
        .unwrap();
    assert_succeeded(&out);
    // tshark reads three interfaces, each frame with its own encapsulation.
    let fields = Command::new("tshark")
        .arg("-r")
        .arg(&output)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.interface_id",
            "-e",
            "frame.encap_type",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&fields.stdout);
    let pairs: std::collections::BTreeSet<&str> = text.lines().collect();
    assert_eq!(pairs.len(), 3, "{pairs:?}");
    let ids: std::collections::BTreeSet<&str> =
        pairs.iter().filter_map(|p| p.split('\t').next()).collect();
    assert_eq!(ids.len(), 3, "one interface per link type: {pairs:?}");
    // The same timeline, event for event.
    let before = packet_events(&input);
    assert_eq!(before.len(), 90);
    assert_eq!(packet_events(&output), before);
    std::fs::remove_dir_all(dir).unwrap();
}

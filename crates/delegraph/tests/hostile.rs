//! The command line against hostile input: log content carrying terminal
//! escape sequences, a gzip bomb and a truncated gzip among good inputs,
//! and a query built to overflow the planner.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;

use common::otlp::{Call, Session};
use common::{bin, replay, run, sql_json};

/// Bytes that act on a terminal: ESC, BEL, CR, the C1 CSI and a
/// right-to-left override.
const HOSTILE: [&str; 5] = ["\u{1b}", "\u{7}", "\r", "\u{9b}", "\u{202e}"];

fn assert_inert(what: &str, text: &str) {
    for h in HOSTILE {
        assert!(!text.contains(h), "{what} prints {h:?} raw:\n{text}");
    }
}

/// One agent session whose agent, user, tool and request are hostile.
fn hostile_session(dir: &Path) -> std::path::PathBuf {
    let agent = "evil\u{1b}]0;pwned\u{7}agent";
    let session = Session {
        n: 0,
        agent,
        instance: "inst\u{1b}[2J-1",
        user: "ana\r\u{9b}31m@corp.example",
        request: "read the \u{202e}txt.exe file",
        start: 1_772_323_200,
        calls: vec![Call {
            id: "c1".into(),
            tool: "send\u{1b}[1Aemail",
            arguments: r#"{"to": "x@evil.example"}"#.into(),
            result: "ok",
        }],
    };
    let path = dir.join("hostile.otlp.jsonl");
    std::fs::write(&path, session.to_otlp_line()).unwrap();
    path
}

#[test]
fn escape_sequences_in_logs_never_reach_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let input = hostile_session(tmp.path());
    // A rule that fires on the call, so a finding naming it is printed.
    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("any_call.yml"),
        "title: Any tool call\nid: 3f0c9a51-0d6e-4a8b-9c1e-2b7d5e8f1a01\nlogsource: {product: ai_agent}\ndetection:\n  sel: {delegraph.category: tool_call}\n  condition: sel\nlevel: high\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    let out = run(bin()
        .arg("replay")
        .arg("--data-dir")
        .arg(&data)
        .arg("--rules")
        .arg(&rules)
        .arg(&input));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.contains("finding"), "{summary}");
    assert_inert("replay's summary", &summary);
    // The hostile values are stored exactly (JSON keeps them, escaped).
    let rows = sql_json(&data, "SELECT DISTINCT agent_instance FROM events");
    let instance = rows
        .iter()
        .filter_map(|r| r["agent_instance"].as_str())
        .find(|i| i.contains('\u{1b}'))
        .unwrap()
        .to_owned();
    for format in ["table", "csv"] {
        let out = run(bin()
            .args(["sql", "--format", format, "--data-dir"])
            .arg(&data)
            .arg("SELECT actor, agent_id, agent_instance, initiator, tool, input_messages FROM events UNION ALL SELECT detector, agent_id, agent_instance, initiator, summary, '' FROM findings"));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("\\u{1b}"), "{format}: {text}");
        assert_inert(&format!("sql --format {format}"), &text);
    }
    let out = run(bin()
        .arg("graph")
        .arg("--data-dir")
        .arg(&data)
        .arg(&instance));
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.contains("digraph"), "{dot}");
    assert_inert("graph (DOT)", &dot);
    // An error quoting log content is inert too.
    let out = bin()
        .args(["sql", "--data-dir"])
        .arg(&data)
        .arg("SELECT CAST(agent_id AS INT) FROM events")
        .output()
        .unwrap();
    assert_inert("sql's error", &String::from_utf8_lossy(&out.stderr));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_gzip_bomb_and_a_truncated_gzip_lose_only_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let good = common::repo().join("fixtures/otlp/agent-trace.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&good)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Its own copy of the good records, compressed and cut at 60%.
    let cut = tmp.path().join("cut.jsonl.gz");
    let whole = gzip(lines.join("\n").as_bytes());
    std::fs::write(&cut, &whole[..whole.len() * 6 / 10]).unwrap();
    let bomb = tmp.path().join("bomb.jsonl.gz");
    std::fs::write(&bomb, gzip(&vec![b' '; 200 << 20])).unwrap();
    let data = tmp.path().join("data");
    let started = std::time::Instant::now();
    let summary = replay(&data, &[good.clone(), bomb.clone(), cut.clone()]);
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    assert!(summary.contains("decompression_limit"), "{summary}");
    assert!(summary.contains("truncated_input"), "{summary}");
    // The good file's events are all there.
    let stored = sql_json(&data, "SELECT count(*) AS n FROM events");
    assert!(stored[0]["n"].as_u64().unwrap() > 0, "{stored:?}");
    let letters = sql_json(&data, "SELECT reason, detail, origin FROM dead_letters");
    for (reason, file) in [("decompression_limit", &bomb), ("truncated_input", &cut)] {
        let l = letters
            .iter()
            .find(|l| l["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason}: {letters:?}"));
        // A whole input file: line 0.
        assert_eq!(l["origin"], format!("{}:0", file.display()));
        assert!(!l["detail"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_query_built_to_overflow_the_planner_is_an_error_not_an_abort() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["sql", "--data-dir"])
        .arg(tmp.path())
        .arg(format!("SELECT {}", vec!["1"; 1_501].join("+")))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("too complex"), "{err}");
}

//! False positives on real benign agent behaviour: the 200 tau-bench
//! airline conversations (GPT-4o tool calls with arguments, results and the
//! user's messages), written as OTLP GenAI spans, one agent instance each.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::otlp::{Call, Session};
use common::{replay, sql_json};
use serde_json::{Value, json};

/// One OTLP request per conversation: a root `invoke_agent` span carrying
/// the user's messages, one `execute_tool` span per tool call with its
/// arguments and result.
fn to_otlp(conversations: &[Value]) -> String {
    let mut out = String::new();
    let start = 1_715_785_200; // 2024-05-15T15:00:00Z, tau-bench's "current time"
    for (n, c) in conversations.iter().enumerate() {
        let instance = format!("airline-agent-{}-{}", c["task_id"], c["trial"]);
        let traj = c["traj"].as_array().unwrap();
        let results: BTreeMap<&str, &str> = traj
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| {
                (
                    m["tool_call_id"].as_str().unwrap(),
                    m["content"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let user_messages: Vec<Value> = traj
            .iter()
            .filter(|m| m["role"] == "user")
            .map(|m| json!({"role": "user", "parts": [{"type": "text", "content": m["content"]}]}))
            .collect();
        let request = Value::Array(user_messages).to_string();
        let calls = traj
            .iter()
            .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
            .map(|call| {
                let id = call["id"].as_str().unwrap();
                Call {
                    id: id.to_owned(),
                    tool: call["function"]["name"].as_str().unwrap(),
                    arguments: call["function"]["arguments"]
                        .as_str()
                        .unwrap_or("{}")
                        .to_owned(),
                    result: results.get(id).copied().unwrap_or(""),
                }
            })
            .collect();
        let session = Session {
            n,
            agent: "airline-agent",
            instance: &instance,
            user: c["info"]["task"]["user_id"].as_str().unwrap_or("unknown"),
            request: &request,
            start: start + n as i64 * 900,
            calls,
        };
        out.push_str(&session.to_otlp_line());
    }
    out
}

/// The 200 conversations as OTLP, in a scratch directory.
fn conversations(tmp: &Path) -> (Vec<Value>, PathBuf) {
    let path = common::shared_data("tau-bench").join("gpt-4o-airline.json");
    let conversations: Vec<Value> = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(conversations.len(), 200);
    let input = tmp.join("tau-bench.otlp.jsonl");
    std::fs::write(&input, to_otlp(&conversations)).unwrap();
    (conversations, input)
}

/// Findings by (detector, severity), and the instances flagged medium or
/// higher.
fn tally(findings: &[Value]) -> (BTreeMap<(String, String), usize>, BTreeSet<String>) {
    let mut flagged = BTreeSet::new();
    let mut by_detector: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in findings {
        let sev = f["severity"].as_str().unwrap().to_owned();
        *by_detector
            .entry((f["detector"].as_str().unwrap().to_owned(), sev.clone()))
            .or_default() += 1;
        if ["medium", "high", "critical"].contains(&sev.as_str()) {
            flagged.insert(f["agent_instance"].as_str().unwrap().to_owned());
        }
    }
    (by_detector, flagged)
}

const FINDINGS: &str =
    "SELECT detector, severity, agent_instance, summary FROM findings ORDER BY finding_id";

#[test]
fn real_benign_tool_calling_conversations_raise_almost_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (conversations, input) = conversations(tmp.path());
    let data = tmp.path().join("data");
    replay(&data, &[input]);
    let tool_calls = sql_json(
        &data,
        "SELECT count(*) AS n FROM events WHERE operation LIKE 'execute_tool:%' AND agent_id = 'airline-agent'",
    );
    assert!(
        tool_calls[0]["n"].as_u64().unwrap() > 1000,
        "{tool_calls:?}"
    );
    let findings = sql_json(&data, FINDINGS);
    let (by_detector, flagged) = tally(&findings);
    eprintln!("tau-bench findings by detector and severity: {by_detector:?}");
    eprintln!(
        "tau-bench: {} of {} benign conversations flagged medium or higher",
        flagged.len(),
        conversations.len()
    );
    for f in findings.iter().take(5) {
        eprintln!("  {}", f["summary"]);
    }
    // No tool call sends anything to a destination the user did not give.
    assert!(
        !by_detector.keys().any(|(d, _)| d == "data_flow"),
        "{findings:?}"
    );
    // The benign conversations are one agent's ordinary work, and this
    // agent acts on ids its lookups return in every one of them (it cancels
    // the reservations `get_user_details` lists): value provenance must
    // learn that habit during its onboarding and calibration, not flag it.
    // At most one of 200 flagged medium or higher.
    assert!(
        flagged.len() <= 1,
        "{} of {} benign conversations flagged medium or higher: {by_detector:?}",
        flagged.len(),
        conversations.len()
    );
}

#[test]
fn after_trusted_onboarding_ordinary_lookups_stay_alone() {
    // The same habit, learned from trusted history (`--trusted`) instead.
    let tmp = tempfile::tempdir().unwrap();
    let (conversations, input) = conversations(tmp.path());
    let first = tmp.path().join("first.otlp.jsonl");
    std::fs::write(&first, to_otlp(&conversations[..100])).unwrap();
    let data = tmp.path().join("data");
    for (file, trusted) in [(&first, true), (&input, false)] {
        let mut cmd = common::bin();
        cmd.arg("replay").arg("--data-dir").arg(&data);
        if trusted {
            cmd.arg("--trusted");
        }
        common::run(cmd.arg(file));
    }
    let findings = sql_json(&data, FINDINGS);
    let (by_detector, _) = tally(&findings);
    let judged: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f["detector"] == "value_provenance")
        .filter(|f| f["severity"] != "info" && f["severity"] != "low")
        .filter_map(|f| f["agent_instance"].as_str())
        .collect();
    eprintln!("tau-bench after onboarding: {by_detector:?}");
    // The second run judges the other 100 conversations (the first 100 are
    // duplicates it drops): at most one of them flagged.
    assert!(judged.len() <= 1, "{judged:?}: {by_detector:?}");
}

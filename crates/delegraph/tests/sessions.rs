//! Detection signals on small hand-made agent sessions, one case per file
//! in `tests/sessions/` (its README gives the format): a history of
//! benign sessions, then the sessions judged, each with what must fire and
//! what must stay quiet. A new case is a new file, not code.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::otlp::{Call, Session};
use common::{bin, files_in, repo, run, sql_json};
use serde_json::Value;

/// Seconds between sessions: each closes and is learned before the next.
const APART: i64 = 3600;
/// 2026-03-01T00:00:00Z.
const START: i64 = 1_772_323_200;

/// A string of the case with `{n}` replaced by the session's number.
fn text(v: &Value, n: usize) -> String {
    v.as_str().unwrap_or("").replace("{n}", &n.to_string())
}

/// One session of the case as an OTLP request line.
fn session_line(agent: &str, instance: &str, n: usize, s: &Value) -> String {
    let request = text(&s["request"], n);
    let args: Vec<String> = s["calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| text(&Value::String(c["arguments"].to_string()), n))
                .collect()
        })
        .unwrap_or_default();
    let results: Vec<String> = s["calls"]
        .as_array()
        .map(|calls| calls.iter().map(|c| text(&c["result"], n)).collect())
        .unwrap_or_default();
    let calls = s["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| Call {
            id: format!("call-{n}-{i}"),
            tool: c["tool"].as_str().unwrap(),
            arguments: args[i].clone(),
            result: &results[i],
        })
        .collect();
    Session {
        n,
        agent,
        instance,
        user: "ana@corp.example",
        request: &request,
        start: START + n as i64 * APART,
        calls,
    }
    .to_otlp_line()
}

/// Render the case's sessions, replay them, return the findings.
fn replay_case(case: &Value, dir: &Path) -> Vec<Value> {
    let agent = case["agent"].as_str().unwrap_or("mail-agent");
    let history = &case["history"];
    let kinds = history["sessions"].as_array().unwrap();
    let count = history["count"].as_u64().unwrap() as usize;
    let mut lines = String::new();
    for n in 0..count {
        lines.push_str(&session_line(
            agent,
            &format!("h{n}"),
            n,
            &kinds[n % kinds.len()],
        ));
    }
    for (k, s) in case["judged"].as_array().unwrap().iter().enumerate() {
        lines.push_str(&session_line(agent, &format!("j{k}"), count + k, s));
    }
    let input = dir.join("sessions.otlp.jsonl");
    std::fs::write(&input, lines).unwrap();
    let data = dir.join("store");
    let mut cmd = bin();
    cmd.arg("replay").arg("--data-dir").arg(&data);
    if let Some(toml) = case["detectors"].as_str() {
        let path = dir.join("detectors.toml");
        std::fs::write(&path, toml).unwrap();
        cmd.arg("--detectors").arg(path);
    }
    if let Some(rule) = case["rule"].as_str() {
        let rules = dir.join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("case.yml"), rule).unwrap();
        cmd.arg("--rules").arg(rules);
    }
    run(cmd.arg(&input));
    sql_json(
        &data,
        "SELECT agent_instance, detector, risk_score, summary FROM findings ORDER BY risk_score DESC",
    )
}

/// Every expectation of the case that does not hold, in words.
fn failures(case: &Value, findings: &[Value]) -> Vec<String> {
    let mut failed = Vec::new();
    for x in case["expect"].as_array().unwrap() {
        let instance = format!("j{}", x["judged"]);
        let detector = x["detector"].as_str().unwrap();
        let mine: Vec<&Value> = findings
            .iter()
            .filter(|f| f["agent_instance"] == instance.as_str() && f["detector"] == detector)
            .collect();
        let top = mine.first().map(|f| f["risk_score"].as_u64().unwrap());
        let said = format!("{instance} {detector}: top risk {top:?}, {mine:?}");
        if x["quiet"] == true && !mine.is_empty() {
            failed.push(format!("should stay quiet; {said}"));
        }
        if let Some(min) = x["min_risk"].as_u64()
            && top.is_none_or(|r| r < min)
        {
            failed.push(format!("should fire with risk >= {min}; {said}"));
        }
        if let Some(max) = x["max_risk"].as_u64()
            && top.is_some_and(|r| r > max)
        {
            failed.push(format!("should stay at risk <= {max}; {said}"));
        }
        for part in x["contains"].as_array().into_iter().flatten() {
            let part = part.as_str().unwrap();
            if !mine
                .first()
                .is_some_and(|f| f["summary"].as_str().unwrap().contains(part))
            {
                failed.push(format!("summary should say {part:?}; {said}"));
            }
        }
    }
    failed
}

#[test]
fn every_session_case_fires_and_stays_quiet_as_written() {
    let files = files_in(&repo().join("crates/delegraph/tests/sessions"), "json");
    assert!(files.len() >= 5, "cases: {files:?}");
    let mut failed = Vec::new();
    for file in &files {
        let case: Value = serde_json::from_slice(&std::fs::read(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            !case["expect"].as_array().unwrap().is_empty(),
            "{}",
            file.display()
        );
        let tmp = tempfile::tempdir().unwrap();
        let findings = replay_case(&case, tmp.path());
        for f in failures(&case, &findings) {
            failed.push(format!("{}: {f}", file.display()));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

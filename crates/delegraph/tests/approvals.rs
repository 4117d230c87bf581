//! Approvals end to end: simulate → replay → SQL. Every event of an
//! approved instance carries, in its chain, the decision that allowed it and
//! the human who approved the task; tool calls are bound to the decision
//! made for them; the graph has the approval and decision nodes.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{jsonl, replay, simulate, sql_json};

#[test]
fn every_event_of_an_approved_instance_shows_its_decision_and_approver() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let files = simulate(&sim, 8, 250, 3.0);
    let data = tmp.path().join("data");
    replay(&data, &files);

    // Instance → (envelope, approver), from the envelopes the platform wrote.
    let mut approved: BTreeMap<String, (String, String)> = BTreeMap::new();
    for e in jsonl(&sim.join("envelopes.jsonl")) {
        if e["event"] == "approved" {
            approved.insert(
                e["agent_instance"].as_str().unwrap().to_owned(),
                (
                    e["envelope_id"].as_str().unwrap().to_owned(),
                    e["approved_by"]["email"].as_str().unwrap().to_owned(),
                ),
            );
        }
    }
    assert!(approved.len() > 100, "{}", approved.len());

    let rows = sql_json(
        &data,
        "SELECT event_id, source, category, agent_instance, delegation_root, chain, decision_id, \
         approved_by, envelope_id, inside_envelope FROM events",
    );
    let mut checked = 0;
    let mut sources = BTreeSet::new();
    for r in &rows {
        let root = r["delegation_root"].as_str().unwrap_or_default();
        let Some((envelope, approver)) = approved.get(root) else {
            continue;
        };
        let chain: Vec<&str> = r["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let decision = r["decision_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no decision on {r}"));
        assert!(
            chain.contains(&format!("decision:{decision}").as_str()),
            "decision not in the chain: {r}"
        );
        assert!(
            chain.contains(&approver.as_str()),
            "approver not in the chain: {r}"
        );
        // The approval sits between the human and the instance.
        let at = |x: &str| chain.iter().position(|c| *c == x).unwrap();
        assert!(
            at(&format!("decision:{decision}")) < at(r["agent_instance"].as_str().unwrap()),
            "{r}"
        );
        if r["category"] == "policy_decision" {
            sources.insert(format!("{} decision", r["source"].as_str().unwrap()));
        } else {
            assert_eq!(r["envelope_id"].as_str(), Some(envelope.as_str()), "{r}");
            assert_eq!(r["approved_by"].as_str(), Some(approver.as_str()), "{r}");
            assert!(
                chain.contains(&format!("envelope:{envelope}").as_str()),
                "{r}"
            );
        }
        sources.insert(r["source"].as_str().unwrap().to_owned());
        checked += 1;
    }
    assert!(checked > 2000, "{checked}");
    for s in [
        "cloudtrail",
        "otlp",
        "mcp",
        "opa decision",
        "cloudtrail decision",
        "task_envelope",
    ] {
        assert!(sources.contains(s), "no {s} event checked: {sources:?}");
    }

    // A tool call is bound to the decision made for that tool: by the id it
    // carries, or by instance, tool and time.
    let bound = sql_json(
        &data,
        "SELECT e.tool AS tool, d.tool AS decided, e.agent_instance AS instance, \
         d.agent_instance AS asked_by, d.source AS engine, e.raw LIKE '%decision_id%' AS carried \
         FROM events e JOIN events d \
         ON d.decision_id = e.decision_id AND d.category = 'policy_decision' \
         WHERE e.category = 'tool_call' AND e.source IN ('otlp', 'mcp') \
         AND e.decision_basis <> 'the envelope''s approving decision'",
    );
    let by_time = bound.iter().filter(|b| b["carried"] == false).count();
    let cedar = bound.iter().filter(|b| b["engine"] == "cloudtrail").count();
    assert!(
        bound.len() > 1000 && by_time > 200 && cedar > 100,
        "{} {by_time} {cedar}",
        bound.len()
    );
    for b in &bound {
        assert_eq!(b["tool"], b["decided"], "{b}");
        assert_eq!(b["instance"], b["asked_by"], "{b}");
    }

    // Benign approved instances stay inside their envelopes.
    let planted: BTreeSet<String> = jsonl(&sim.join("scenarios.jsonl"))
        .iter()
        .flat_map(|s| [s["instance"].clone(), s["lender"].clone()])
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    for r in &rows {
        let root = r["delegation_root"].as_str().unwrap_or_default();
        if approved.contains_key(root)
            && !planted.contains(root)
            && r["category"] != "policy_decision"
        {
            assert_ne!(r["inside_envelope"], false, "{r}");
        }
    }

    // Each approved instance's row lists its envelope and decisions.
    let agents = sql_json(
        &data,
        "SELECT agent_instance, envelopes, decisions FROM agents",
    );
    let mut listed = 0;
    for a in &agents {
        if let Some((envelope, _)) = approved.get(a["agent_instance"].as_str().unwrap()) {
            assert_eq!(a["envelopes"], serde_json::json!([envelope]), "{a}");
            assert!(!a["decisions"].as_array().unwrap().is_empty(), "{a}");
            listed += 1;
        }
    }
    assert!(listed > 100, "{listed}");

    // The graph: human → envelope → instance, decision → tool call.
    let edges = sql_json(
        &data,
        "SELECT DISTINCT edge, from_kind, to_kind FROM edges WHERE edge IN ('approves', 'authorizes', 'requests')",
    );
    let kinds: BTreeSet<(String, String, String)> = edges
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_owned();
            (s("edge"), s("from_kind"), s("to_kind"))
        })
        .collect();
    for want in [
        ("approves", "human", "approval"),
        ("authorizes", "approval", "instance"),
        ("authorizes", "decision", "tool"),
        ("requests", "instance", "decision"),
    ] {
        let want = (want.0.to_owned(), want.1.to_owned(), want.2.to_owned());
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
}

#[test]
fn opa_input_is_read_through_the_configured_mapping_and_typos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = tmp.path().join("decisions.json");
    std::fs::write(
        &entry,
        r#"{"decision_id":"d-1","path":"gw/allow","input":{"session":{"agent":"inst-9","user":"ana@example.com"},"op":"drop_table","target":"db:prod.users"},"result":false,"timestamp":"2026-05-06T10:00:00Z"}"#,
    )
    .unwrap();
    let mapping = tmp.path().join("delegraph.toml");
    std::fs::write(
        &mapping,
        "data_dir = \"x\"\n[decoders.opa]\nagent_instance = [\"/input/session/agent\"]\n\
         on_behalf_of = [\"/input/session/user\"]\ntool = [\"/input/op\"]\nresource = [\"/input/target\"]\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    common::run(
        common::bin()
            .args(["replay", "--no-state", "--decoders"])
            .arg(&mapping)
            .arg("--data-dir")
            .arg(&data)
            .arg(&entry),
    );
    let rows = sql_json(
        &data,
        "SELECT agent_instance, initiator, tool, resources, decision_allowed, outcome FROM events",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["agent_instance"], "inst-9", "{r}");
    assert_eq!(r["initiator"], "ana@example.com", "{r}");
    assert_eq!(r["tool"], "drop_table", "{r}");
    assert_eq!(r["resources"][0], "db:prod.users", "{r}");
    assert_eq!(r["decision_allowed"], false, "{r}");
    assert_eq!(r["outcome"], "denied", "{r}");

    std::fs::write(&mapping, "[decoders.opa]\ntool_name = [\"/input/op\"]\n").unwrap();
    let out = common::bin()
        .args(["replay", "--no-state", "--decoders"])
        .arg(&mapping)
        .arg("--data-dir")
        .arg(&data)
        .arg(&entry)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("delegraph.toml") && err.contains("tool_name"),
        "{err}"
    );
}

#[test]
fn propagated_decision_ids_without_their_decision_logs_approve_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let files = simulate(&sim, 9, 400, 3.0);
    // The tool-call logs carry decision ids, but the OPA decision log and
    // the envelopes are not ingested (Verified Permissions decisions still
    // arrive with CloudTrail).
    let partial: Vec<_> = files
        .iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_str().unwrap();
            name != "opa.jsonl" && name != "envelopes.jsonl"
        })
        .cloned()
        .collect();
    assert_eq!(partial.len(), files.len() - 2);
    let data = tmp.path().join("data");
    replay(&data, &partial);
    let carried = sql_json(
        &data,
        "SELECT count(*) AS n FROM events WHERE decision_basis = 'propagated decision id'",
    );
    assert!(carried[0]["n"].as_u64().unwrap() > 500, "{carried:?}");
    let planted: BTreeSet<String> = jsonl(&sim.join("scenarios.jsonl"))
        .iter()
        .filter(|s| s["scenario"] == "unapproved")
        .map(|s| s["instance"].as_str().unwrap().to_owned())
        .collect();
    let findings = sql_json(
        &data,
        "SELECT agent_id, agent_instance, delegation_root FROM findings WHERE detector = 'unapproved'",
    );
    for f in &findings {
        // Only agents whose decisions were read (Verified Permissions) are
        // judged, and only planted instances (or their sub-agents) flagged.
        assert_eq!(f["agent_id"], "data-analyst", "{f}");
        assert!(
            planted.contains(f["delegation_root"].as_str().unwrap()),
            "{f}"
        );
    }
}

#[test]
fn with_no_decision_window_only_propagated_ids_bind_decisions() {
    let tmp = tempfile::tempdir().unwrap();
    let files = simulate(&tmp.path().join("sim"), 8, 120, 2.0);
    let bases = |window: &str| {
        let data = tmp.path().join(format!("data-{window}"));
        common::run(
            common::bin()
                .args(["replay", "--decision-window", window, "--data-dir"])
                .arg(&data)
                .args(&files),
        );
        let rows = sql_json(
            &data,
            "SELECT decision_basis, count(*) AS n FROM events \
             WHERE category = 'tool_call' GROUP BY decision_basis",
        );
        rows.iter()
            .filter_map(|r| Some((r["decision_basis"].as_str()?.to_owned(), r["n"].as_u64()?)))
            .collect::<BTreeMap<String, u64>>()
    };
    let by_time = |b: &BTreeMap<String, u64>| {
        b.iter()
            .filter(|(k, _)| k.starts_with("same instance and action"))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let default = bases("2m");
    let none = bases("0s");
    assert!(by_time(&default) > 50, "{default:?}");
    assert_eq!(by_time(&none), 0, "{none:?}");
    // What time bound before now falls back to the envelope's decision.
    let fallback = "the envelope's approving decision";
    assert!(
        none.get(fallback) > default.get(fallback),
        "{none:?} {default:?}"
    );
    assert_eq!(
        none.get("propagated decision id"),
        default.get("propagated decision id")
    );
}

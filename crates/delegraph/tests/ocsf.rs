//! Findings leave as OCSF Detection Finding events that an independent
//! validator (the OCSF project's schema, through PyPI's `ocsf-json-schema`
//! and `jsonschema`) accepts: rule findings and statistical ones, whose
//! drift is explained in `anomaly_analyses` and whose agent is the actor of
//! every evidence.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{bin, jsonl, ocsf_check, ocsf_validate, repo, run, simulate, sql_json, stratus_files};

/// `replay --rules rules/ --ocsf` of `inputs` under `dir`: the data
/// directory and the OCSF export.
fn replay_with_export(dir: &Path, inputs: &[PathBuf]) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let export = dir.join("findings.ocsf.jsonl");
    run(bin()
        .arg("replay")
        .arg("--data-dir")
        .arg(&data)
        .arg("--rules")
        .arg(repo().join("rules"))
        .arg("--ocsf")
        .arg(&export)
        .args(inputs));
    (data, export)
}

#[test]
fn replayed_findings_exported_as_ocsf_validate_and_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = simulate(&dir.path().join("sim"), 11, 200, 3.0);
    inputs.extend(stratus_files());
    let (data, export) = replay_with_export(dir.path(), &inputs);

    let report = ocsf_validate(&export);
    let events = jsonl(&export);
    let stored = sql_json(&data, "SELECT finding_id FROM findings");
    assert_eq!(report["checked"], events.len());
    assert_eq!(report["classes"]["2004@1.8.0"], events.len());
    // One event per stored finding, the same ids.
    let ids = |it: Vec<String>| it.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(
        ids(events
            .iter()
            .map(|e| e["finding_info"]["uid"].as_str().unwrap().to_owned())
            .collect()),
        ids(stored
            .iter()
            .map(|r| r["finding_id"].as_str().unwrap().to_owned())
            .collect()),
    );
    assert_eq!(events.len(), stored.len());

    let rules: Vec<_> = events
        .iter()
        .filter(|e| e["finding_info"]["analytic"]["type_id"] == 1)
        .collect();
    let statistical: Vec<_> = events
        .iter()
        .filter(|e| e["finding_info"]["analytic"]["type_id"] == 3)
        .collect();
    assert!(
        !rules.is_empty() && !statistical.is_empty(),
        "{} events",
        events.len()
    );
    for e in &statistical {
        let d = &e["unmapped"]["delegraph"];
        let drift = &e["anomaly_analyses"][0];
        assert_eq!(
            drift["baselines"][0]["observations"][0]["value"], d["expected"],
            "{e}"
        );
        assert_eq!(
            drift["anomalies"][0]["observations"][0]["value"], d["observed"],
            "{e}"
        );
        assert_eq!(
            drift["baselines"][0]["observations"][0]["count"],
            d["baseline_instances"]
        );
    }
    for e in &rules {
        assert!(e.get("anomaly_analyses").is_none(), "{e}");
    }
    // The agent acted in the evidence, wherever the finding names one.
    let attributed = events
        .iter()
        .filter(|e| e["unmapped"]["delegraph"]["agent_id"].is_string())
        .inspect(|e| {
            let evidences = e["evidences"].as_array().unwrap();
            assert!(!evidences.is_empty(), "{e}");
            for ev in evidences {
                assert_eq!(
                    ev["actor"]["app_name"],
                    e["unmapped"]["delegraph"]["agent_id"]
                );
                assert_eq!(
                    ev["actor"]["session"]["uid"],
                    e["unmapped"]["delegraph"]["agent_instance"]
                );
            }
        })
        .count();
    assert!(attributed > 0);
}

#[test]
fn the_validator_refuses_an_event_that_breaks_the_schema() {
    // The validator is a test of its own: an event missing a required
    // attribute and carrying one OCSF does not define fails it.
    let dir = tempfile::tempdir().unwrap();
    let (_, export) = replay_with_export(dir.path(), &stratus_files());
    let mut event = jsonl(&export).remove(0);
    event.as_object_mut().unwrap().remove("finding_info");
    event["actor"] = serde_json::json!({ "app_name": "x" });
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, format!("{event}\n")).unwrap();
    let (valid, report) = ocsf_check(&broken);
    assert!(!valid, "{report}");
    let errors = report["invalid"][0]["errors"].to_string();
    assert!(errors.contains("finding_info"), "{errors}");
    assert!(errors.contains("actor"), "{errors}");
}

//! Analysts' verdicts reach the detectors: a finding closed as benign in
//! the store's triage log lets the next run learn its quarantined
//! instance into the agent's baseline; a true-positive close drops it;
//! reading the log again applies nothing twice.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{replay, simulate, sql_json};
use delegraph_detect::{DetectConfig, Detectors};
use delegraph_model::{
    ActivityEntry, Analyzer, AnalyzerStats, Disposition, TriageState, TriageStatus,
};
use delegraph_pipeline::Checkpoint;

/// The detector engine's counters in `data`'s checkpoint.
fn detector_stats(data: &Path) -> AnalyzerStats {
    let c = Checkpoint::load(data).unwrap().unwrap();
    let d = Detectors::restore(DetectConfig::default(), &c.analyzers["detectors"]).unwrap();
    Analyzer::stats(&d)
}

fn close(seq: u64, finding: &str, instance: &str, d: Disposition) -> ActivityEntry {
    ActivityEntry {
        seq,
        finding_id: finding.to_owned(),
        at: 1_800_000_000_000_000_000,
        actor: "ana".into(),
        action: "close".into(),
        state: TriageState {
            status: TriageStatus::Closed,
            disposition: Some(d),
            assignee: None,
        },
        note: Some("expected: the nightly export job".into()),
        via: "single".into(),
        agent_instance: Some(instance.to_owned()),
    }
}

#[test]
fn benign_and_true_positive_closes_reach_the_baselines() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    replay(&data, &simulate(&tmp.path().join("sim"), 8, 300, 3.0));
    let before = detector_stats(&data);
    assert!(before["held_back"] >= 4, "{before:?}");
    assert_eq!(before["learned_benign"], 0);

    // Instances whose detector findings were risky enough to be held back.
    let risky = sql_json(
        &data,
        "SELECT agent_instance, min(finding_id) AS finding_id FROM findings \
         WHERE rule_id IS NULL AND agent_instance IS NOT NULL \
         GROUP BY agent_instance HAVING max(risk_score) >= 40 \
         ORDER BY agent_instance LIMIT 40",
    );
    assert!(risky.len() >= 4, "{risky:?}");
    let (benign, malicious) = risky.split_at(risky.len() / 2);
    let mut log = Vec::new();
    for (row, d) in benign
        .iter()
        .map(|r| (r, Disposition::BenignPositive))
        .chain(malicious.iter().map(|r| (r, Disposition::TruePositive)))
    {
        let seq = log.len() as u64 + 1;
        log.push(close(
            seq,
            row["finding_id"].as_str().unwrap(),
            row["agent_instance"].as_str().unwrap(),
            d,
        ));
    }
    delegraph_store::append_activity(&data, &log).unwrap();

    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    replay(&data, &[empty]);
    let after = detector_stats(&data);
    let (learned, dropped) = (after["learned_benign"], after["dropped_true_positive"]);
    assert!(learned >= 1 && learned <= benign.len() as u64, "{after:?}");
    assert!(
        dropped >= 1 && dropped <= malicious.len() as u64,
        "{after:?}"
    );
    assert_eq!(
        after["held_back"],
        before["held_back"] - learned - dropped,
        "{after:?}"
    );
    assert_eq!(after["learned"], before["learned"] + learned, "{after:?}");

    // The log read again by the next run (a new process) changes nothing.
    let again: PathBuf = tmp.path().join("empty2.jsonl");
    std::fs::write(&again, "\n").unwrap();
    replay(&data, &[again]);
    assert_eq!(detector_stats(&data), after);
}

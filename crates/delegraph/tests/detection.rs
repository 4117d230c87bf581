//! Detectors against the simulator's labelled scenarios, end to end:
//! simulate → replay → `findings` table. Recall per scenario by its
//! intended detector, and the share of benign instances flagged medium or
//! higher.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{jsonl, replay, simulate, sql_json};

const MEDIUM_OR_HIGHER: [&str; 3] = ["medium", "high", "critical"];

#[test]
fn every_scenario_is_caught_by_its_detector_and_benign_instances_stay_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let files = simulate(&sim, 21, 700, 4.0);
    let data = tmp.path().join("data");
    replay(&data, &files);

    // Task → scenario (None = benign).
    let mut tasks: BTreeMap<String, Option<String>> = jsonl(&sim.join("truth.jsonl"))
        .into_iter()
        .map(|t| (t["task"].as_str().unwrap().to_owned(), None))
        .collect();
    let mut lenders = BTreeSet::new();
    for s in jsonl(&sim.join("scenarios.jsonl")) {
        if let Some(l) = s["lender"].as_str() {
            lenders.insert(l.to_owned());
        }
        tasks.insert(
            s["instance"].as_str().unwrap().to_owned(),
            Some(s["scenario"].as_str().unwrap().to_owned()),
        );
    }
    // Task → (detector, severity) of its findings (its own or its sub-agents').
    let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let findings = sql_json(
        &data,
        "SELECT detector, severity, agent_instance, delegation_root FROM findings",
    );
    let mut elsewhere = 0;
    for f in &findings {
        let det = f["detector"].as_str().unwrap().to_owned();
        let sev = f["severity"].as_str().unwrap().to_owned();
        let owner = [&f["agent_instance"], &f["delegation_root"]]
            .into_iter()
            .filter_map(|v| v.as_str())
            .find(|i| tasks.contains_key(*i));
        match owner {
            Some(task) => found.entry(task.to_owned()).or_default().push((det, sev)),
            None => elsewhere += 1,
        }
    }

    let mut table = String::from(
        "scenario                   detector              instances  caught  recall\n",
    );
    let mut failures = Vec::new();
    let by_scenario: BTreeMap<&str, Vec<&String>> =
        tasks.iter().fold(BTreeMap::new(), |mut m, (task, s)| {
            if let Some(s) = s {
                m.entry(s.as_str()).or_insert_with(Vec::new).push(task);
            }
            m
        });
    for scenario in delegraph_sim::Scenario::ALL {
        let detector = scenario.detector();
        let instances = by_scenario
            .get(scenario.as_str())
            .cloned()
            .unwrap_or_default();
        let caught = instances
            .iter()
            .filter(|t| {
                found
                    .get(t.as_str())
                    .is_some_and(|v| v.iter().any(|(d, _)| d == detector))
            })
            .count();
        let recall = caught as f64 / instances.len().max(1) as f64;
        table.push_str(&format!(
            "{:<26} {:<21} {:>9} {:>7} {:>6.1}%\n",
            scenario.as_str(),
            detector,
            instances.len(),
            caught,
            recall * 100.0
        ));
        if instances.len() < 5 || recall < 0.9 {
            failures.push(format!(
                "{}: {caught}/{}",
                scenario.as_str(),
                instances.len()
            ));
        }
    }
    // A lender's own credential was misused by the borrower: findings on it
    // (its key used after its task ended) are true, not false, positives.
    let benign: Vec<&String> = tasks
        .iter()
        .filter(|(t, s)| s.is_none() && !lenders.contains(*t))
        .map(|(t, _)| t)
        .collect();
    let flagged: BTreeSet<&String> = benign
        .iter()
        .copied()
        .filter(|t| {
            found.get(t.as_str()).is_some_and(|v| {
                v.iter()
                    .any(|(_, sev)| MEDIUM_OR_HIGHER.contains(&sev.as_str()))
            })
        })
        .collect();
    let fpr = flagged.len() as f64 / benign.len() as f64;
    table.push_str(&format!(
        "benign instances flagged medium or higher: {}/{} = {:.2}%; findings on no simulated task: {elsewhere}\n",
        flagged.len(),
        benign.len(),
        fpr * 100.0
    ));
    for t in flagged.iter().take(5) {
        table.push_str(&format!("  flagged benign {t}: {:?}\n", found[t.as_str()]));
    }
    eprintln!("{table}");
    assert!(
        failures.is_empty(),
        "recall below 90%: {failures:?}\n{table}"
    );
    assert!(fpr <= 0.01, "benign false positive rate {fpr}\n{table}");
}

//! Attribution against the simulator's ground truth, end to end through the
//! command line: simulate → replay → SQL.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::{SIM_FILES as FILES, bin, run, sql_json as sql};
use serde_json::Value;

fn simulate(dir: &std::path::Path, seed: u64, agents: usize) {
    common::simulate(dir, seed, agents, 3.0);
}

fn replay(data: &std::path::Path, files: &[PathBuf]) {
    common::replay(data, files);
}

#[test]
fn attribution_matches_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    simulate(&sim, 11, 400);
    let files: Vec<PathBuf> = FILES.iter().map(|f| sim.join(f)).collect();
    let data = tmp.path().join("data");
    replay(&data, &files);
    let rows = sql(
        &data,
        "SELECT event_id, agent_instance, initiator FROM events",
    );
    let got: HashMap<String, &Value> = rows
        .iter()
        .map(|r| (r["event_id"].as_str().unwrap().to_owned(), r))
        .collect();

    let (mut with_instance, mut right, mut ambiguous, mut wrong_human, mut total) = (0, 0, 0, 0, 0);
    for line in std::fs::read_to_string(sim.join("truth.jsonl"))
        .unwrap()
        .lines()
    {
        let t: Value = serde_json::from_str(line).unwrap();
        total += 1;
        let row = got
            .get(t["event_id"].as_str().unwrap())
            .unwrap_or_else(|| panic!("event {} not stored", t["event_id"]));
        if t["ambiguous"] == true {
            ambiguous += 1;
            continue;
        }
        if let (Some(h), Some(g)) = (t["human"].as_str(), row["initiator"].as_str())
            && h != g
        {
            wrong_human += 1;
        }
        if let Some(inst) = t["instance"].as_str() {
            with_instance += 1;
            right += usize::from(row["agent_instance"].as_str() == Some(inst));
        }
    }
    assert_eq!(rows.len(), total, "every simulated event is stored once");
    let accuracy = right as f64 / with_instance as f64;
    eprintln!(
        "attribution: {right}/{with_instance} = {:.4}%, {ambiguous} ambiguous, {wrong_human} wrong humans",
        accuracy * 100.0
    );
    assert!(with_instance > 3000, "too small a sample: {with_instance}");
    assert!(accuracy >= 0.995, "attribution accuracy {accuracy}");
    assert_eq!(wrong_human, 0, "events attributed to the wrong human");
    assert!(
        ambiguous * 100 <= total,
        "ambiguous events are over 1%: {ambiguous}/{total}"
    );
}

#[test]
fn simulation_is_deterministic_and_file_order_does_not_matter() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    simulate(&a, 5, 120);
    simulate(&b, 5, 120);
    simulate(&c, 6, 120);
    for f in FILES
        .iter()
        .chain(["truth.jsonl", "scenarios.jsonl"].iter())
    {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs for one seed"
        );
    }
    assert_ne!(
        std::fs::read(a.join("otlp.jsonl")).unwrap(),
        std::fs::read(c.join("otlp.jsonl")).unwrap()
    );

    // The same logs replayed with the sources in two different orders give
    // the same agents and edges.
    let forward: Vec<PathBuf> = FILES.iter().map(|f| a.join(f)).collect();
    let backward: Vec<PathBuf> = forward.iter().rev().cloned().collect();
    let (d1, d2) = (tmp.path().join("d1"), tmp.path().join("d2"));
    replay(&d1, &forward);
    replay(&d2, &backward);
    for q in [
        "SELECT * FROM agents ORDER BY agent_instance",
        "SELECT * FROM edges ORDER BY agent_instance, from_node, to_node, edge",
        "SELECT event_id, agent_instance, initiator, chain FROM events ORDER BY event_id",
    ] {
        let (x, y) = (sql(&d1, q), sql(&d2, q));
        assert!(!x.is_empty(), "{q}");
        assert_eq!(x, y, "{q}");
    }
}

#[test]
fn the_agent_inventory_names_logical_agents_and_bad_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    simulate(&sim, 3, 60);
    let files: Vec<PathBuf> = FILES.iter().map(|f| sim.join(f)).collect();
    let data = tmp.path().join("data");
    let inventory = common::repo().join("agents.example.toml");
    run(bin()
        .arg("replay")
        .arg("--agents")
        .arg(&inventory)
        .arg("--data-dir")
        .arg(&data)
        .args(&files));
    let rows = sql(
        &data,
        "SELECT agent_id, actor_kind, actor_kind_basis FROM events \
         WHERE source = 'cloudtrail' AND actor LIKE '%:assumed-role/support-agent/%'",
    );
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["agent_id"], "support-agent", "{r}");
        assert_eq!(r["actor_kind"], "agent", "{r}");
        assert!(
            r["actor_kind_basis"]
                .as_str()
                .unwrap()
                .starts_with("agent inventory: support-agent"),
            "{r}"
        );
    }
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[[agent]]\nid = \"x\"\nunknown_field = 1\n").unwrap();
    let out = bin()
        .arg("replay")
        .arg("--agents")
        .arg(&bad)
        .arg("--data-dir")
        .arg(&data)
        .arg(&files[0])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("unknown_field"),
        "{err}"
    );
}

/// `simulate --start` moves the whole window, and only the window: the
/// same seed four weeks later (same weekday, so time-of-day and weekday
/// habits line up) gives the same events four weeks later and the same
/// findings. This is what lets a benchmark build months of history from
/// consecutive runs.
#[test]
fn a_later_start_moves_every_event_and_changes_no_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = |start: Option<&str>| {
        let name = start.unwrap_or("default");
        let sim = tmp.path().join(format!("sim-{name}"));
        let mut cmd = bin();
        cmd.args([
            "simulate", "--seed", "12", "--agents", "150", "--hours", "2",
        ]);
        if let Some(s) = start {
            cmd.args(["--start", s]);
        }
        run(cmd.arg("--out").arg(&sim));
        let files: Vec<PathBuf> = FILES.iter().map(|f| sim.join(f)).collect();
        let data = tmp.path().join(format!("data-{name}"));
        replay(&data, &files);
        let span = sql(
            &data,
            "SELECT count(*) AS n, to_unixtime(min(event_time)) AS lo, \
             to_unixtime(max(event_time)) AS hi FROM events",
        );
        let findings = sql(
            &data,
            "SELECT detector, count(*) AS n FROM findings GROUP BY detector ORDER BY detector",
        );
        (span[0].clone(), findings)
    };
    let (before, findings_before) = summary(None);
    let (after, findings_after) = summary(Some("2026-03-30T00:00:00Z"));
    const FOUR_WEEKS: f64 = 28.0 * 86_400.0;
    assert!(before["n"].as_u64().unwrap() > 1_000, "{before}");
    assert_eq!(before["n"], after["n"]);
    for edge in ["lo", "hi"] {
        let (b, a) = (
            before[edge].as_f64().unwrap(),
            after[edge].as_f64().unwrap(),
        );
        assert!((a - b - FOUR_WEEKS).abs() < 1e-3, "{edge}: {b} → {a}");
    }
    assert!(!findings_before.is_empty());
    assert_eq!(findings_before, findings_after);
    let bad = bin()
        .args(["simulate", "--start", "next tuesday", "--out"])
        .arg(tmp.path().join("bad"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

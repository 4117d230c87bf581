//! Same inputs, same outputs: the fixtures, the Stratus Red Team captures
//! and two simulated fleets (over 200,000 events together) are replayed and
//! every row of the `events`, `agents`, `edges` and `findings` tables is
//! digested (rows sorted, so file layout and write order do not matter).
//! The digests were recorded from the code before the analysis core was
//! redesigned, and again when `value_provenance` became a default detector
//! (only the simulated fleets' findings moved: 1,401 → 1,428 and 1,167 →
//! 1,204 rows), and when findings gained their `tool` and `resource`
//! columns (the findings digests only; with those two columns left out
//! they matched the previous digests), and when the Google Cloud audit
//! fixtures joined the fixtures corpus (its four digests only: 58 events,
//! 20 agents, 78 edges, 7 findings), then the Azure Activity Log and
//! Entra audit fixtures (69 events, 24 agents, 83 edges, 9 findings), and
//! when the tables became Delta tables (every digest: a `day` column,
//! times in microseconds, counts as signed integers; all sixteen row
//! counts unchanged), and when Security Lake's OCSF CloudTrail fixtures
//! joined the fixtures corpus (its four digests only: 77 events, 26 agents,
//! 87 edges, 11 findings), and when the OTel protocol-span, AgentCore and
//! cross-source scenario fixtures joined it (its events, agents and edges
//! digests only: 114 events, 33 agents, 114 edges; findings, Stratus and
//! both fleets unchanged), then the Microsoft 365 audit and Entra Agent
//! ID audit fixtures (124 events, 39 agents, 125 edges), and when an MCP
//! server span under its client's became the server's account of the
//! call rather than a second tool call (with one untraced server span
//! added: 125 events, 39 agents, 125 edges), and when the detectors began
//! to forget credentials unused for a week (the fixtures' findings only,
//! 11 → 9: two samples use a temporary credential years after the record
//! that issued or first used it), and when the Entra ID Protection
//! fixtures joined the fixtures corpus (its events, agents and edges
//! digests only: 132 events, 41 agents, 126 edges; findings, Stratus and
//! both fleets unchanged); any other drift in attribution,
//! detection or storage fails here.
//!
//! To record them anew after an intended change of output, run with
//! `DELEGRAPH_RECORD_DIGESTS=1` and say in the commit why the output moved.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{SIM_FILES, bin, fixture_inputs, repo, run, stratus_files};
use sha2::{Digest, Sha256};

/// Where the recorded digests live, next to this file.
const DIGESTS: &str = "tests/snapshots/table_digests.txt";
/// The tables compared.
const TABLES: [&str; 4] = ["events", "agents", "edges", "findings"];
/// Two simulated fleets: (seed, agents, hours).
const FLEETS: [(u64, usize, f64); 2] = [(21, 6000, 8.0), (5, 5000, 8.0)];

/// Copy `files` into `dir` (same names).
fn copy_into(dir: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .map(|f| {
            let to = dir.join(f.file_name().unwrap());
            std::fs::copy(f, &to).unwrap();
            to
        })
        .collect()
}

/// Replay `files` into `work/data/<corpus>`, run from `work` with relative
/// paths so that origins (`in/...:line`) do not depend on the temp dir.
fn replay_corpus(work: &Path, corpus: &str, files: &[PathBuf]) -> PathBuf {
    let data = PathBuf::from("data").join(corpus);
    let rel: Vec<&Path> = files
        .iter()
        .map(|f| f.strip_prefix(work).unwrap())
        .collect();
    run(bin()
        .current_dir(work)
        .arg("replay")
        .arg("--data-dir")
        .arg(&data)
        .args(&rel));
    work.join(data)
}

/// (rows, sha-256 of the sorted rows) of one table.
fn digest(data: &Path, table: &str) -> (usize, String) {
    let out = run(bin()
        .args([
            "sql",
            "--format",
            "json",
            "--timeout-secs",
            "600",
            "--data-dir",
        ])
        .arg(data)
        .arg(format!("SELECT * FROM {table}")));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut lines: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    lines.sort_unstable();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (lines.len(), hex)
}

#[test]
fn tables_are_identical_to_the_recorded_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let mut corpora: Vec<(String, Vec<PathBuf>)> = vec![
        ("fixtures".into(), fixture_inputs(&work.join("in/fixtures"))),
        (
            "stratus".into(),
            copy_into(&work.join("in/stratus"), &stratus_files()),
        ),
    ];
    for (seed, agents, hours) in FLEETS {
        let dir = work.join(format!("in/sim-{seed}"));
        run(bin()
            .args(["simulate", "--seed", &seed.to_string()])
            .args(["--agents", &agents.to_string()])
            .args(["--hours", &hours.to_string(), "--out"])
            .arg(&dir));
        let files = SIM_FILES.iter().map(|f| dir.join(f)).collect();
        corpora.push((format!("sim-{seed}"), files));
    }
    let mut got = String::new();
    let mut events = 0;
    for (corpus, files) in &corpora {
        let data = replay_corpus(work, corpus, files);
        for table in TABLES {
            let (rows, hex) = digest(&data, table);
            if table == "events" {
                events += rows;
            }
            got.push_str(&format!("{corpus} {table} {rows} {hex}\n"));
        }
    }
    assert!(events >= 200_000, "only {events} events compared");
    let path = repo().join("crates/delegraph").join(DIGESTS);
    if std::env::var_os("DELEGRAPH_RECORD_DIGESTS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap();
    let drift: Vec<String> = want
        .lines()
        .zip(got.lines())
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("want {w}\n got  {g}"))
        .collect();
    assert!(
        drift.is_empty() && want.lines().count() == got.lines().count(),
        "tables drifted from the recorded digests:\n{}\n(all: \n{got})",
        drift.join("\n")
    );
}

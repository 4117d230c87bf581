//! Helpers the end-to-end tests share: run the binary, replay, query,
//! simulate, find the real datasets.

// Not every test file uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod kafka;
pub mod otlp;
pub mod stream_store;

/// The `delegraph` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_delegraph"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    delegraph_testdata::checkout_root()
}

// Re-exported for the tests; not every test file uses each.
#[allow(unused_imports)]
pub use delegraph_testdata::{files_in, shared_data, stratus_files};

/// Run and insist on success (output shown on failure).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run delegraph");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `delegraph replay`; returns its summary.
pub fn replay(data: &Path, files: &[PathBuf]) -> String {
    let out = run(bin().arg("replay").arg("--data-dir").arg(data).args(files));
    String::from_utf8(out.stdout).unwrap()
}

/// `delegraph sql --format json`.
pub fn sql_json(data: &Path, query: &str) -> Vec<Value> {
    sql_json_via(bin(), data, query)
}

/// The same, run by `cmd` (the binary with settings of its own).
pub fn sql_json_via(mut cmd: Command, data: &Path, query: &str) -> Vec<Value> {
    let out = run(cmd
        .args(["sql", "--format", "json", "--data-dir"])
        .arg(data)
        .arg(query));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every row of the pipeline's tables, each table in key order; the input
/// paths (`origin`, `evidence_origins`) left out, since stores compared
/// may have read the same records from different places.
pub fn table_rows(data: &Path) -> Vec<(String, Vec<Value>)> {
    table_rows_via(bin, data)
}

/// The same, each query run by a command from `cmd`.
pub fn table_rows_via(cmd: impl Fn() -> Command, data: &Path) -> Vec<(String, Vec<Value>)> {
    [
        ("events", "event_id"),
        ("findings", "finding_id"),
        ("agents", "agent_instance"),
        ("edges", "agent_instance, from_node, to_node, edge"),
    ]
    .into_iter()
    .map(|(t, key)| {
        let all = match t {
            "events" => "* EXCLUDE (origin)",
            "findings" => "* EXCLUDE (evidence_origins)",
            _ => "*",
        };
        let rows = sql_json_via(
            cmd(),
            data,
            &format!("SELECT {all} FROM {t} ORDER BY {key}"),
        );
        (t.to_owned(), rows)
    })
    .collect()
}

/// The simulator's per-source files.
pub const SIM_FILES: [&str; 7] = [
    "cloudtrail.jsonl",
    "otlp.jsonl",
    "mcp.jsonl",
    "github.jsonl",
    "okta.jsonl",
    "opa.jsonl",
    "envelopes.jsonl",
];

/// `delegraph simulate` into `dir`; returns the per-source files.
pub fn simulate(dir: &Path, seed: u64, agents: usize, hours: f64) -> Vec<PathBuf> {
    run(bin()
        .args([
            "simulate",
            "--seed",
            &seed.to_string(),
            "--agents",
            &agents.to_string(),
            "--hours",
            &hours.to_string(),
            "--out",
        ])
        .arg(dir));
    SIM_FILES.iter().map(|f| dir.join(f)).collect()
}

/// Copy directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Lines of a JSON-lines file.
pub fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What the independent OCSF validator (`scripts/ocsf_validate.py`: the
/// `ocsf-json-schema` and `jsonschema` packages from PyPI) says of a file of
/// OCSF JSON lines: whether every event is valid, and its report.
pub fn ocsf_check(path: &Path) -> (bool, Value) {
    let python = run(&mut Command::new(repo().join("scripts/python-env")));
    let python = String::from_utf8(python.stdout).unwrap();
    let out = Command::new(python.trim())
        .arg(repo().join("scripts/ocsf_validate.py"))
        .arg(path)
        .output()
        .expect("run the OCSF validator");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "validator output: {e}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// [`ocsf_check`], insisting that every event is valid; the report.
pub fn ocsf_validate(path: &Path) -> Value {
    let (valid, report) = ocsf_check(path);
    assert!(valid, "OCSF events invalid: {report:#}");
    report
}

/// Copy the fixtures' input files (not their goldens) into `dir`, one flat
/// folder, named `<format>-<file>`.
pub fn fixture_inputs(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    let root = repo().join("fixtures");
    let mut formats: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    formats.sort();
    for format in formats {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&format)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
            .collect();
        files.sort();
        for f in files {
            let name = format!(
                "{}-{}",
                format.file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            );
            std::fs::copy(&f, dir.join(&name)).unwrap();
            out.push(dir.join(name));
        }
    }
    out
}

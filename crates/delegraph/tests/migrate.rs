//! A store written before the tables were Delta tables (`tests/stores/
//! pre-delta`, made by the last release of that layout; see its README) is
//! refused until converted, and `delegraph store migrate` converts it
//! losing nothing: every table equals a fresh replay of the same inputs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{bin, copy_dir, replay, repo, run, table_rows};

/// The two runs the old store holds, in order.
fn runs() -> [Vec<PathBuf>; 2] {
    let stratus = common::shared_data("stratus-red-team");
    [
        vec![
            repo().join("fixtures/otlp/agent-trace.jsonl"),
            repo().join("fixtures/mcp/gateway.jsonl"),
            stratus.join("aws.credential-access.ec2-get-password-data.json"),
            stratus.join("aws.credential-access.secretsmanager-batch-retrieve-secrets.json"),
        ],
        vec![
            repo().join("fixtures/okta/agent-event-hook.json"),
            repo().join("fixtures/opa/decision-logs.json"),
            repo().join("rules/ai_agent/tool_call_outside_approved_envelope.fire.jsonl"),
        ],
    ]
}

#[test]
fn a_store_of_the_old_layout_is_refused_then_converted_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    copy_dir(
        &repo().join("crates/delegraph/tests/stores/pre-delta"),
        &old,
    );

    // Refused, by reads and by writes of new input, with what to run.
    let new_input = repo().join("fixtures/github/audit.jsonl");
    for args in [
        vec!["sql", "--data-dir", old.to_str().unwrap(), "SELECT 1"],
        vec![
            "replay",
            "--data-dir",
            old.to_str().unwrap(),
            new_input.to_str().unwrap(),
        ],
    ] {
        let out = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} ran on the old layout");
        assert!(err.contains("delegraph store migrate"), "{args:?}: {err}");
    }

    let out = run(bin().args(["store", "migrate", "--data-dir"]).arg(&old));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("events: 2 file(s)"), "{said}");

    // The same inputs replayed into a new store give the same tables.
    let fresh = dir.path().join("fresh");
    for run_files in runs() {
        replay(&fresh, &run_files);
    }
    let (converted, replayed) = (table_rows(&old), table_rows(&fresh));
    for ((table, got), (_, want)) in converted.iter().zip(&replayed) {
        assert!(!want.is_empty(), "{table}: the inputs give no rows");
        assert_eq!(got, want, "{table} differs after conversion");
    }

    // Every file the converted tables' logs name is there, whole.
    let out = run(bin().args(["store", "check", "--data-dir"]).arg(&old));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is whole"));
    let events = old.join("events");
    let some_file = walk_parquet(&events).unwrap();
    std::fs::remove_file(&some_file).unwrap();
    let out = bin()
        .args(["store", "check", "--data-dir"])
        .arg(&old)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a missing file passed the check");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is missing"));

    // The old files are kept aside.
    assert!(old.join("pre-delta/events").read_dir().unwrap().count() == 2);
    // A second conversion finds nothing to do.
    let out = run(bin().args(["store", "migrate", "--data-dir"]).arg(&old));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to convert"));
}

/// One Parquet file under `dir`, at any depth.
fn walk_parquet(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).unwrap().flatten().find_map(|entry| {
        let p = entry.path();
        if p.is_dir() {
            walk_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet").then_some(p)
        }
    })
}

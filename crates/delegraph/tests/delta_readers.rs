//! The store's tables are Delta Lake tables that other engines read: the
//! Python `deltalake` package (PyPI; a separate build and release of
//! delta-rs, through pyarrow) opens every table delegraph writes and finds
//! the same rows `delegraph sql` returns.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{replay, repo, run, sql_json, stratus_files};
use delegraph_model::{ActivityEntry, TriageState, TriageStatus};
use serde_json::Value;

/// What the Python reader says of `specs` (`table:key:columns`).
fn read_with_python(data: &Path, specs: &[&str]) -> Value {
    let python = run(&mut Command::new(repo().join("scripts/python-env")));
    let python = String::from_utf8(python.stdout).unwrap();
    let out = run(Command::new(python.trim())
        .arg(repo().join("scripts/delta_tables.py"))
        .arg(data)
        .args(specs));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(data: &Path, table: &str) -> u64 {
    sql_json(data, &format!("SELECT count(*) AS n FROM {table}"))[0]["n"]
        .as_u64()
        .unwrap()
}

#[test]
fn the_python_deltalake_package_reads_every_table_alike() {
    let data = tempfile::tempdir().unwrap();
    let mut inputs = stratus_files();
    inputs.push(repo().join("fixtures/otlp/agent-trace.jsonl"));
    inputs.push(repo().join("fixtures/mcp/gateway.jsonl"));
    inputs.push(repo().join("fixtures/malformed/mixed-bad.jsonl"));
    // Two runs: two commits per table.
    let (first, second) = inputs.split_at(inputs.len() / 2);
    replay(data.path(), first);
    replay(data.path(), second);
    // Two triage changes of a finding, as the API appends them: two
    // commits.
    let finding = sql_json(
        data.path(),
        "SELECT finding_id FROM findings ORDER BY finding_id LIMIT 1",
    )[0]["finding_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for seq in 1..=2 {
        let entry = ActivityEntry {
            seq,
            finding_id: finding.clone(),
            at: 1_800_000_000_000_000_000 + i64::try_from(seq).unwrap() * 1_000,
            actor: "ana".into(),
            action: "acknowledge".into(),
            state: TriageState {
                status: TriageStatus::Acknowledged,
                disposition: None,
                assignee: Some("ana".into()),
            },
            note: Some(format!("looked at {seq}")),
            via: "single".into(),
            agent_instance: None,
        };
        delegraph_store::append_activity(data.path(), &[entry]).unwrap();
    }

    let py = read_with_python(
        data.path(),
        &[
            "events:event_id:event_id,operation,actor,event_time,resources",
            "findings:finding_id:finding_id,detector,severity,event_time,risk_score",
            "agents:agent_instance",
            "agents_live:agent_instance:agent_instance,delegation_depth,first_seen,tools",
            "edges:agent_instance",
            "edges_live:agent_instance",
            "dead_letters:origin",
            "finding_activity:seq:seq,finding_id,at,status,assignee,note",
        ],
    );
    // Counts: the tables as delegraph reads them (`agents` and `edges`
    // are the retired and the live instances together).
    assert_eq!(py["events"]["rows"], count(data.path(), "events"));
    assert_eq!(py["findings"]["rows"], count(data.path(), "findings"));
    for (t, live) in [("agents", "agents_live"), ("edges", "edges_live")] {
        let both = py[t]["rows"].as_u64().unwrap() + py[live]["rows"].as_u64().unwrap();
        assert_eq!(both, count(data.path(), t), "{t}");
    }
    assert_eq!(
        py["dead_letters"]["rows"],
        count(data.path(), "dead_letters")
    );
    assert!(py["dead_letters"]["rows"].as_u64().unwrap() > 0);
    assert_eq!(py["finding_activity"]["rows"], 2);
    assert_eq!(py["finding_activity"]["version"], 2);
    assert!(py["events"]["rows"].as_u64().unwrap() > 300);
    // The log keeps an hour of entries, not thirty days.
    assert_eq!(
        py["events"]["configuration"]["delta.logRetentionDuration"],
        "interval 1 hours"
    );
    assert!(py["findings"]["rows"].as_u64().unwrap() > 0);
    // Partitioned by day; two runs, two appends after the table's creation.
    assert_eq!(py["events"]["partitions"], serde_json::json!(["day"]));
    assert_eq!(py["events"]["version"], 2);

    // Rows: the same values, times to the microsecond.
    let samples = [
        (
            "events",
            "SELECT event_id, operation, actor, CAST(event_time AS BIGINT) AS event_time, resources \
             FROM events ORDER BY event_id LIMIT 25",
        ),
        (
            "findings",
            "SELECT finding_id, detector, severity, CAST(event_time AS BIGINT) AS event_time, \
             risk_score FROM findings ORDER BY finding_id LIMIT 25",
        ),
        (
            "agents_live",
            "SELECT agent_instance, delegation_depth, CAST(first_seen AS BIGINT) AS first_seen, \
             tools FROM agents_live ORDER BY agent_instance LIMIT 25",
        ),
        (
            "finding_activity",
            "SELECT seq, finding_id, CAST(at AS BIGINT) AS at, status, assignee, note \
             FROM finding_activity ORDER BY seq",
        ),
    ];
    for (table, sql) in samples {
        let ours = sql_json(data.path(), sql);
        let theirs = py[table]["sample"].as_array().unwrap();
        assert!(!ours.is_empty(), "{table}: no rows to compare");
        assert_eq!(&ours, theirs, "{table}");
    }
}

//! End-to-end tests of the `delegraph` command line against real data.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, replay, repo, run, sql_json, stratus_files};
use serde_json::Value;

/// What the spec says a CloudTrail record must become, read from the raw
/// JSON without the decoder's code.
fn expected(record: &Value) -> (String, Value, Value, String, bool) {
    let ui = &record["userIdentity"];
    let actor = ui["arn"]
        .as_str()
        .or(ui["principalId"].as_str())
        .unwrap()
        .to_owned();
    let cred = ui.get("accessKeyId").cloned().unwrap_or(Value::Null);
    let op = format!(
        "{}:{}",
        record["eventSource"].as_str().unwrap(),
        record["eventName"].as_str().unwrap()
    );
    let name = record["eventName"].as_str().unwrap();
    let decrypt = record["requestParameters"]["withDecryption"] == Value::Bool(true);
    let secret = matches!(name, "GetSecretValue" | "BatchGetSecretValue")
        || (name.starts_with("GetParameter") && decrypt)
        || (record["eventSource"] == "kms.amazonaws.com" && name == "Decrypt");
    (
        record["eventID"].as_str().unwrap().to_owned(),
        Value::String(actor),
        cred,
        op,
        secret,
    )
}

#[test]
fn stratus_red_team_replays_without_dead_letters_and_correct_fields() {
    let data = tempfile::tempdir().unwrap();
    let files = stratus_files();
    assert_eq!(files.len(), 35);
    let summary = replay(data.path(), &files);
    assert!(
        summary.contains("310 events from 35 document(s)"),
        "{summary}"
    );
    assert!(summary.contains("0 record(s) dead-lettered"), "{summary}");

    let count = sql_json(data.path(), "SELECT count(*) AS n FROM events");
    assert_eq!(count[0]["n"], 310);

    let rows = sql_json(
        data.path(),
        "SELECT event_id, actor, credential_id, operation, reads_secret, secrets FROM events",
    );
    let by_id: std::collections::HashMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["event_id"].as_str().unwrap(), r))
        .collect();
    let mut checked = 0;
    let mut secrets = 0;
    for f in &files {
        let records: Vec<Value> = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for rec in &records {
            let (id, actor, cred, op, secret) = expected(rec);
            let row = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("event {id} missing"));
            assert_eq!(row["actor"], actor, "actor of {id}");
            assert_eq!(
                row.get("credential_id").cloned().unwrap_or(Value::Null),
                cred,
                "credential of {id}"
            );
            assert_eq!(row["operation"], op.as_str(), "operation of {id}");
            assert_eq!(row["reads_secret"], secret, "secret flag of {id} ({op})");
            if secret {
                secrets += 1;
                assert!(
                    !row["secrets"].as_array().unwrap().is_empty(),
                    "secret read {id} names no secret"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 310);
    assert_eq!(
        secrets, 30,
        "20 GetSecretValue + 5 BatchGetSecretValue + 5 decrypting GetParameters"
    );

    // Replaying the same inputs replaces, never duplicates.
    replay(data.path(), &files);
    assert_eq!(
        sql_json(data.path(), "SELECT count(*) AS n FROM events")[0]["n"],
        310
    );
}

#[test]
fn bad_records_go_to_the_dead_letters_table_with_reason_and_origin() {
    let data = tempfile::tempdir().unwrap();
    let input = repo().join("fixtures/malformed/mixed-bad.jsonl");
    let summary = replay(data.path(), std::slice::from_ref(&input));
    assert!(summary.contains("2 events from 1 document(s)"), "{summary}");
    let letters = sql_json(
        data.path(),
        "SELECT reason, detail, origin, raw FROM dead_letters ORDER BY origin",
    );
    // 12 lines: 2 good, line 8 holds two bad values.
    assert_eq!(letters.len(), 11);
    for l in &letters {
        assert!(!l["reason"].as_str().unwrap().is_empty());
        assert!(!l["detail"].as_str().unwrap().is_empty());
        // `path:line`, `#index` after it for one of several in a line.
        let origin = l["origin"].as_str().unwrap();
        let place = origin.split('#').next().unwrap();
        let (path, line) = place.rsplit_once(':').unwrap();
        assert!(path.ends_with("mixed-bad.jsonl"), "{origin}");
        assert!(line.parse::<u64>().unwrap() >= 2, "{origin}");
    }
    let reasons: std::collections::BTreeSet<&str> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    for r in [
        "truncated",
        "malformed_json",
        "missing_field",
        "wrong_type",
        "bad_timestamp",
        "unknown_format",
        "not_an_object",
    ] {
        assert!(
            reasons.contains(r),
            "no dead letter with reason {r}: {reasons:?}"
        );
    }
    for r in ["truncated", "malformed_json", "missing_field"] {
        assert!(summary.contains(r), "summary lacks {r}: {summary}");
    }
}

#[test]
fn gzip_and_every_fixture_source_replay() {
    let data = tempfile::tempdir().unwrap();
    let fixtures = repo().join("fixtures");
    let mut inputs = Vec::new();
    for dir in [
        "cloudtrail",
        "okta",
        "entra",
        "github",
        "google_workspace",
        "gcp_audit",
        "azure_activity",
        "entra_audit",
        "entra_risk",
        "m365_audit",
        "otlp",
        "mcp",
    ] {
        for f in std::fs::read_dir(fixtures.join(dir)).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if !name.ends_with(".expected.json")
                && (name.ends_with(".json") || name.ends_with(".jsonl"))
            {
                inputs.push(f.path());
            }
        }
    }
    // One input gzipped: detected by content, not by name.
    let gz = data.path().join("otlp-trace.log");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(
        &mut enc,
        &std::fs::read(fixtures.join("otlp/agent-trace.jsonl")).unwrap(),
    )
    .unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    inputs.push(gz);
    let summary = replay(&data.path().join("store"), &inputs);
    assert!(summary.contains("0 record(s) dead-lettered"), "{summary}");
    let by_source = sql_json(
        &data.path().join("store"),
        "SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source",
    );
    let names: Vec<&str> = by_source
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "azure_activity",
            "cloudtrail",
            "entra",
            "entra_audit",
            "entra_risk",
            "gcp_audit",
            "github",
            "google_workspace",
            "m365_audit",
            "mcp",
            "okta",
            "otlp"
        ]
    );
    let otlp = by_source.iter().find(|r| r["source"] == "otlp").unwrap();
    let spans: usize = std::fs::read_dir(fixtures.join("otlp"))
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".jsonl"))
        .flat_map(|f| {
            let text = std::fs::read_to_string(f.path()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .map(|request| {
            let groups = request["resourceSpans"].as_array().unwrap().iter();
            groups
                .flat_map(|g| g["scopeSpans"].as_array().unwrap().iter())
                .map(|s| s["spans"].as_array().unwrap().len())
                .sum::<usize>()
        })
        .sum();
    // The gzip copy was decoded: its 4 spans are recognised as the plain
    // file's and dropped as duplicates, not stored twice. (The other two
    // are AgentCore's documented samples: three of its records share one
    // placeholder eventID.)
    assert_eq!(otlp["n"], spans, "{spans} spans, stored once");
    assert!(summary.contains("6 duplicate(s) dropped"), "{summary}");
}

#[test]
fn sql_refuses_writes_definitions_settings_and_files() {
    let data = tempfile::tempdir().unwrap();
    replay(data.path(), &stratus_files()[..1]);
    let refused = [
        "DROP TABLE events",
        "INSERT INTO events SELECT * FROM events",
        "COPY (SELECT 1) TO '/tmp/delegraph-copy-test.csv'",
        "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE TABLE t AS SELECT 1",
        "SET datafusion.execution.batch_size = 1",
        "SELECT * FROM '/etc/passwd'",
    ];
    for q in refused {
        let out = bin()
            .args(["sql", "--data-dir"])
            .arg(data.path())
            .arg(q)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{q} was not refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{q}: {err}");
        assert!(!err.contains("panicked"), "{q}: {err}");
    }
    assert!(!Path::new("/tmp/delegraph-copy-test.csv").exists());
    let csv = run(bin()
        .args(["sql", "--format", "csv", "--data-dir"])
        .arg(data.path())
        .arg("SELECT count(*) AS n FROM events"));
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("n\n"));
}

#[test]
fn files_of_an_interrupted_run_are_invisible() {
    let data = tempfile::tempdir().unwrap();
    let files = &stratus_files()[..2];
    replay(data.path(), files);
    let count = "SELECT count(*) AS n FROM events";
    let before = sql_json(data.path(), count)[0]["n"].clone();
    // What a crash after writing a run's rows and before its commit leaves
    // behind: a whole Parquet file of the table no commit names. A copy of
    // one the table does name holds real rows, so counting them would show.
    let committed = parquet_files(&data.path().join("events"));
    let stray = committed[0].with_file_name("part-00000-interrupted-c000.zstd.parquet");
    std::fs::copy(&committed[0], &stray).unwrap();
    assert_eq!(sql_json(data.path(), count)[0]["n"], before);
    // Replaying the same input again adds nothing either.
    replay(data.path(), files);
    assert_eq!(sql_json(data.path(), count)[0]["n"], before);
}

#[test]
fn times_older_than_the_allowed_age_are_filed_under_the_day_they_arrived() {
    let files = &stratus_files()[..2];
    let days = "SELECT DISTINCT day, CAST(day = CAST(CAST(event_time AS DATE) AS VARCHAR) AS VARCHAR) AS own \
                FROM events ORDER BY day";
    // By default, old records keep their own days (a backfill does).
    let own = tempfile::tempdir().unwrap();
    replay(own.path(), files);
    let kept = sql_json(own.path(), days);
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|r| r["own"] == "true"), "{kept:?}");
    // With a maximum age they all go under today, their times unchanged.
    let refiled = tempfile::tempdir().unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["replay".into(), "--data-dir".into()];
    args.push(refiled.path().into());
    args.extend(["--max-event-age".into(), "1d".into()]);
    args.extend(files.iter().map(|f| f.into()));
    run(bin().args(&args));
    let today = delegraph_store::utc_day(delegraph_model::Timestamp::now().nanos());
    let moved = sql_json(refiled.path(), days);
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["day"], today.as_str());
    assert_eq!(moved[0]["own"], "false");
    let times = "SELECT min(event_time) AS lo, max(event_time) AS hi FROM events";
    assert_eq!(sql_json(own.path(), times), sql_json(refiled.path(), times));
}

/// Parquet files anywhere under `dir`.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn every_saved_query_runs_over_the_fixture_store() {
    let data = tempfile::tempdir().unwrap();
    let mut inputs = stratus_files();
    inputs.push(repo().join("fixtures/otlp/agent-trace.jsonl"));
    inputs.push(repo().join("fixtures/mcp/gateway.jsonl"));
    inputs.push(repo().join("fixtures/okta/agent-event-hook.json"));
    inputs.push(repo().join("fixtures/opa/decision-logs.json"));
    inputs.push(repo().join("fixtures/cloudtrail/verified-permissions.jsonl"));
    // An envelope and a tool call outside it.
    inputs.push(repo().join("rules/ai_agent/tool_call_outside_approved_envelope.fire.jsonl"));
    replay(data.path(), &inputs);
    let mut ran = 0;
    for q in std::fs::read_dir(repo().join("queries")).unwrap().flatten() {
        let sql = std::fs::read_to_string(q.path()).unwrap();
        assert!(
            sql.starts_with("-- "),
            "{}: first line must be a '-- ' title",
            q.path().display()
        );
        let rows = sql_json(data.path(), &sql);
        assert!(
            !rows.is_empty(),
            "{} returned no rows over the fixture store",
            q.path().display()
        );
        ran += 1;
    }
    assert!(ran >= 5);
}

#[test]
fn format_flag_forces_a_decoder_and_rejects_unknown_names() {
    let data = tempfile::tempdir().unwrap();
    let input = repo().join("fixtures/cloudtrail/assume-role-chain.jsonl");
    let forced = run(bin()
        .args(["replay", "--format", "okta", "--data-dir"])
        .arg(data.path())
        .arg(&input));
    let summary = String::from_utf8_lossy(&forced.stdout);
    assert!(summary.contains("0 events"), "{summary}");
    assert!(summary.contains("missing_field      5"), "{summary}");
    let right = run(bin()
        .args(["replay", "--format", "cloudtrail", "--data-dir"])
        .arg(data.path())
        .arg(&input));
    assert!(String::from_utf8_lossy(&right.stdout).contains("5 events"));
    let bogus = bin()
        .args(["replay", "--format", "syslog", "--data-dir"])
        .arg(data.path())
        .arg(&input)
        .output()
        .unwrap();
    assert!(!bogus.status.success());
    assert!(String::from_utf8_lossy(&bogus.stderr).contains("expected auto or one of cloudtrail"));
}

#[test]
fn agents_edges_and_graph_command() {
    let data = tempfile::tempdir().unwrap();
    let inputs = [
        repo().join("fixtures/cloudtrail/assume-role-chain.jsonl"),
        repo().join("fixtures/otlp/agent-trace.jsonl"),
    ];
    replay(data.path(), &inputs);
    let session = "arn:aws:sts::111111111111:assumed-role/support-agent/support-agent-7f3a";
    let agents = sql_json(
        data.path(),
        &format!(
            "SELECT initiator, events, credentials, sub_agents FROM agents WHERE agent_instance = '{session}'"
        ),
    );
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0]["initiator"], "alice@example.com");
    assert_eq!(agents[0]["events"], 4);
    assert_eq!(
        agents[0]["credentials"],
        serde_json::json!(["ASIACQRSTUVWRAOEXAMPLE", "ASIAWHOJDLGPOEXAMPLE"])
    );
    let events = sql_json(
        data.path(),
        "SELECT count(*) AS n FROM events WHERE initiator = 'alice@example.com' AND agent_instance IS NOT NULL",
    );
    assert_eq!(
        events[0]["n"],
        4 + 4,
        "4 AWS calls by the agent, 4 spans of the OTel trace"
    );

    let root = "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7";
    let json = run(bin()
        .args(["graph", "--format", "json", "--data-dir"])
        .arg(data.path())
        .arg(root));
    let g: Value = serde_json::from_slice(&json.stdout).unwrap();
    let edges = g["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["from_node"] == "alice@example.com"
        && e["to_node"] == root
        && e["edge"] == "delegates"));
    assert!(
        edges
            .iter()
            .any(|e| e["to_node"] == "4bf92f3577b34da6a3ce929d0e0e4736:2b3c4d5e6f708192")
    );

    let dot = run(bin()
        .args(["graph", "--data-dir"])
        .arg(data.path())
        .arg(session));
    let dir = tempfile::tempdir().unwrap();
    let dot_file = dir.path().join("g.dot");
    std::fs::write(&dot_file, &dot.stdout).unwrap();
    let svg = Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot_file)
        .output()
        .expect("graphviz dot (scripts/setup installs it)");
    assert!(
        svg.status.success(),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );
    let svg = String::from_utf8_lossy(&svg.stdout);
    assert!(
        svg.contains("<svg") && svg.contains("ASIACQRSTUVWRAOEXAMPLE"),
        "rendered graph lacks the chained key"
    );

    let missing = bin()
        .args(["graph", "--data-dir"])
        .arg(data.path())
        .arg("no-such-instance")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

//! `delegraph rules check|test` over the shipped rule pack, errors that
//! point at file and line, and rule findings through `replay --rules`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{bin, repo, run, sql_json};

#[test]
fn the_shipped_rules_load_and_pass_their_tests() {
    let rules = repo().join("rules");
    let out = run(bin().args(["rules", "check"]).arg(&rules));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("ok: "), "{text}");
    assert!(!text.contains("warning"), "{text}");
    let out = run(bin().args(["rules", "test"]).arg(&rules));
    let text = String::from_utf8(out.stdout).unwrap();
    let summary = text.lines().last().unwrap();
    assert!(summary.ends_with(" passed, 0 failed"), "{text}");
    let passed: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 18, "{text}");
}

#[test]
fn a_broken_rule_is_reported_with_file_and_line_and_fails_check_and_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: Bad\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName|contians: x\n  condition: sel\n",
    )
    .unwrap();
    for action in ["check", "test"] {
        let out = bin()
            .args(["rules", action])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{action}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("bad.yml:6: "), "{action}: {err}");
        assert!(err.contains("contians"), "{action}: {err}");
    }
}

#[test]
fn a_rule_without_tests_fails_the_test_run_and_a_failing_case_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pack = repo().join("rules/aws");
    std::fs::copy(
        pack.join("cloudtrail_logging_disabled.yml"),
        dir.path().join("ct.yml"),
    )
    .unwrap();
    // The quiet file of another rule, offered as this rule's fire case: it must fail.
    std::fs::copy(
        pack.join("cloudtrail_logging_disabled.quiet.jsonl"),
        dir.path().join("ct.fire.jsonl"),
    )
    .unwrap();
    std::fs::copy(
        pack.join("agent_creates_access_key.yml"),
        dir.path().join("key.yml"),
    )
    .unwrap();
    let out = bin()
        .args(["rules", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAIL ") && text.contains("ct.fire.jsonl (should fire)"),
        "{text}"
    );
    assert!(text.contains("key.yml: no test events"), "{text}");
    assert!(text.ends_with("0 passed, 2 failed\n"), "{text}");
}

#[test]
fn replay_with_rules_stores_rule_findings_in_the_findings_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stratus =
        common::shared_data("stratus-red-team").join("aws.defense-evasion.cloudtrail-stop.json");
    run(bin()
        .args(["replay", "--data-dir"])
        .arg(&data)
        .arg("--rules")
        .arg(repo().join("rules"))
        .arg(&stratus));
    let rows = sql_json(
        &data,
        "SELECT rule_id, severity, detector FROM findings WHERE detector = 'sigma'",
    );
    assert!(
        rows.iter()
            .any(|r| r["rule_id"] == "4d1c2b3a-6e5f-4a7b-8c9d-0e1f2a3b4c05"
                && r["severity"] == "high"),
        "{rows:?}"
    );
}

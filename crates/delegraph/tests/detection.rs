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
    let files = simulate(&sim, 21, 1000, 4.0);
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
        "scenario                   detectors                   instances  caught  recall\n",
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
        let detectors = scenario.detectors();
        let instances = by_scenario
            .get(scenario.as_str())
            .cloned()
            .unwrap_or_default();
        let caught = instances
            .iter()
            .filter(|t| {
                found
                    .get(t.as_str())
                    .is_some_and(|v| v.iter().any(|(d, _)| detectors.contains(&d.as_str())))
            })
            .count();
        let recall = caught as f64 / instances.len().max(1) as f64;
        table.push_str(&format!(
            "{:<26} {:<27} {:>9} {:>7} {:>6.1}%\n",
            scenario.as_str(),
            detectors.join("|"),
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

/// Every finding column, in a stable order.
const ALL_FINDINGS: &str = "SELECT * FROM findings ORDER BY finding_id";

#[test]
fn replaying_again_changes_nothing_and_two_stores_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let files = simulate(&tmp.path().join("sim"), 8, 300, 3.0);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    replay(&a, &files);
    let first = sql_json(&a, ALL_FINDINGS);
    assert!(first.len() > 10, "too few findings: {}", first.len());
    let again = replay(&a, &files);
    assert!(again.contains("already replayed"), "{again}");
    assert_eq!(
        sql_json(&a, ALL_FINDINGS),
        first,
        "a second replay changed findings"
    );
    replay(&b, &files);
    assert_eq!(sql_json(&b, ALL_FINDINGS), first, "two stores disagree");
    let ids: BTreeSet<&str> = first
        .iter()
        .map(|f| f["finding_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), first.len(), "duplicate finding ids");
}

/// Equal row lists, or a failure naming the first differing rows.
fn same(got: &[serde_json::Value], want: &[serde_json::Value], what: &str) {
    if let Some(i) = (0..got.len().max(want.len())).find(|i| got.get(*i) != want.get(*i)) {
        panic!(
            "{what} differ ({} vs {} rows) at row {i}:\n got  {:?}\n want {:?}",
            got.len(),
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

/// 2026-03-02T00:00:00Z, where the simulation starts.
const SIM_EPOCH: f64 = 1_772_409_600.0;

/// Event time of one simulated record (seconds since the epoch), by source.
fn record_time(v: &serde_json::Value) -> f64 {
    if let Some(t) = v
        .get("eventTime")
        .or_else(|| v.get("published"))
        .or_else(|| v.get("timestamp"))
    {
        parse_sim_time(t.as_str().unwrap())
    } else if let Some(ms) = v.get("@timestamp") {
        ms.as_f64().unwrap() / 1000.0
    } else {
        panic!("no time in {v}")
    }
}

/// `2026-03-DDThh:mm:ss(.fff)Z` (the simulator's March 2026) → seconds.
fn parse_sim_time(s: &str) -> f64 {
    assert!(s.starts_with("2026-03-") && s.ends_with('Z'), "{s}");
    let day: f64 = s[8..10].parse().unwrap();
    let mut hms = s[11..s.len() - 1]
        .split(':')
        .map(|x| x.parse::<f64>().unwrap());
    let (h, m, sec) = (
        hms.next().unwrap(),
        hms.next().unwrap(),
        hms.next().unwrap(),
    );
    SIM_EPOCH + (day - 2.0) * 86_400.0 + h * 3600.0 + m * 60.0 + sec
}

/// Split a simulated dataset at `cut` (seconds): records (and, for OTLP,
/// spans) before it go to `early`, the rest to `late`.
fn split(files: &[std::path::PathBuf], cut: f64, early: &std::path::Path, late: &std::path::Path) {
    use serde_json::Value;
    std::fs::create_dir_all(early).unwrap();
    std::fs::create_dir_all(late).unwrap();
    for f in files {
        let name = f.file_name().unwrap();
        let (mut a, mut b) = (String::new(), String::new());
        for mut v in jsonl(f) {
            if v.get("resourceSpans").is_none() {
                let out = if record_time(&v) < cut {
                    &mut a
                } else {
                    &mut b
                };
                out.push_str(&format!("{v}\n"));
                continue;
            }
            let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .clone();
            let start = |s: &Value| -> f64 {
                let ns: f64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                ns / 1e9
            };
            let (x, y): (Vec<Value>, Vec<Value>) = spans.into_iter().partition(|s| start(s) < cut);
            for (part, out) in [(x, &mut a), (y, &mut b)] {
                if !part.is_empty() {
                    v["resourceSpans"][0]["scopeSpans"][0]["spans"] = Value::Array(part);
                    out.push_str(&format!("{v}\n"));
                }
            }
        }
        std::fs::write(early.join(name), a).unwrap();
        std::fs::write(late.join(name), b).unwrap();
    }
}

#[test]
fn replaying_in_two_halves_gives_the_same_findings_and_attribution() {
    let tmp = tempfile::tempdir().unwrap();
    let files = simulate(&tmp.path().join("sim"), 9, 300, 3.0);
    let whole = tmp.path().join("whole");
    replay(&whole, &files);
    // Cut in the middle of the busiest hours: many instances span it.
    let cut = SIM_EPOCH + 5400.0;
    let (early, late) = (tmp.path().join("early"), tmp.path().join("late"));
    split(&files, cut, &early, &late);
    let halves = tmp.path().join("halves");
    let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap()).collect();
    replay(
        &halves,
        &names.iter().map(|n| early.join(n)).collect::<Vec<_>>(),
    );
    replay(
        &halves,
        &names.iter().map(|n| late.join(n)).collect::<Vec<_>>(),
    );
    // Origins name the files read, which differ; everything else must not.
    let q = "SELECT * EXCLUDE (evidence_origins) FROM findings ORDER BY finding_id";
    let expect = sql_json(&whole, q);
    assert!(expect.len() > 10);
    same(&sql_json(&halves, q), &expect, "findings");
    let q = "SELECT event_id, agent_instance, initiator, chain, attribution FROM events ORDER BY event_id";
    same(&sql_json(&halves, q), &sql_json(&whole, q), "attribution");
}

/// Stratus Red Team techniques an agent session must never perform unnoticed.
const SPLICED_TACTICS: [&str; 3] = ["credential-access", "privilege-escalation", "persistence"];

#[test]
fn stratus_techniques_spliced_into_agent_sessions_are_flagged_on_their_instance() {
    use serde_json::{Value, json};
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let mut files = simulate(&sim, 4, 500, 4.0);
    let scenario_tasks: BTreeSet<String> = jsonl(&sim.join("scenarios.jsonl"))
        .iter()
        .map(|s| s["instance"].as_str().unwrap().to_owned())
        .collect();
    // Benign agent sessions from the second half of the window, by start.
    let mut hosts: Vec<(f64, String, String, String, String)> =
        jsonl(&sim.join("cloudtrail.jsonl"))
            .into_iter()
            .filter(|r| {
                r["eventName"] == "AssumeRole" && r["responseElements"]["credentials"].is_object()
            })
            .filter_map(|r| {
                let task = r["requestParameters"]["roleSessionName"]
                    .as_str()?
                    .to_owned();
                let t = record_time(&r);
                (t > SIM_EPOCH + 7200.0 && !scenario_tasks.contains(&task) && !task.ends_with("-x"))
                    .then(|| {
                        (
                            t,
                            task,
                            r["responseElements"]["credentials"]["accessKeyId"]
                                .as_str()
                                .unwrap()
                                .to_owned(),
                            r["responseElements"]["assumedRoleUser"]["arn"]
                                .as_str()
                                .unwrap()
                                .to_owned(),
                            r["requestParameters"]["sourceIdentity"]
                                .as_str()
                                .unwrap()
                                .to_owned(),
                        )
                    })
            })
            .collect();
    hosts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let techniques: Vec<std::path::PathBuf> = common::stratus_files()
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            SPLICED_TACTICS
                .iter()
                .any(|t| name.starts_with(&format!("aws.{t}.")))
        })
        .collect();
    assert!(techniques.len() >= 15 && hosts.len() >= techniques.len() * 3);
    let step = hosts.len() / techniques.len();
    let mut spliced = String::new();
    let mut planted: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for (i, technique) in techniques.iter().enumerate() {
        let (t0, task, key, arn, human) = &hosts[i * step];
        let records: Vec<Value> =
            serde_json::from_slice(&std::fs::read(technique).unwrap()).unwrap();
        let mut ids = BTreeSet::new();
        for (j, mut r) in records.into_iter().enumerate() {
            let id = format!("{}-{task}", r["eventID"].as_str().unwrap());
            r["eventID"] = json!(id);
            r["eventTime"] = json!(sim_time(*t0 + 20.0 + 3.0 * j as f64));
            r["recipientAccountId"] = json!("123456789012");
            r["userIdentity"] = json!({
                "type": "AssumedRole", "principalId": format!("AROAEXAMPLEROLEID:{task}"),
                "arn": arn, "accountId": "123456789012", "accessKeyId": key,
                "sessionContext": {"sourceIdentity": human, "attributes": {"mfaAuthenticated": "false"}}
            });
            spliced.push_str(&format!("{r}\n"));
            ids.insert(id);
        }
        let name = technique
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        planted.push((name, task.clone(), ids));
    }
    let extra = tmp.path().join("spliced.jsonl");
    std::fs::write(&extra, spliced).unwrap();
    files.push(extra);
    let data = tmp.path().join("data");
    replay(&data, &files);

    let findings = sql_json(
        &data,
        "SELECT detector, severity, agent_instance, evidence FROM findings",
    );
    let mut missed = Vec::new();
    let mut table = String::new();
    for (technique, task, ids) in &planted {
        let hits: BTreeSet<String> = findings
            .iter()
            .filter(|f| f["agent_instance"] == task.as_str())
            .filter(|f| MEDIUM_OR_HIGHER.contains(&f["severity"].as_str().unwrap()))
            .filter(|f| {
                f["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| ids.contains(e.as_str().unwrap()))
            })
            .map(|f| f["detector"].as_str().unwrap().to_owned())
            .collect();
        table.push_str(&format!("{technique:<60} {hits:?}\n"));
        if hits.is_empty() {
            missed.push(technique.clone());
        }
    }
    eprintln!("{table}");
    assert!(
        missed.is_empty(),
        "not flagged on their instance: {missed:?}\n{table}"
    );
}

/// Seconds since the epoch → CloudTrail's `2026-03-02T01:02:03Z`.
fn sim_time(t: f64) -> String {
    let s = (t - SIM_EPOCH).floor() as i64;
    let (day, rest) = (2 + s / 86_400, s % 86_400);
    format!(
        "2026-03-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[test]
fn finding_summaries_name_agent_instance_human_and_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let files = simulate(&tmp.path().join("sim"), 13, 400, 4.0);
    let data = tmp.path().join("data");
    replay(&data, &files);
    // The first finding of each detector (by id: stable across runs).
    let rows = sql_json(
        &data,
        "SELECT detector, severity, risk_score, agent_id, agent_instance, initiator, summary, tags \
         FROM findings ORDER BY detector, finding_id",
    );
    let mut seen = BTreeSet::new();
    let mut snapshot = String::new();
    for r in &rows {
        let detector = r["detector"].as_str().unwrap();
        let summary = r["summary"].as_str().unwrap();
        for part in ["agent_id", "agent_instance", "initiator"] {
            let want = r[part].as_str().unwrap();
            assert!(
                summary.contains(want),
                "summary lacks {part} {want}: {summary}"
            );
        }
        assert!(
            summary.contains(". Baseline: ") && summary.ends_with('.'),
            "{summary}"
        );
        if seen.insert(detector) {
            snapshot.push_str(&format!(
                "{detector} [{} {}] {}\n  {summary}\n",
                r["severity"].as_str().unwrap(),
                r["risk_score"],
                r["tags"]
            ));
        }
    }
    // Every detector on by default, but for `data_flow`: it stands in for
    // `value_provenance` only while that one is still learning an agent
    // (`crates/delegraph/tests/sessions/learning-period.json` covers it).
    let defaults = delegraph_detect::DetectConfig::default();
    let on: Vec<&str> = delegraph_detect::DETECTORS
        .into_iter()
        .filter(|d| defaults.effective(d, None).enabled && *d != "data_flow")
        .collect();
    assert_eq!(
        seen.len(),
        on.len(),
        "every detector has a finding: {seen:?}"
    );
    let path = common::repo().join("crates/delegraph/tests/snapshots/finding_summaries.txt");
    if std::env::var_os("DELEGRAPH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &snapshot).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with DELEGRAPH_BLESS=1 to create)",
            path.display()
        )
    });
    assert_eq!(
        snapshot, want,
        "summaries changed; DELEGRAPH_BLESS=1 accepts the new text"
    );
}

#[test]
fn detector_settings_turn_detectors_off_per_agent_and_bad_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let files = simulate(&tmp.path().join("sim"), 21, 1000, 4.0);
    let settings = tmp.path().join("detectors.toml");
    std::fs::write(
        &settings,
        "[detectors.secret_access]\nenabled = false\n\
         [agents.\"support-agent\".detectors.privilege_escalation]\nenabled = false\n",
    )
    .unwrap();
    let data = tmp.path().join("data");
    common::run(
        common::bin()
            .arg("replay")
            .arg("--detectors")
            .arg(&settings)
            .arg("--data-dir")
            .arg(&data)
            .args(&files),
    );
    let rows = sql_json(
        &data,
        "SELECT detector, agent_id, count(*) AS n FROM findings GROUP BY detector, agent_id",
    );
    let has = |d: &str, a: Option<&str>| {
        rows.iter()
            .any(|r| r["detector"] == d && a.is_none_or(|a| r["agent_id"] == a))
    };
    assert!(!has("secret_access", None), "{rows:?}");
    assert!(
        !has("privilege_escalation", Some("support-agent")),
        "{rows:?}"
    );
    assert!(has("privilege_escalation", Some("code-agent")), "{rows:?}");
    // The example file is valid.
    let example = common::repo().join("detectors.example.toml");
    common::run(
        common::bin()
            .arg("replay")
            .arg("--no-state")
            .arg("--detectors")
            .arg(&example)
            .arg("--data-dir")
            .arg(tmp.path().join("x"))
            .arg(&files[0]),
    );
    std::fs::write(&settings, "[detectors.tool_chian]\nimpact = 3\n").unwrap();
    let out = common::bin()
        .arg("replay")
        .arg("--detectors")
        .arg(&settings)
        .arg("--data-dir")
        .arg(tmp.path().join("y"))
        .arg(&files[0])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("detectors.toml") && err.contains("tool_chian"),
        "{err}"
    );
}

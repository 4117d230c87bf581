//! The streaming service against a real Kafka-protocol broker (tansu,
//! started by scripts/broker), fed by an independent client (the Python
//! confluent-kafka producer): end to end, SIGKILL mid-stream, a broker
//! outage of 30 seconds, a second member taking partitions mid-stream, and
//! rules changed while the service runs.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::kafka::{Broker, Service, wait_for};
use common::stream_store::{kafka_section, replay_summary, stored_events, summary};
use common::{repo, simulate, sql_json, stratus_files};

#[test]
fn three_topics_end_to_end_findings_via_api_and_topic_offsets_committed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"), "memory://tansu/");
    for (t, p) in [
        ("iam", 2),
        ("saas", 2),
        ("toolcalls", 2),
        ("findings", 1),
        ("dead-letter", 1),
    ] {
        broker.topic(t, p);
    }
    let sim = simulate(&dir.path().join("sim"), 7, 150, 2.0);
    let [cloudtrail, otlp, mcp, github, okta, opa, envelopes] =
        [0, 1, 2, 3, 4, 5, 6].map(|i| sim[i].clone());
    let bad = repo().join("fixtures/malformed/mixed-bad.jsonl");
    let mut iam = stratus_files();
    iam.extend([cloudtrail, okta, bad]);
    let saas = vec![github];
    let tools = vec![otlp, mcp, opa, envelopes];
    let produced = broker.produce("iam", &iam)
        + broker.produce("saas", &saas)
        + broker.produce("toolcalls", &tools);
    assert!(produced > 1000, "{produced}");

    let all: Vec<PathBuf> = iam.iter().chain(&saas).chain(&tools).cloned().collect();
    let expected = replay_summary(dir.path(), &all, None);
    assert!(!expected.findings.is_empty());

    let data = dir.path().join("data");
    let svc = Service::start(
        dir.path(),
        &data,
        &kafka_section(
            &broker,
            "e2e",
            &["iam", "saas", "toolcalls"],
            "epoch_interval_ms = 500",
        ),
        "lateness = \"48h\"\nidle_release = \"8s\"",
    );
    let got = wait_for(240, "every event and finding stored", || {
        let s = summary(&data);
        (s.events == expected.events && s.findings.len() == expected.findings.len()).then_some(s)
    });
    assert_eq!(
        got, expected,
        "stream and replay of the same records differ"
    );

    // The API serves them.
    let (status, body) = svc.get("/api/v1/findings?limit=1000&sort=risk");
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let api_ids: BTreeSet<String> = page["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(api_ids, expected.findings);
    let first = api_ids.iter().next().unwrap();
    let (status, body) = svc.get(&format!("/api/v1/findings/{first}"));
    assert_eq!(status, 200, "{body}");
    let one: serde_json::Value = serde_json::from_str(&body).unwrap();
    let origin = one["evidence_events"][0]["origin"]
        .as_str()
        .unwrap_or_default();
    assert!(
        ["iam/", "saas/", "toolcalls/"]
            .iter()
            .any(|t| origin.starts_with(t)),
        "evidence points at a topic/partition/offset: {one}"
    );

    // The findings topic carries each as an OCSF Detection Finding.
    let out = broker.consume("findings", expected.findings.len());
    let mut topic_ids = BTreeSet::new();
    for m in &out {
        let v: serde_json::Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["metadata"]["uid"], m["key"]);
        topic_ids.insert(v["finding_info"]["uid"].as_str().unwrap().to_owned());
    }
    assert_eq!(topic_ids, expected.findings);
    // ... that the independent OCSF validator accepts, every one.
    let topic_file = tempfile::NamedTempFile::new().unwrap();
    let lines: String = out
        .iter()
        .map(|m| format!("{}\n", m["value"].as_str().unwrap()))
        .collect();
    std::fs::write(topic_file.path(), lines).unwrap();
    let report = common::ocsf_validate(topic_file.path());
    assert_eq!(report["checked"], out.len());

    // Dead letters went to their topic with reason and origin.
    let dead = broker.consume("dead-letter", 1);
    let d: serde_json::Value = serde_json::from_str(dead[0]["value"].as_str().unwrap()).unwrap();
    assert!(d["reason"].is_string(), "{d}");
    assert_eq!(d["origin"]["topic"], "iam", "{d}");
    assert!(d["origin"]["offset"].is_i64(), "{d}");

    // Offsets are committed up to the end of every partition.
    for t in ["iam", "saas", "toolcalls"] {
        let mut last = serde_json::Value::Null;
        for _ in 0..60 {
            last = broker.committed("e2e", t);
            if last
                .as_object()
                .unwrap()
                .values()
                .all(|p| p["end"] == 0 || p["committed"] == p["end"])
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let parts = last.as_object().unwrap();
        assert!(
            parts.values().any(|p| p["end"] != 0)
                && parts
                    .values()
                    .all(|p| p["end"] == 0 || p["committed"] == p["end"]),
            "{t}: {last}"
        );
    }

    // The live metrics are on /metrics.
    let (_, metrics) = svc.get("/metrics");
    for name in [
        "delegraph_events_in_total{source=\"cloudtrail\"}",
        "delegraph_dead_letters_total{reason=",
        "delegraph_consumer_lag",
        "delegraph_epochs_total",
        "delegraph_stream_findings_total{detector=",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    dashboards_query_what_the_service_exports(&svc, &metrics);
    svc.terminate();
}

/// Every metric a dashboard's Prometheus query names is exported by the
/// running service, and every API URL a dashboard calls answers 200.
fn dashboards_query_what_the_service_exports(svc: &Service, metrics: &str) {
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("dashboards"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in d["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                if let Some(expr) = target["expr"].as_str() {
                    let names = expr
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter(|w| w.starts_with("delegraph_"));
                    for name in names {
                        assert!(
                            exported.contains(name),
                            "{}: {name} is not exported",
                            path.display()
                        );
                        checked += 1;
                    }
                }
                if let Some(url) = target["url"].as_str() {
                    let (status, body) = svc.get(url);
                    assert_eq!(status, 200, "{}: {url}: {body}", path.display());
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let root = target["root_selector"].as_str().unwrap();
                    assert!(
                        v[root].is_array(),
                        "{}: {url} has no {root}",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10, "{checked}");
}

/// The simulated fleet and Stratus, as one ordered list of files.
fn crash_corpus(dir: &Path, seed: u64, agents: usize) -> Vec<PathBuf> {
    let mut files = simulate(&dir.join("sim"), seed, agents, 2.0);
    files.extend(stratus_files());
    files
}

fn crash_config(broker: &Broker, group: &str) -> String {
    kafka_section(
        broker,
        group,
        &["logs"],
        // A killed member leaves the group after 6 s, not 45.
        "epoch_interval_ms = 200\nepoch_max_messages = 150\n\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
    )
}

#[test]
fn sigkill_mid_stream_repeatedly_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // sqlite, not memory://: tansu 0.6's memory engine answers a fetch from
    // an offset inside a record batch with the next batch, so a consumer
    // restarting from a committed offset would skip messages.
    let broker = Broker::start(&dir.path().join("broker"), "sqlite://broker.db");
    broker.topic("logs", 1);
    broker.topic("findings", 1);
    broker.topic("dead-letter", 1);
    let files = crash_corpus(dir.path(), 11, 600);
    broker.produce("logs", &files);
    let expected = replay_summary(dir.path(), &files, Some("1h"));

    let data = dir.path().join("data");
    // Idle release only at the end (a release mid-stream would order
    // events differently from the replay this run is compared with).
    let pipeline = "lateness = \"1h\"\nidle_release = \"6s\"";
    let config = crash_config(&broker, "crash");
    // Kill as soon as each run has stored something new, four times or
    // until everything is stored.
    let mut kills = Vec::new();
    let mut stored = 0;
    while kills.len() < 4 && stored < expected.events {
        let svc = Service::start(dir.path(), &data, &config, pipeline);
        let until = std::time::Instant::now() + Duration::from_secs(120);
        while stored_events(&data) <= stored {
            assert!(
                std::time::Instant::now() < until,
                "no progress after kills at {kills:?}; service log:\n{}",
                svc.log(dir.path())
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        svc.kill();
        // Restart only once the broker has expired the dead member's
        // session (6 s): tansu 0.6 can leave a member that rejoins while
        // the dead one is still in the group with no partitions.
        std::thread::sleep(Duration::from_secs(8));
        // Counted after the kill: the run may have stored more meanwhile.
        stored = stored_events(&data);
        kills.push(stored);
    }
    assert!(
        kills.len() >= 2 && kills[0] < expected.events,
        "kills at {kills:?} of {} events: not mid-stream, the test proves nothing",
        expected.events
    );
    let svc = Service::start(dir.path(), &data, &config, pipeline);
    let until = std::time::Instant::now() + Duration::from_secs(180);
    let got = loop {
        let s = summary(&data);
        if s.events >= expected.events && s.finding_rows >= expected.finding_rows {
            break s;
        }
        assert!(
            std::time::Instant::now() < until,
            "after kills at {kills:?}: {} of {} events, {} of {} findings; log:\n{}",
            s.events,
            expected.events,
            s.finding_rows,
            expected.finding_rows,
            svc.log(dir.path())
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Let an extra epoch pass: nothing more may appear.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(summary(&data), got);
    assert_eq!(got, expected, "after kills at {kills:?} events");
    svc.terminate();
    // The findings topic saw every finding (at least once, keyed by id).
    let out = broker.consume_all("findings");
    let ids: BTreeSet<String> = out
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, expected.findings);
}

#[test]
fn a_30_second_broker_outage_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Kept on disk: the broker is stopped and started again.
    let broker = Broker::start(&dir.path().join("broker"), "sqlite://broker.db");
    broker.topic("logs", 1);
    broker.topic("findings", 1);
    broker.topic("dead-letter", 1);
    let files = crash_corpus(dir.path(), 12, 120);
    let expected = replay_summary(dir.path(), &files, Some("1h"));
    let data = dir.path().join("data");
    let svc = Service::start(
        dir.path(),
        &data,
        &crash_config(&broker, "outage"),
        "lateness = \"1h\"\nidle_release = \"3s\"",
    );
    let mut producer = broker.produce_slowly("logs", &files, 50);
    wait_for(120, "the stream under way", || {
        (stored_events(&data) > 0).then_some(())
    });
    broker.crash();
    let during = stored_events(&data);
    std::thread::sleep(Duration::from_secs(30));
    broker.up();
    let status = producer.wait().unwrap();
    assert!(status.success(), "the producer gave up during the outage");
    let got = wait_for(240, "everything stored after the outage", || {
        let s = summary(&data);
        (s.events >= expected.events).then_some(s)
    });
    assert!(during < expected.events, "the outage came after the end");
    // Every event once: duplicates the producer's retries wrote to the
    // topic are dropped.
    assert_eq!(
        (got.events, got.distinct_events),
        (expected.events, expected.distinct_events)
    );
    // Every finding once. (Which findings is not compared with a replay:
    // retries reorder the topic and the outage makes the stream go idle.)
    assert_eq!(got.finding_rows, got.findings.len() as u64);
    assert!(!got.findings.is_empty());
    let dangling = sql_json(
        &data,
        "SELECT count(*) AS n FROM (SELECT unnest(evidence) AS id FROM findings) f \
         LEFT JOIN events e ON f.id = e.event_id WHERE e.event_id IS NULL",
    );
    assert_eq!(dangling[0]["n"], 0, "findings cite events not stored");
    svc.terminate();
}

/// Every event id a data directory stores, and how many rows hold them.
fn event_ids(data: &Path) -> (BTreeSet<String>, u64) {
    if !data.join("events").exists() {
        return (BTreeSet::new(), 0);
    }
    let rows = sql_json(data, "SELECT event_id FROM events");
    let n = rows.len() as u64;
    let ids = rows
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_owned())
        .collect();
    (ids, n)
}

#[test]
fn a_member_joining_mid_stream_takes_partitions_and_no_event_is_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"), "sqlite://broker.db");
    broker.topic("logs", 4);
    broker.topic("findings", 1);
    broker.topic("dead-letter", 1);
    let files = crash_corpus(dir.path(), 13, 120);
    let expected = replay_summary(dir.path(), &files, Some("1h"));
    assert_eq!(
        expected.events, expected.distinct_events,
        "no event repeats"
    );
    let config = crash_config(&broker, "pair");
    let pipeline = "lateness = \"1h\"\nidle_release = \"3s\"";
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let (data_a, data_b) = (dir_a.join("data"), dir_b.join("data"));
    let a = Service::start(&dir_a, &data_a, &config, pipeline);
    let mut producer = broker.produce_slowly("logs", &files, 100);
    wait_for(120, "the first member under way", || {
        (stored_events(&data_a) > 0).then_some(())
    });
    // The second member's arrival takes partitions from the first, which
    // ends its epoch before they go. (That an epoch ended while messages
    // are still being decoded holds them all is the unit test
    // stream::tests::an_epoch_ends_with_every_message_handed_over_in_it.)
    let b = Service::start(&dir_b, &data_b, &config, pipeline);
    wait_for(120, "the first member's partitions revoked", || {
        a.log(&dir_a).contains("partitions revoked").then_some(())
    });
    let status = producer.wait().unwrap();
    assert!(status.success(), "the producer failed");
    let ((ids_a, rows_a), (ids_b, rows_b)) = wait_for(240, "every event stored", || {
        let (a, b) = (event_ids(&data_a), event_ids(&data_b));
        (a.1 + b.1 >= expected.events).then_some((a, b))
    });
    assert!(
        rows_b > 0 && rows_b < expected.events,
        "the second member stored {rows_b} of {} events: no partition moved",
        expected.events
    );
    let union: BTreeSet<&String> = ids_a.iter().chain(&ids_b).collect();
    assert_eq!(
        (rows_a + rows_b, union.len() as u64),
        (expected.events, expected.events),
        "rows and distinct events across both members"
    );
    // Let an extra epoch pass: nothing more may appear.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(event_ids(&data_a).1 + event_ids(&data_b).1, expected.events);
    a.terminate();
    b.terminate();
}

/// The counter `delegraph_rule_reloads_total{result="RESULT"}` of /metrics.
fn rule_reloads(svc: &Service, result: &str) -> u64 {
    let (_, metrics) = svc.get("/metrics");
    let name = format!("delegraph_rule_reloads_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name.as_str()))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

fn sigma_findings_by_rule(data: &Path) -> std::collections::BTreeMap<String, u64> {
    sql_json(
        data,
        "SELECT rule_id, count(*) AS n FROM findings WHERE detector = 'sigma' GROUP BY rule_id",
    )
    .iter()
    .map(|r| {
        (
            r["rule_id"].as_str().unwrap().to_owned(),
            r["n"].as_u64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn rules_reload_while_serving_and_a_broken_file_keeps_the_previous_rules() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"), "memory://tansu/");
    for t in ["logs", "findings", "dead-letter"] {
        broker.topic(t, 1);
    }
    let rule = |id: &str, name: &str| {
        format!(
            "title: {id}\nid: {id}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n  sel:\n    eventName: {name}\n  condition: sel\nlevel: high\n"
        )
    };
    // The API's rules directory by default (no `rules_dir`): where uploads
    // go is what the stream runs.
    let data = dir.path().join("data");
    let rules = data.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("assume.yml"), rule("hot-assume", "AssumeRole")).unwrap();
    let stratus = common::shared_data("stratus-red-team");
    // 4 AssumeRole + 30 GetPasswordData; then 4 AssumeRole + 15
    // DescribeInstanceAttribute.
    let first = stratus.join("aws.credential-access.ec2-get-password-data.json");
    let second = stratus.join("aws.discovery.ec2-download-user-data.json");
    let svc = Service::start_with(
        dir.path(),
        &data,
        "",
        &kafka_section(&broker, "hot", &["logs"], "epoch_interval_ms = 300"),
        "idle_release = \"1s\"",
    );
    assert_eq!(broker.produce("logs", &[first]), 34);
    wait_for(120, "the first file stored", || {
        (stored_events(&data) == 34).then_some(())
    });

    // A broken file, while nothing is consumed: rejected, rules unchanged.
    std::fs::write(
        rules.join("describe.yml"),
        rule("hot-describe", "DescribeInstanceAttribute"),
    )
    .unwrap();
    std::fs::write(
        rules.join("broken.yml"),
        "title: broken\nlogsource: {product: aws}\ndetection:\n  sel:\n    eventName|nosuch: X\n  condition: sel\n",
    )
    .unwrap();
    wait_for(60, "the broken directory rejected", || {
        (rule_reloads(&svc, "rejected") >= 1).then_some(())
    });
    assert_eq!(rule_reloads(&svc, "ok"), 0);
    std::fs::remove_file(rules.join("broken.yml")).unwrap();
    wait_for(60, "the fixed directory loaded", || {
        (rule_reloads(&svc, "ok") >= 1).then_some(())
    });

    assert_eq!(broker.produce("logs", &[second]), 19);
    wait_for(120, "the second file stored", || {
        (stored_events(&data) == 53).then_some(())
    });
    let by_rule = wait_for(60, "rule findings stored", || {
        let m = sigma_findings_by_rule(&data);
        (m.values().sum::<u64>() >= 23).then_some(m)
    });
    assert_eq!(by_rule.get("hot-assume"), Some(&8), "{by_rule:?}");
    assert_eq!(by_rule.get("hot-describe"), Some(&15), "{by_rule:?}");
    svc.terminate();
}

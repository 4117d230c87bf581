//! `[kafka] publish_findings = "as_found"` against a real Kafka-protocol
//! broker (tansu, started by scripts/broker), fed and read by an
//! independent client (the Python confluent-kafka one): findings reach
//! their topic while the epoch that will store their events is still open,
//! each once, and the store ends up as a replay of the same records.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::kafka::{Broker, Service};
use common::stream_store::{kafka_section, replay_summary, stored_events, summary};
use common::{simulate, stratus_files};

/// Keys of a topic's messages, and how many messages there were.
fn keys(out: &[serde_json::Value]) -> (BTreeSet<String>, usize) {
    let keys = out
        .iter()
        .map(|m| m["key"].as_str().unwrap().to_owned())
        .collect();
    (keys, out.len())
}

#[test]
fn findings_go_out_as_found_before_their_epoch_is_stored_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"), "memory://tansu/");
    for t in ["logs", "findings", "dead-letter"] {
        broker.topic(t, 1);
    }
    let mut files = simulate(&dir.path().join("sim"), 7, 150, 2.0);
    files.extend(stratus_files());
    broker.produce("logs", &files);
    // An hour's lateness: events leave the reorder buffer, and findings
    // are made, over many turns of the loop and flushes of the epoch's
    // findings, not in one release at the end.
    let expected = replay_summary(dir.path(), &files, Some("1h"));
    assert!(expected.findings.len() > 10, "{expected:?}");

    let data = dir.path().join("data");
    // One epoch for the whole test: it ends only when the service stops.
    let svc = Service::start(
        dir.path(),
        &data,
        &kafka_section(
            &broker,
            "as-found",
            &["logs"],
            "epoch_interval_ms = 600000\nepoch_max_messages = 10000000\npublish_findings = \"as_found\"",
        ),
        "lateness = \"1h\"\nidle_release = \"6s\"",
    );
    let early = broker.consume("findings", expected.findings.len());
    assert_eq!(
        stored_events(&data),
        0,
        "an epoch was sealed: the findings were not published ahead of it"
    );
    let (early_keys, n) = keys(&early);
    assert_eq!(n, expected.findings.len());
    assert_eq!(early_keys, expected.findings);

    // Stopping seals the epoch: its events and findings are stored, and
    // nothing already sent is sent again.
    svc.terminate();
    assert_eq!(summary(&data), expected);
    let (all_keys, n) = keys(&broker.consume_all("findings"));
    assert_eq!(all_keys, expected.findings);
    assert_eq!(n, expected.findings.len(), "a finding was sent twice");
}

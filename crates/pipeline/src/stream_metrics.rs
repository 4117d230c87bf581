//! What the streaming service exposes on `/metrics`: events in and out,
//! dead letters by reason, consumer lag, findings by detector and
//! severity, state sizes and evictions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::RunStats;
use crate::pipeline::{EventPipeline, Sealed};

#[derive(Default)]
struct Snapshot {
    events_by_source: BTreeMap<String, u64>,
    dead_by_reason: BTreeMap<String, u64>,
    findings: BTreeMap<(String, String), u64>,
    findings_published: u64,
    dead_letters_published: u64,
    epochs: u64,
    commits_ok: u64,
    commits_failed: u64,
    rules_reloaded: u64,
    rules_rejected: u64,
    redelivered: u64,
    lag: i64,
    held_events: u64,
    live_instances: u64,
    evicted_by_cap: u64,
    evicted_idle: u64,
    evicted_profiles: u64,
    last_epoch_unix: f64,
    /// The last seal's phases (commits, live tables, state), in seconds.
    last_seal: crate::SealTimings,
    last_epoch_at: Option<Instant>,
    updated: Option<Instant>,
    messages: u64,
    first_message: Option<Instant>,
}

/// Counters and gauges of a running stream, rendered in Prometheus text.
#[derive(Default)]
pub struct StreamMetrics(Mutex<Snapshot>);

/// How often the live gauges are refreshed from the pipeline.
const REFRESH: Duration = Duration::from_secs(1);

impl StreamMetrics {
    fn with(&self, f: impl FnOnce(&mut Snapshot)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }

    /// One message taken from the source.
    pub(crate) fn note_message(&self) {
        self.with(|s| {
            s.first_message.get_or_insert_with(Instant::now);
            s.messages += 1;
        });
    }

    /// Messages taken from the source so far.
    pub fn messages(&self) -> u64 {
        self.0.lock().map(|s| s.messages).unwrap_or_default()
    }

    /// When the first message was taken (for throughput figures).
    pub fn first_message(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|s| s.first_message)
    }

    /// Epochs sealed, when the last one was durable (before its live
    /// tables were replaced), and its seal's phases.
    pub fn last_seal(&self) -> (u64, Option<Instant>, crate::SealTimings) {
        self.0
            .lock()
            .map(|s| (s.epochs, s.last_epoch_at, s.last_seal))
            .unwrap_or_default()
    }

    /// An epoch's checkpoint was saved `at`: its events, findings and
    /// offsets are durable.
    pub(crate) fn note_durable(&self, at: Instant) {
        self.with(|s| s.last_epoch_at = Some(at));
    }

    pub(crate) fn note_redelivered(&self) {
        self.with(|s| s.redelivered += 1);
    }

    pub(crate) fn note_rules_reload(&self, ok: bool) {
        self.with(|s| {
            if ok {
                s.rules_reloaded += 1
            } else {
                s.rules_rejected += 1
            }
        });
    }

    pub(crate) fn note_commit(&self, ok: bool) {
        self.with(|s| {
            if ok {
                s.commits_ok += 1
            } else {
                s.commits_failed += 1
            }
        });
    }

    pub(crate) fn note_epoch(&self, sealed: &Sealed, stats: &RunStats) {
        self.with(|s| {
            s.epochs += 1;
            for f in &sealed.findings {
                *s.findings
                    .entry((f.detector.clone(), f.severity.as_str().to_owned()))
                    .or_default() += 1;
            }
            s.last_seal = sealed.timings;
            s.findings_published += sealed.findings.len() as u64;
            s.dead_letters_published += sealed.dead_letters.len() as u64;
            s.last_epoch_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            copy_counts(s, stats);
        });
    }

    /// Refresh gauges from the pipeline (at most once a second).
    pub(crate) fn set_live(&self, pipeline: &EventPipeline, lag: i64) {
        self.with(|s| {
            if s.updated.is_some_and(|u| u.elapsed() < REFRESH) {
                return;
            }
            s.updated = Some(Instant::now());
            s.lag = lag;
            s.held_events = pipeline.held_events() as u64;
            s.live_instances = pipeline.live_instances() as u64;
            let st = pipeline.stitch_stats();
            s.evicted_by_cap = st.evicted_by_cap;
            s.evicted_idle = st.evicted_idle;
            s.evicted_profiles = pipeline.stats().analyzer_count("detectors", "evicted_open");
            copy_counts(s, pipeline.stats());
        });
    }

    /// Append the metrics in exposition format.
    pub fn render(&self, out: &mut String) {
        let Ok(s) = self.0.lock() else { return };
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        family(
            "delegraph_events_in_total",
            "counter",
            "Events decoded from Kafka, by source format.",
            s.events_by_source
                .iter()
                .map(|(k, v)| (format!("{{source=\"{}\"}}", esc(k)), *v as f64))
                .collect(),
        );
        family(
            "delegraph_dead_letters_total",
            "counter",
            "Records dead-lettered, by reason.",
            s.dead_by_reason
                .iter()
                .map(|(k, v)| (format!("{{reason=\"{}\"}}", esc(k)), *v as f64))
                .collect(),
        );
        family(
            "delegraph_stream_findings_total",
            "counter",
            "Findings made durable by the stream, by detector and severity.",
            s.findings
                .iter()
                .map(|((d, sev), v)| {
                    (
                        format!("{{detector=\"{}\",severity=\"{sev}\"}}", esc(d)),
                        *v as f64,
                    )
                })
                .collect(),
        );
        family(
            "delegraph_messages_in_total",
            "counter",
            "Kafka messages taken from the source topics.",
            one(s.messages as f64),
        );
        family(
            "delegraph_findings_published_total",
            "counter",
            "Findings delivered to the findings topic, counted when their epoch is sealed (as found, they reach it up to an epoch earlier).",
            one(s.findings_published as f64),
        );
        family(
            "delegraph_dead_letters_published_total",
            "counter",
            "Dead letters sent to the dead-letter topic.",
            one(s.dead_letters_published as f64),
        );
        family(
            "delegraph_epochs_total",
            "counter",
            "Epochs made durable (tables, topics, checkpoint).",
            one(s.epochs as f64),
        );
        let phases = [
            ("drain", s.last_seal.drain),
            ("close", s.last_seal.close),
            ("held", s.last_seal.held),
            ("commits", s.last_seal.commits),
            ("live_tables", s.last_seal.live),
            ("state", s.last_seal.state),
            ("publish", s.last_seal.publish),
            ("checkpoint", s.last_seal.checkpoint),
            ("compaction", s.last_seal.compaction),
        ];
        family(
            "delegraph_epoch_seal_seconds",
            "gauge",
            "The last epoch's seal, by phase. On the loop: decoded messages taken in, files finished, state serialised, and all the loop took no message for (held). Then beside it: table commits (with the checkpoint written aside meanwhile), findings published, checkpoint put in place, crowded days compacted; live tables (rows built on the loop, replaced beside it).",
            phases
                .iter()
                .map(|(phase, d)| (format!("{{phase=\"{phase}\"}}"), d.as_secs_f64()))
                .collect(),
        );
        family(
            "delegraph_offset_commits_total",
            "counter",
            "Offset commits to the consumer group, by result.",
            vec![
                ("{result=\"ok\"}".into(), s.commits_ok as f64),
                ("{result=\"failed\"}".into(), s.commits_failed as f64),
            ],
        );
        family(
            "delegraph_rule_reloads_total",
            "counter",
            "Rule directory changes picked up, by result (rejected: previous rules stay).",
            vec![
                ("{result=\"ok\"}".into(), s.rules_reloaded as f64),
                ("{result=\"rejected\"}".into(), s.rules_rejected as f64),
            ],
        );
        family(
            "delegraph_redelivered_skipped_total",
            "counter",
            "Messages skipped because the checkpoint already held them.",
            one(s.redelivered as f64),
        );
        family(
            "delegraph_consumer_lag",
            "gauge",
            "Messages behind the end of the assigned partitions.",
            one(s.lag as f64),
        );
        family(
            "delegraph_held_events",
            "gauge",
            "Events held for event-time ordering.",
            one(s.held_events as f64),
        );
        family(
            "delegraph_live_instances",
            "gauge",
            "Agent instances with live graphs.",
            one(s.live_instances as f64),
        );
        family(
            "delegraph_evictions_total",
            "counter",
            "State evicted, by kind (cap: bounded indexes full; idle: instance idle; profile: detector profile).",
            vec![
                ("{kind=\"cap\"}".into(), s.evicted_by_cap as f64),
                ("{kind=\"idle\"}".into(), s.evicted_idle as f64),
                ("{kind=\"profile\"}".into(), s.evicted_profiles as f64),
            ],
        );
        family(
            "delegraph_last_epoch_timestamp_seconds",
            "gauge",
            "When the last epoch became durable (Unix time).",
            one(s.last_epoch_unix),
        );
    }
}

fn copy_counts(s: &mut Snapshot, stats: &RunStats) {
    s.events_by_source = stats
        .events_by_source
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), *v))
        .collect();
    s.dead_by_reason = stats.dead_by_reason.clone();
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

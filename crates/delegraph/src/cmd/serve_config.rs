//! `delegraph.toml`: what `delegraph serve --config` runs. Paths in it are
//! relative to the file's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::settings::{AnalysisSources, parse_duration, read_text};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where tables and state live.
    pub data_dir: PathBuf,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSection,
    /// Kafka input and output; without it only the API runs.
    pub kafka: Option<KafkaSection>,
    /// Pipeline settings.
    #[serde(default)]
    pub pipeline: PipelineSection,
    /// Decoder settings (`[decoders.opa]`).
    #[serde(default)]
    pub decoders: super::settings::DecodersSection,
    /// Upkeep of the tables: compaction, retention, VACUUM.
    #[serde(default)]
    pub store: StoreSection,
}

/// `[store]`: how the service keeps its tables (see README, "The store").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Where the tables live, when not under `data_dir`: `s3://bucket/prefix`
    /// (recorded in the data directory on start, as `delegraph store init`
    /// does).
    pub tables: Option<String>,
    /// Time between upkeep passes, e.g. `10m` (default 10m; `0s` turns
    /// upkeep off, for `delegraph store` run by hand or by cron).
    pub upkeep_interval: Option<String>,
    /// A day is compacted once it ended this long ago (default 24h).
    pub closed_after: Option<String>,
    /// Files removed from a table are deleted after this long (default 1h).
    pub vacuum_retention: Option<String>,
    /// Days of events kept (default 90).
    pub events_days: Option<u32>,
    /// Days of findings kept, by detection day (default 400).
    pub findings_days: Option<u32>,
    /// Days of instances and edges kept, by last seen (default 90).
    pub graph_days: Option<u32>,
    /// Days of dead letters kept (default 14).
    pub dead_letter_days: Option<u32>,
}

/// Upkeep every ten minutes unless told otherwise.
const DEFAULT_UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

impl StoreSection {
    /// The upkeep policy and how often it runs (`None`: never).
    pub fn upkeep(&self) -> anyhow::Result<(delegraph_store::Upkeep, Option<std::time::Duration>)> {
        let std_duration = |v: Option<&str>| -> anyhow::Result<Option<std::time::Duration>> {
            Ok(duration(v)?.map(|ns| std::time::Duration::from_nanos(ns.max(0) as u64)))
        };
        let d = delegraph_store::Upkeep::default();
        let upkeep = delegraph_store::Upkeep {
            closed_after: std_duration(self.closed_after.as_deref())?.unwrap_or(d.closed_after),
            vacuum_retention: std_duration(self.vacuum_retention.as_deref())?
                .unwrap_or(d.vacuum_retention),
            events_days: self.events_days.unwrap_or(d.events_days),
            findings_days: self.findings_days.unwrap_or(d.findings_days),
            graph_days: self.graph_days.unwrap_or(d.graph_days),
            dead_letter_days: self.dead_letter_days.unwrap_or(d.dead_letter_days),
        };
        let every =
            std_duration(self.upkeep_interval.as_deref())?.unwrap_or(DEFAULT_UPKEEP_INTERVAL);
        Ok((upkeep, (!every.is_zero()).then_some(every)))
    }
}

/// `[api]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Listen address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where /healthz and /metrics are also served, without a token (the
    /// monitoring network's address); on `listen`, /metrics needs one.
    pub metrics_listen: Option<SocketAddr>,
    /// Token file (see `delegraph token`).
    pub tokens: Option<PathBuf>,
    /// Or one engineer token from this environment variable.
    pub token_env: Option<String>,
    /// Seconds a SQL query may run.
    #[serde(default = "default_query_timeout")]
    pub query_timeout_secs: u64,
    /// Where rule files are listed from and uploaded to (default:
    /// DATA_DIR/rules); when set, the stream also runs them, picking up
    /// changes at each epoch (a broken file leaves the previous rules on).
    pub rules_dir: Option<PathBuf>,
    /// Grafana as an analyst's browser reaches it (`http://…` or
    /// `https://…`): the triage page links each finding to the findings
    /// dashboard there.
    pub grafana_url: Option<String>,
}

impl ApiSection {
    /// Refuse a Grafana address a browser link should not carry.
    pub fn check_grafana_url(&self) -> anyhow::Result<()> {
        if let Some(u) = &self.grafana_url {
            anyhow::ensure!(
                (u.starts_with("http://") || u.starts_with("https://"))
                    && !u.chars().any(|c| c.is_whitespace() || c.is_control()),
                "grafana_url {u:?}: give an http:// or https:// address"
            );
        }
        Ok(())
    }
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            metrics_listen: None,
            tokens: None,
            token_env: None,
            query_timeout_secs: default_query_timeout(),
            rules_dir: None,
            grafana_url: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_query_timeout() -> u64 {
    30
}

/// `[kafka]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Topics to consume.
    pub topics: Vec<TopicSection>,
    /// Topic for OCSF Detection Findings.
    pub findings_topic: Option<String>,
    /// Topic for dead letters.
    pub dead_letter_topic: Option<String>,
    /// When findings go to `findings_topic`: `"at_seal"` (the default),
    /// once the epoch's tables holding their events are committed, or
    /// `"as_found"`, as soon as they are found (lower latency; a crash may
    /// leave on the topic a finding its redo does not make again).
    #[serde(default)]
    pub publish_findings: delegraph_pipeline::FindingsRelease,
    /// Longest time between durable epochs (ms).
    #[serde(default = "default_epoch_ms")]
    pub epoch_interval_ms: u64,
    /// Most messages per epoch.
    #[serde(default = "default_epoch_messages")]
    pub epoch_max_messages: u64,
    /// How long findings may wait for delivery before the service stops.
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout_secs: u64,
    /// Any librdkafka property (SASL, TLS, …), passed through.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_group() -> String {
    "delegraph".into()
}
fn default_epoch_ms() -> u64 {
    5000
}
fn default_epoch_messages() -> u64 {
    100_000
}
fn default_publish_timeout() -> u64 {
    300
}

/// `[[kafka.topics]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSection {
    /// Topic name.
    pub name: String,
    /// Force a format (default: detected per record).
    pub format: Option<String>,
}

/// `[pipeline]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// Allowed lateness, e.g. `5m` (default 5m).
    pub lateness: Option<String>,
    /// How long before an action a policy decision for the same instance
    /// and tool binds to it when no decision id was propagated (default 2m).
    pub decision_window: Option<String>,
    /// How far back a policy decision counts as the instance being under
    /// approval (default 1h).
    pub approval_lookback: Option<String>,
    /// Detector thresholds file.
    pub detectors: Option<PathBuf>,
    /// Agent inventory file.
    pub agents: Option<PathBuf>,
    /// Threads decoding Kafka messages beside the one consuming them
    /// (default: one per core but one, at least one).
    #[serde(default)]
    pub decode_threads: usize,
    /// Release events held for ordering after this long without input,
    /// e.g. `30s` (default 30s).
    pub idle_release: Option<String>,
    /// Times further than this into the future are filed under the day
    /// they arrived, e.g. `1d` (the default).
    pub future_skew: Option<String>,
    /// Times older than this are filed under the day they arrived, e.g.
    /// `30d` (default: any time from 2000 on keeps its own day).
    pub max_event_age: Option<String>,
}

impl ServeConfig {
    /// Read and check `path`; relative paths become relative to its folder.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let mut c: ServeConfig = toml::from_str(&read_text(path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.data_dir);
        if let Some(p) = c.api.tokens.as_mut() {
            fix(p);
        }
        if let Some(p) = c.api.rules_dir.as_mut() {
            fix(p);
        }
        if let Some(p) = c.pipeline.detectors.as_mut() {
            fix(p);
        }
        if let Some(p) = c.pipeline.agents.as_mut() {
            fix(p);
        }
        if let Some(k) = &c.kafka {
            anyhow::ensure!(
                k.findings_topic.is_some()
                    || k.publish_findings == delegraph_pipeline::FindingsRelease::AtSeal,
                "{}: [kafka] publish_findings needs a findings_topic to publish to",
                path.display()
            );
            anyhow::ensure!(
                !k.topics.is_empty(),
                "{}: [kafka] needs at least one [[kafka.topics]]",
                path.display()
            );
        }
        Ok(c)
    }

    /// The streaming settings, if Kafka is configured.
    pub fn stream(&self) -> anyhow::Result<Option<delegraph_pipeline::StreamConfig>> {
        let Some(k) = &self.kafka else {
            return Ok(None);
        };
        let settings = delegraph_ingest::kafka::KafkaSettings {
            brokers: k.brokers.clone(),
            group_id: k.group_id.clone(),
            properties: k.properties.clone(),
        };
        let mut s = delegraph_pipeline::StreamConfig::new(&self.data_dir, settings);
        for t in &k.topics {
            let format = match &t.format {
                None => None,
                Some(f) => {
                    super::parse_format(f)
                        .map_err(|e| anyhow::anyhow!("topic {}: {e}", t.name))?
                        .0
                }
            };
            s.topics.push(delegraph_pipeline::TopicSource {
                topic: t.name.clone(),
                format,
            });
        }
        s.findings_topic = k.findings_topic.clone();
        s.dead_letter_topic = k.dead_letter_topic.clone();
        s.findings_release = k.publish_findings;
        s.epoch_interval = std::time::Duration::from_millis(k.epoch_interval_ms.max(1));
        s.epoch_max_messages = k.epoch_max_messages.max(1);
        s.publish_timeout = std::time::Duration::from_secs(k.publish_timeout_secs);
        let rules_dir = self.rules_dir()?;
        let p = &self.pipeline;
        s.decode_threads = p.decode_threads;
        let analysis = AnalysisSources {
            lateness_ns: duration(p.lateness.as_deref())?,
            decision_window_ns: duration(p.decision_window.as_deref())?,
            approval_lookback_ns: duration(p.approval_lookback.as_deref())?,
            max_record_bytes: None,
            agents: p.agents.clone(),
            detectors: p.detectors.clone(),
            decoders: None,
            // Loaded here, so broken rules are refused at start (and by
            // `--check`) rather than at the first epoch.
            rules: Some(rules_dir.clone()),
            future_skew_ns: duration(p.future_skew.as_deref())?,
            max_event_age_ns: duration(p.max_event_age.as_deref())?,
        };
        if let Some(ns) = duration(p.idle_release.as_deref())? {
            s.idle_release = std::time::Duration::from_nanos(ns.max(0) as u64);
        }
        analysis.apply(&mut s.analysis)?;
        s.analysis.opa = self.decoders.opa.clone();
        s.rules_dir = Some(rules_dir);
        Ok(Some(s))
    }

    /// The rules the stream runs: the directory the API lists and stores
    /// uploads in (`[api] rules_dir`, default DATA_DIR/rules), so a rule
    /// an engineer uploads runs without a setting of its own. The default
    /// is created when missing, as an upload would.
    fn rules_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.api.rules_dir {
            Some(dir) => Ok(dir.clone()),
            None => {
                let dir = delegraph_api::default_rules_dir(&self.data_dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
                Ok(dir)
            }
        }
    }
}

/// A `[pipeline]` duration key, if given.
fn duration(value: Option<&str>) -> anyhow::Result<Option<i64>> {
    value
        .map(parse_duration)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))
}

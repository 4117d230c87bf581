//! Settings several commands read: the analysis settings replay's flags
//! and `delegraph.toml` both give (durations, and the agent inventory,
//! detector thresholds, decoder settings and rules files), mapped onto
//! [`AnalysisSettings`] in one place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use delegraph_pipeline::AnalysisSettings;

/// Analysis settings as `replay`'s flags or `delegraph.toml` name them:
/// durations parsed, files not yet read. Both map onto [`AnalysisSettings`]
/// through [`apply`](Self::apply), so a flag and its config key are read
/// and checked alike; what is not given keeps the entry point's default.
#[derive(Debug, Default)]
pub struct AnalysisSources {
    /// Allowed lateness (`--lateness`, `[pipeline] lateness`).
    pub lateness_ns: Option<i64>,
    /// `--decision-window`, `[pipeline] decision_window`.
    pub decision_window_ns: Option<i64>,
    /// `--approval-lookback`, `[pipeline] approval_lookback`.
    pub approval_lookback_ns: Option<i64>,
    /// `--max-record-bytes`.
    pub max_record_bytes: Option<usize>,
    /// Agent inventory file (`--agents`, `[pipeline] agents`).
    pub agents: Option<PathBuf>,
    /// Detector thresholds file (`--detectors`, `[pipeline] detectors`).
    pub detectors: Option<PathBuf>,
    /// A file with a `[decoders]` section (`--decoders`; `delegraph.toml`
    /// holds the section itself).
    pub decoders: Option<PathBuf>,
    /// Sigma rules directory (`--rules`, `[api] rules_dir`).
    pub rules: Option<PathBuf>,
    /// Clock skew into the future a time may carry and still be filed
    /// under its own day (`--future-skew`, `[pipeline] future_skew`).
    pub future_skew_ns: Option<i64>,
    /// The oldest a time may be and still be filed under its own day
    /// (`--max-event-age`, `[pipeline] max_event_age`).
    pub max_event_age_ns: Option<i64>,
}

impl AnalysisSources {
    /// Set what is given on `settings`, reading the files it names; the
    /// first file that does not load is the error.
    pub fn apply(&self, settings: &mut AnalysisSettings) -> anyhow::Result<()> {
        let AnalysisSources {
            lateness_ns,
            decision_window_ns,
            approval_lookback_ns,
            max_record_bytes,
            agents,
            detectors,
            decoders,
            rules,
            future_skew_ns,
            max_event_age_ns,
        } = self;
        settings.lateness_ns = lateness_ns.unwrap_or(settings.lateness_ns);
        settings.decision_window_ns = decision_window_ns.unwrap_or(settings.decision_window_ns);
        settings.approval_lookback_ns =
            approval_lookback_ns.unwrap_or(settings.approval_lookback_ns);
        settings.max_record_bytes = max_record_bytes.unwrap_or(settings.max_record_bytes);
        settings.filing.future_skew_ns = future_skew_ns.unwrap_or(settings.filing.future_skew_ns);
        settings.filing.max_age_ns = max_event_age_ns.or(settings.filing.max_age_ns);
        if let Some(path) = agents {
            settings.inventory = Some(load_inventory(path)?);
        }
        if let Some(path) = detectors {
            settings.detect = load_detectors(path)?;
        }
        if let Some(path) = decoders {
            settings.opa = load_decoders(path)?.opa;
        }
        if let Some(dir) = rules {
            settings.rules = Arc::new(load_rules(dir)?);
        }
        Ok(())
    }
}

/// `90s`, `15m`, `2h`, `30d` → nanoseconds (flags and config keys alike).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 90s, 15m, 2h, 30d"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("bad duration unit in {s:?}: use s, m, h or d")),
    };
    Ok(secs.saturating_mul(1_000_000_000))
}

/// A settings file's text; the error names the file.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `agents.toml`: which identities are which agents.
pub fn load_inventory(path: &Path) -> anyhow::Result<delegraph_graph::Inventory> {
    delegraph_graph::Inventory::from_toml(&read_text(path)?)
        .with_context(|| format!("{}: invalid agent inventory", path.display()))
}

/// `detectors.toml`: thresholds per detector and agent.
pub fn load_detectors(path: &Path) -> anyhow::Result<delegraph_detect::DetectConfig> {
    Ok(delegraph_detect::DetectConfig::from_toml(
        &read_text(path)?,
        &path.display().to_string(),
    )?)
}

/// Load a rules directory; every error with its file and line.
pub fn load_rules(dir: &Path) -> anyhow::Result<delegraph_rules::RuleSet> {
    delegraph_rules::load_dir(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "rules in {} do not load:\n{}",
            dir.display(),
            lines.join("\n")
        )
    })
}

/// Decoder settings: `[decoders.opa]` of `delegraph.toml`, or the same
/// section alone in a file given to `replay --decoders`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodersSection {
    /// Where OPA decision logs keep the facts in `input`.
    #[serde(default)]
    pub opa: delegraph_decode::OpaMapping,
}

/// A file holding a `[decoders]` section (other sections are ignored, so
/// `delegraph.toml` itself can be given).
pub fn load_decoders(path: &Path) -> anyhow::Result<DecodersSection> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        decoders: DecodersSection,
    }
    let f: File = toml::from_str(&read_text(path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(f.decoders)
}

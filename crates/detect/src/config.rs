//! Thresholds, per detector and per logical agent, with documented defaults
//! (`detectors.example.toml` at the repository root lists every knob).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DetectError, DetectorId};

/// Every built-in detector's name, in report order.
pub const DETECTORS: [&str; 13] = {
    let mut names = [""; 13];
    let mut i = 0;
    while i < names.len() {
        names[i] = DetectorId::ALL[i].name();
        i += 1;
    }
    names
};

/// Knobs one detector reads; every field is optional so a per-agent table
/// overrides only what it names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorSettings {
    /// Off switch.
    pub enabled: Option<bool>,
    /// Risk (0–100) of a fully confident finding: how bad it is if real.
    pub impact: Option<u8>,
    /// A statistical detector raises when the tail probability is at or
    /// below this.
    pub alert_p: Option<f64>,
    /// Instances of the agent needed before the detector speaks.
    pub min_history: Option<u64>,
}

/// The effective settings of one detector for one agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effective {
    /// Whether it runs.
    pub enabled: bool,
    /// Risk of a fully confident finding.
    pub impact: u8,
    /// Raise at or below this tail probability.
    pub alert_p: f64,
    /// Instances needed first.
    pub min_history: u64,
}

/// Per-agent overrides: `[agents."support-agent".detectors.secret_access]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// Overrides by detector name.
    pub detectors: BTreeMap<String, DetectorSettings>,
}

/// Detector configuration (`detectors.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Default `alert_p` of statistical detectors.
    pub alert_p: f64,
    /// Tail probability at which a finding carries its detector's full
    /// impact; confidence grows linearly in log p up to it.
    pub full_confidence_p: f64,
    /// Default instances of an agent needed before its baseline is used.
    pub min_history: u64,
    /// Baseline memory, in instances: an instance's weight halves after
    /// this many later instances of the same agent.
    pub baseline_half_life: f64,
    /// Instances whose own findings reach this risk are not learned, so an
    /// attacker cannot teach the baseline what they do.
    pub learn_below_risk: u8,
    /// Instances whose findings stayed below this risk (but reached
    /// `learn_below_risk`) are still learned, at `forgiven_weight`: a benign
    /// habit that was flagged becomes normal over several instances instead
    /// of being flagged forever. At or above it nothing is learned. Off by
    /// default (equal to `learn_below_risk`); e.g. 70 turns it on.
    pub forgive_below_risk: u8,
    /// The weight a forgiven instance is learned with (a clean one has 1).
    pub forgiven_weight: f64,
    /// Every instance of this run is learned at full weight whatever its
    /// findings: for onboarding from history known to be clean (a warm-up
    /// replay), so its habits are all normal before live traffic is judged.
    pub trusted: bool,
    /// An item seen in less than this share of an agent's instances counts
    /// as rare (transitions, services, operations, accounts).
    pub rare_share: f64,
    /// Seconds after an instance's task ended (or it went idle) before its
    /// profile is closed and learned.
    pub close_after_secs: u64,
    /// Seconds without events after which an instance with no known end is
    /// closed.
    pub idle_close_secs: u64,
    /// A packing round, in seconds of event time: an open instance without
    /// events for five rounds (one while more than 20,000 are held, see
    /// `delegraph_model::rounds_before_packing`) has its detectors' state
    /// packed into its saved bytes, unpacked by its next event: memory,
    /// not results (0: never pack).
    pub pack_idle_secs: u64,
    /// Seconds a credential may still be used after its task ended
    /// (clock skew, in-flight calls).
    pub after_task_grace_secs: u64,
    /// The same finding id is not raised again within this many seconds.
    pub dedup_window_secs: u64,
    /// Seconds a credential may go unused (event time) before what is
    /// known of it (first user, expiry, clients) is forgotten: the
    /// stitcher forgets its binding after as long.
    pub credential_idle_secs: u64,
    /// Half-life of accumulated instance and human risk, in seconds.
    pub risk_half_life_secs: u64,
    /// Most open instance profiles held (least recently active closed first).
    pub max_open_instances: usize,
    /// Denied policy decisions for one instance within
    /// `policy_burst_window_secs` that make a `policy_probe` burst.
    pub policy_burst: usize,
    /// The window a denial burst is counted in, in seconds.
    pub policy_burst_window_secs: u64,
    /// How long after a denial reaching the denied resource another way
    /// (another tool, another credential) is `policy_probe` drift, in seconds.
    pub policy_drift_window_secs: u64,
    /// Per-detector settings.
    pub detectors: BTreeMap<String, DetectorSettings>,
    /// Per-agent overrides.
    pub agents: BTreeMap<String, AgentSettings>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            alert_p: 1e-3,
            full_confidence_p: 1e-4,
            min_history: 10,
            baseline_half_life: 2000.0,
            learn_below_risk: 40,
            forgive_below_risk: 40,
            forgiven_weight: 0.25,
            trusted: false,
            rare_share: 0.02,
            close_after_secs: 300,
            idle_close_secs: 3600,
            pack_idle_secs: 60,
            after_task_grace_secs: 120,
            dedup_window_secs: 86_400,
            credential_idle_secs: 7 * 86_400,
            risk_half_life_secs: 6 * 3600,
            max_open_instances: 200_000,
            policy_burst: 5,
            policy_burst_window_secs: 300,
            policy_drift_window_secs: 900,
            detectors: BTreeMap::new(),
            agents: BTreeMap::new(),
        }
    }
}

/// Alert level of each detector when nothing overrides it. A call into a
/// service the agent never used is one event that shows as two new items
/// (service and operation), so scope growth alerts at a looser level.
fn default_alert_p(detector: &str, global: f64) -> f64 {
    match detector {
        "scope_growth" => global * 5.0,
        // A calibrated combination of its own clues (see `calibration`):
        // raised whenever the combination is at all unusual, its risk
        // saying how much (one clue never seen in learned sessions alone is
        // p ≈ 0.055, risk 27; all three p ≈ 1e-4, risk 85).
        "value_provenance" => 0.5,
        _ => global,
    }
}

/// Learned sessions each detector needs when nothing overrides it.
/// `value_provenance` spends them twice: its first sessions teach the
/// agent's world (what it reads and uses), the next as many teach how often
/// its benign sessions raise each clue, before it alerts. Ten of each left
/// agents whose habits show only now and then flagging benign sessions on
/// the AgentDojo development set (recall at 2% false positives 0.09, against
/// 0.67 with twenty; docs/detectors.md).
fn default_min_history(detector: &str, global: u64) -> u64 {
    match detector {
        "value_provenance" => global.max(20),
        _ => global,
    }
}

/// Impact of each detector when nothing overrides it: privilege changes and
/// secrets first, behavioural drift lower.
fn default_impact(detector: &str) -> u8 {
    match detector {
        "privilege_escalation" => 90,
        "secret_access" | "data_flow" | "value_provenance" => 85,
        "credential_lifetime" | "shared_identity" | "cross_environment" => 80,
        "scope_growth" | "policy_probe" => 70,
        "envelope" => 75,
        _ => 60,
    }
}

/// A duration given in seconds in `detectors.toml`, as event-time
/// nanoseconds (saturating: a huge value means "never").
pub(crate) fn secs_to_ns(secs: u64) -> i64 {
    const SECOND: i64 = 1_000_000_000;
    i64::try_from(secs)
        .unwrap_or(i64::MAX / SECOND)
        .saturating_mul(SECOND)
}

impl DetectConfig {
    /// Read a TOML file; unknown keys and detector names are errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, DetectError> {
        let cfg: DetectConfig = toml::from_str(text).map_err(|e| DetectError::Config {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let unknown = cfg
            .detectors
            .keys()
            .chain(cfg.agents.values().flat_map(|a| a.detectors.keys()))
            .find(|d| !DETECTORS.contains(&d.as_str()));
        if let Some(d) = unknown {
            return Err(DetectError::Config {
                origin: origin.to_owned(),
                message: format!("unknown detector `{d}` (known: {})", DETECTORS.join(", ")),
            });
        }
        Ok(cfg)
    }

    /// Settings of `detector` for `agent`: the agent's override, else the
    /// detector's, else the global default.
    pub fn effective(&self, detector: &str, agent: Option<&str>) -> Effective {
        let global = self.detectors.get(detector);
        let local = agent
            .and_then(|a| self.agents.get(a))
            .and_then(|a| a.detectors.get(detector));
        let pick = |f: &dyn Fn(&DetectorSettings) -> Option<f64>| {
            local.and_then(f).or_else(|| global.and_then(f))
        };
        Effective {
            enabled: local
                .and_then(|s| s.enabled)
                .or_else(|| global.and_then(|s| s.enabled))
                .unwrap_or(true),
            impact: pick(&|s| s.impact.map(f64::from))
                .map(|x| x as u8)
                .unwrap_or_else(|| default_impact(detector)),
            alert_p: pick(&|s| s.alert_p)
                .unwrap_or_else(|| default_alert_p(detector, self.alert_p)),
            min_history: pick(&|s| s.min_history.map(|x| x as f64))
                .map(|x| x as u64)
                .unwrap_or_else(|| default_min_history(detector, self.min_history)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_overrides_win_over_detector_and_global() {
        let cfg = DetectConfig::from_toml(
            r#"
            alert_p = 0.01
            [detectors.secret_access]
            impact = 50
            [agents."ops-agent".detectors.secret_access]
            alert_p = 0.0001
            enabled = false
            "#,
            "test",
        )
        .unwrap();
        let ops = cfg.effective("secret_access", Some("ops-agent"));
        assert!(!ops.enabled);
        assert_eq!(ops.alert_p, 0.0001);
        assert_eq!(ops.impact, 50);
        let other = cfg.effective("secret_access", Some("support-agent"));
        assert!(other.enabled);
        assert_eq!(other.alert_p, 0.01);
        assert_eq!(cfg.effective("tool_chain", None).impact, 60);
    }

    #[test]
    fn unknown_detector_is_named() {
        let err = DetectConfig::from_toml("[detectors.tool_chian]\nimpact = 3", "d.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("d.toml") && err.contains("tool_chian"),
            "{err}"
        );
    }
}

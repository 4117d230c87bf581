//! A finding: something a detector or rule says an analyst should look at.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

/// How urgent a finding is, derived from its risk score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Context worth keeping; no action expected.
    Info,
    /// Unusual, probably benign.
    Low,
    /// Worth a look today.
    Medium,
    /// Worth a look now.
    High,
    /// Likely compromise or abuse in progress.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The band a 0–100 risk score falls in (20-point bands), so severity
    /// and score can never disagree.
    pub fn from_risk(risk: u8) -> Self {
        match risk {
            0..20 => Severity::Info,
            20..40 => Severity::Low,
            40..60 => Severity::Medium,
            60..80 => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// Stable lower-case name for tables, metrics and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Inverse of [`Severity::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event a finding rests on, with where it was read so an analyst can
/// go back to the original record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The event's id.
    pub event_id: String,
    /// `file:line` or `topic/partition/offset`.
    pub origin: String,
}

/// A detector's or rule's finding, as stored in the `findings` table.
///
/// `finding_id` is a hash of what was found (detector, instance, the
/// unusual thing), never of when it was processed, so replaying the same
/// input yields the same ids and a store can drop duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Deterministic id (hex).
    pub finding_id: String,
    /// Built-in detector name (`tool_chain`, …); empty for rule hits.
    pub detector: String,
    /// Sigma rule id for rule hits.
    #[serde(default)]
    pub rule_id: Option<String>,
    /// Severity band of `risk_score`.
    pub severity: Severity,
    /// 0–100.
    pub risk_score: u8,
    /// Event time of the event that completed the evidence (ns).
    pub event_time: i64,
    /// Stream time when it was raised: the latest event time the pipeline
    /// had processed (ns). Deterministic, unlike the wall clock.
    pub detected_at: i64,
    /// Logical agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The instance that acted.
    #[serde(default)]
    pub agent_instance: Option<String>,
    /// Root of its delegation chain.
    #[serde(default)]
    pub root_instance: Option<String>,
    /// The human on whose behalf it acted.
    #[serde(default)]
    pub initiator: Option<String>,
    /// The credential involved.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// The tool the deciding event called, for tool-call findings: what
    /// "suppress similar" may match beside the agent and the human.
    #[serde(default)]
    pub tool: Option<String>,
    /// The first resource the deciding event touched.
    #[serde(default)]
    pub resource: Option<String>,
    /// One sentence for the analyst.
    pub summary: String,
    /// What the baseline (or the rule) expected.
    pub expected: String,
    /// What was seen.
    pub observed: String,
    /// Tail probability of what was seen under the baseline, when the
    /// detector is statistical.
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Instances of this agent the baseline was learned from.
    pub baseline_instances: u64,
    /// Events it rests on.
    pub evidence: Vec<Evidence>,
    /// Delegation chain, root first.
    pub chain: Vec<String>,
    /// Framework tags (`owasp-nhi:NHI5`, `owasp-agentic:T3`, `attack:T1098.001`).
    pub tags: Vec<String>,
    /// Accumulated, decayed risk of the instance after this finding (0–100).
    pub instance_risk: u8,
    /// Accumulated, decayed risk of the human after this finding (0–100).
    pub human_risk: u8,
}

/// Id of what was found: detector, instance, subject — never processing time.
pub fn finding_id(detector: &str, instance: &str, subject: &str) -> String {
    format!(
        "{:032x}",
        xxh3_128(format!("{detector}\0{instance}\0{subject}").as_bytes())
    )
}

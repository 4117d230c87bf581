//! Silences: an engineer hides matching findings from listings until a
//! time, with a reason. Kept in `DIR/state/silences.json`, replaced
//! atomically on every change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ApiError;

/// Longest value a silence matches on (ids and names are far shorter).
pub const MAX_MATCH_CHARS: usize = 512;
/// Longest reason.
pub const MAX_REASON_CHARS: usize = 4096;
/// How long a silence holds when its creator does not say.
pub const DEFAULT_EXPIRY_HOURS: i64 = 24;
/// Active silences at most: each is a literal in every findings query.
pub const MAX_ACTIVE_SILENCES: usize = 10_000;

/// Which findings a silence hides; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceMatch {
    /// Detector name or rule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    /// Logical agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Agent instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_instance: Option<String>,
    /// The human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// The credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// The tool the finding's deciding event called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The first resource that event touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl SilenceMatch {
    /// A matcher pre-filled with a finding's entities (a row of the
    /// findings table): its rule or detector, agent, human, credential,
    /// tool and resource.
    pub fn from_finding(f: &serde_json::Value) -> Self {
        let text = |k: &str| f[k].as_str().map(str::to_owned);
        Self {
            detector: text("rule_id").or_else(|| text("detector")),
            agent_id: text("agent_id"),
            agent_instance: None,
            initiator: text("initiator"),
            credential_id: text("credential_id"),
            tool: text("tool"),
            resource: text("resource"),
        }
    }

    /// The findings this would hide that are not closed yet, as a store
    /// query (its `detector` names a detector or a rule id).
    pub fn unclosed_query(&self) -> delegraph_store::FindingQuery {
        delegraph_store::FindingQuery {
            detector: self.detector.clone(),
            matching: self
                .columns()
                .into_iter()
                .filter(|(c, _)| *c != "detector")
                .map(|(c, v)| (c.to_owned(), v))
                .collect(),
            statuses: vec!["open".into(), "acknowledged".into()],
            include_silenced: true,
            ..Default::default()
        }
    }

    /// A matcher on the given `(column, value)` pairs; names that are not
    /// a matcher's field are ignored.
    pub fn from_columns<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut m = Self::default();
        for (c, v) in pairs {
            let slot = match c {
                "detector" => &mut m.detector,
                "agent_id" => &mut m.agent_id,
                "agent_instance" => &mut m.agent_instance,
                "initiator" => &mut m.initiator,
                "credential_id" => &mut m.credential_id,
                "tool" => &mut m.tool,
                "resource" => &mut m.resource,
                _ => continue,
            };
            *slot = Some(v);
        }
        m
    }

    /// The value matched on `column`, if any.
    pub fn value(&self, column: &str) -> Option<String> {
        self.columns()
            .into_iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v)
    }

    /// `(column, value)` pairs for the store's exclusion filter.
    pub fn columns(&self) -> Vec<(&'static str, String)> {
        [
            ("detector", &self.detector),
            ("agent_id", &self.agent_id),
            ("agent_instance", &self.agent_instance),
            ("initiator", &self.initiator),
            ("credential_id", &self.credential_id),
            ("tool", &self.tool),
            ("resource", &self.resource),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.clone().map(|v| (c, v)))
        .collect()
    }
}

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Id (assigned on creation).
    pub id: String,
    /// What it hides.
    pub matcher: SilenceMatch,
    /// Why.
    pub reason: String,
    /// Token name that created it.
    pub created_by: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Until when it holds, ns since the epoch.
    pub expires_at_ns: i64,
    /// Until when it holds (RFC 3339).
    pub expires_at: String,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("silences.json")
}

/// Every silence ever made (expired ones included).
pub fn load(data_dir: &Path) -> Result<Vec<Silence>, ApiError> {
    match std::fs::read(path(data_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ApiError::Internal(format!("silences file: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ApiError::Internal(format!("silences file: {e}"))),
    }
}

/// Replace the silences file.
pub fn store(data_dir: &Path, all: &[Silence]) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec_pretty(all).map_err(|e| ApiError::Internal(e.to_string()))?;
    delegraph_store::write_file_atomic(&path(data_dir), &bytes)?;
    Ok(())
}

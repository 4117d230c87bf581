//! Reads the triage page needs beyond the API's: a finding's related
//! findings, an instance's timeline with its sub-agents, and one stored
//! event with its raw record.

use serde_json::Value;

use crate::exclusions::lit;
use crate::finding_query::TRIAGED;
use crate::views::rows;
use crate::{SqlEngine, StoreError};

/// How old the peer counts a detail panel shows may be: two scans of
/// whole tables per (agent, detector), which one epoch barely moves.
const PEER_COUNTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// How far apart in time two findings of one human count as related.
const RELATED_WINDOW_NS: i64 = 3_600_000_000_000;

impl SqlEngine {
    /// Findings sharing the instance or the credential of finding row `f`
    /// (from [`SqlEngine::finding_row`]), or its human within an hour of
    /// it; nearest relation first, then newest. One filter on one column
    /// per relation, with the finding's values as literals, so each can
    /// skip row groups by its bloom filter.
    pub async fn related_findings(
        &self,
        f: &Value,
        limit: usize,
    ) -> Result<Vec<Value>, StoreError> {
        let Some(id) = f["finding_id"].as_str() else {
            return Ok(Vec::new());
        };
        let t = f["event_time"]
            .as_str()
            .and_then(|t| delegraph_model::Timestamp::parse_exported(t).ok())
            .map(delegraph_model::Timestamp::nanos);
        let mut parts = Vec::new();
        let mut not_before: Vec<String> = Vec::new();
        let near = t.map(|t| {
            format!(
                " AND (CAST(event_time AS BIGINT) BETWEEN {} AND {})",
                t.saturating_sub(RELATED_WINDOW_NS),
                t.saturating_add(RELATED_WINDOW_NS)
            )
        });
        for (relation, column, extra) in [
            ("same instance", "agent_instance", Some(String::new())),
            ("same credential", "credential_id", Some(String::new())),
            ("same human within 1 h", "initiator", near),
        ] {
            let (Some(v), Some(extra)) = (f[column].as_str(), extra) else {
                continue;
            };
            parts.push(format!(
                "SELECT finding_id, summary, severity, risk_score, \
                   coalesce(rule_id, detector) AS detector, status, \
                   CAST(event_time AS VARCHAR) AS event_time, '{relation}' AS relation \
                 FROM {TRIAGED} WHERE {column} = {v} AND finding_id <> {id}{extra}{earlier}",
                v = lit(v),
                id = lit(id),
                earlier = not_before.concat(),
            ));
            // Parenthesised: the SQL parser reads `x IS DISTINCT FROM 'v'
            // AND …` as `x IS DISTINCT FROM ('v' AND …)`.
            not_before.push(format!(" AND ({column} IS DISTINCT FROM {})", lit(v)));
        }
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM ({}) ORDER BY relation, event_time DESC LIMIT {}",
            parts.join(" UNION ALL "),
            limit.clamp(1, 1000)
        );
        rows(self, &sql).await
    }

    /// An instance's events and those of the instances below it, in time
    /// order, with each event's depth under the root; at most `limit`.
    pub async fn instance_timeline(
        &self,
        instance: &str,
        limit: usize,
    ) -> Result<Vec<Value>, StoreError> {
        let sql = format!(
            // Two filters on one column each, so each can skip row groups
            // by its bloom filter (an OR across columns cannot).
            "SELECT * FROM (SELECT {cols} FROM events WHERE agent_instance = {i} \
               UNION ALL SELECT {cols} FROM events WHERE delegation_root = {i} \
               AND agent_instance <> {i}) \
             ORDER BY event_time, event_id LIMIT {}",
            limit.clamp(1, 100_000),
            i = lit(instance),
            cols = "event_id, CAST(event_time AS VARCHAR) AS event_time, agent_instance, \
               delegation_depth, source, operation, tool, tool_arguments, outcome, actor, \
               actor_name, resources",
        );
        rows(self, &sql).await
    }

    /// The findings resting on any of an instance's events (its own and
    /// its sub-agents'), with the event ids they cite.
    pub async fn instance_findings(&self, instance: &str) -> Result<Vec<Value>, StoreError> {
        let sql = format!(
            "SELECT finding_id, summary, severity, status, evidence FROM {TRIAGED} \
             WHERE agent_instance = {i} OR delegation_root = {i} ORDER BY event_time",
            i = lit(instance),
        );
        rows(self, &sql).await
    }

    /// What puts finding row `f` in context: when its instance was first
    /// seen, how many instances its agent has, and how many of them have
    /// a finding of the same detector or rule (peer prevalence; counted at
    /// most [`PEER_COUNTS_MAX_AGE`] ago).
    pub async fn finding_context(&self, f: &Value) -> Result<Value, StoreError> {
        let mut out = serde_json::Map::new();
        if let Some(i) = f["agent_instance"].as_str() {
            let seen = rows(
                self,
                &format!(
                    "SELECT CAST(min(first_seen) AS VARCHAR) AS first_seen FROM agents \
                     WHERE agent_instance = {}",
                    lit(i)
                ),
            )
            .await?;
            if let Some(t) = seen.first().and_then(|r| r["first_seen"].as_str()) {
                out.insert("instance_first_seen".into(), Value::from(t));
            }
        }
        let detector = f["rule_id"].as_str().or_else(|| f["detector"].as_str());
        if let (Some(a), Some(d)) = (f["agent_id"].as_str(), detector) {
            let counts = self
                .own_json_recent(
                    &format!(
                        "SELECT (SELECT count(DISTINCT agent_instance) FROM agents \
                       WHERE agent_id = {a}) AS agent_instances, \
                     (SELECT count(DISTINCT agent_instance) FROM findings \
                       WHERE agent_id = {a} AND coalesce(rule_id, detector) = {d}) \
                       AS instances_with_finding",
                        a = lit(a),
                        d = lit(d),
                    ),
                    PEER_COUNTS_MAX_AGE,
                )
                .await?;
            if let Some(c) = counts.first() {
                out.insert("agent_instances".into(), c["agent_instances"].clone());
                out.insert(
                    "instances_with_finding".into(),
                    c["instances_with_finding"].clone(),
                );
            }
        }
        Ok(Value::Object(out))
    }

    /// Per detector or rule: findings by triage status, mean seconds to
    /// acknowledge and to close, false-positive ratio (the
    /// `triage_by_detector` view), most findings first.
    pub async fn triage_summary(&self, limit: usize) -> Result<Vec<Value>, StoreError> {
        let sql = format!(
            "SELECT * FROM triage_by_detector WHERE detector IS NOT NULL \
             ORDER BY findings DESC, detector LIMIT {}",
            limit.clamp(1, 1000)
        );
        rows(self, &sql).await
    }

    /// One stored event: where it was read and the record as received.
    pub async fn stored_event(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let sql = format!(
            "SELECT event_id, CAST(event_time AS VARCHAR) AS event_time, source, operation, \
               agent_instance, origin, raw FROM events WHERE event_id = {} LIMIT 1",
            lit(id)
        );
        Ok(rows(self, &sql).await?.into_iter().next())
    }
}

//! Reads the triage page needs beyond the API's: a finding's related
//! findings, an instance's timeline with its sub-agents, and one stored
//! event with its raw record.

use serde_json::Value;

use crate::exclusions::lit;
use crate::finding_query::TRIAGED;
use crate::views::rows;
use crate::{SqlEngine, StoreError};

/// How far apart in time two findings of one human count as related.
const RELATED_WINDOW_NS: i64 = 3_600_000_000_000;

impl SqlEngine {
    /// Findings sharing the instance or the credential of finding `id`, or
    /// its human within an hour of it; nearest relation first, then newest.
    pub async fn related_findings(&self, id: &str, limit: usize) -> Result<Vec<Value>, StoreError> {
        let sql = format!(
            "SELECT r.finding_id, r.summary, r.severity, r.risk_score, \
               coalesce(r.rule_id, r.detector) AS detector, r.status, \
               CAST(r.event_time AS VARCHAR) AS event_time, \
               CASE WHEN r.agent_instance = f.agent_instance THEN 'same instance' \
                    WHEN r.credential_id = f.credential_id THEN 'same credential' \
                    ELSE 'same human within 1 h' END AS relation \
             FROM (SELECT * FROM {TRIAGED}) r, \
                  (SELECT agent_instance, credential_id, initiator, \
                          CAST(event_time AS BIGINT) AS t FROM findings \
                   WHERE finding_id = {id} LIMIT 1) f \
             WHERE r.finding_id <> {id} AND (r.agent_instance = f.agent_instance \
               OR r.credential_id = f.credential_id \
               OR (r.initiator = f.initiator \
                   AND abs(CAST(r.event_time AS BIGINT) - f.t) <= {RELATED_WINDOW_NS})) \
             ORDER BY relation, event_time DESC LIMIT {}",
            limit.clamp(1, 1000),
            id = lit(id),
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

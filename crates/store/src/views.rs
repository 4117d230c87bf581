//! Typed reads the command line and the HTTP API share: findings with
//! filters and keyset pagination, one finding with its evidence, risk
//! leaderboards and one instance's delegation graph. Every value a caller
//! passes reaches SQL as an escaped literal or a checked number.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::exclusions::lit;
use crate::finding_query::{FINDING_COLUMNS, TRIAGED};
use crate::{OutputFormat, SqlEngine, StoreError};

pub(crate) async fn rows(engine: &SqlEngine, sql: &str) -> Result<Vec<Value>, StoreError> {
    engine.own_json(sql).await
}

/// Rows as JSON objects.
fn json_rows(batches: &[arrow::record_batch::RecordBatch]) -> Result<Vec<Value>, StoreError> {
    let text = crate::sql::render(batches, OutputFormat::Json)?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&text).map_err(|e| StoreError::Encode(e.to_string()))
}

impl SqlEngine {
    /// Run a user's read-only statement; rows as JSON objects.
    pub async fn query_json(&self, sql: &str) -> Result<Vec<Value>, StoreError> {
        json_rows(&self.query(sql).await?)
    }

    /// Run one of delegraph's own statements (see [`SqlEngine::query_own`]);
    /// rows as JSON objects, from the cache while the store is unchanged.
    pub async fn own_json(&self, sql: &str) -> Result<Vec<Value>, StoreError> {
        if let Some(rows) = self.runtime.cache.get(self.version, sql) {
            return Ok(rows);
        }
        let rows = json_rows(&self.query_own(sql).await?)?;
        self.runtime.cache.put(self.version, sql, &rows);
        Ok(rows)
    }

    /// [`own_json`](Self::own_json) for an answer that may be up to
    /// `max_age` older than the store: aggregates over a whole table that
    /// one epoch barely moves (how many of an agent's instances have a
    /// kind of finding), which would otherwise be counted again after
    /// every write.
    pub async fn own_json_recent(
        &self,
        sql: &str,
        max_age: std::time::Duration,
    ) -> Result<Vec<Value>, StoreError> {
        if let Some(rows) = self.runtime.cache.get_recent(sql, max_age) {
            return Ok(rows);
        }
        let rows = self.own_json(sql).await?;
        self.runtime.cache.put_recent(sql, &rows);
        Ok(rows)
    }

    /// One finding with its evidence events (time, source, operation,
    /// actor, origin), or `None`.
    pub async fn finding(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let Some(mut f) = self.finding_row(id).await? else {
            return Ok(None);
        };
        let events = self.evidence_events(&f).await?;
        if let Some(o) = f.as_object_mut() {
            o.insert("evidence_events".into(), Value::Array(events));
        }
        Ok(Some(f))
    }

    /// One finding's row with its triage state, without its evidence.
    pub async fn finding_row(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM {TRIAGED} WHERE finding_id = {} LIMIT 1",
            lit(id)
        );
        let mut f = rows(self, &sql).await?.into_iter().next();
        if let Some(o) = f.as_mut().and_then(Value::as_object_mut) {
            o.remove("event_time_ns");
        }
        Ok(f)
    }

    /// The evidence events of finding row `f` (time, source, operation,
    /// actor, tool and arguments, prompt, origin), oldest first.
    pub async fn evidence_events(&self, f: &Value) -> Result<Vec<Value>, StoreError> {
        let ids: Vec<String> = f["evidence"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).map(lit).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // From the events, or once their day has expired from the evidence
        // kept for findings (both, for the moment of the copy: one each).
        let columns = "event_id, CAST(event_time AS VARCHAR) AS event_time, source, \
             operation, actor, actor_name, actor_kind, credential_id, tool, \
             tool_arguments, resources, input_messages, origin";
        let list = ids.join(", ");
        let mut found = rows(
            self,
            &format!(
                "SELECT {columns} FROM events WHERE event_id IN ({list}) \
                 UNION ALL SELECT {columns} FROM {} WHERE event_id IN ({list}) \
                 ORDER BY event_time, event_id",
                crate::EVIDENCE_TABLE
            ),
        )
        .await?;
        found.dedup_by(|a, b| a["event_id"] == b["event_id"]);
        Ok(found)
    }

    /// The riskiest instances (`by_human` false) or humans, with their
    /// accumulated risk and findings.
    pub async fn risk_leaderboard(
        &self,
        by_human: bool,
        limit: usize,
    ) -> Result<Vec<Value>, StoreError> {
        let limit = limit.clamp(1, 1000);
        let sql = if by_human {
            format!(
                "SELECT initiator AS human, max(human_risk) AS risk, count(*) AS findings, \
                 count(DISTINCT agent_instance) AS instances FROM findings \
                 WHERE initiator IS NOT NULL GROUP BY initiator \
                 ORDER BY risk DESC, findings DESC, human LIMIT {limit}"
            )
        } else {
            format!(
                "SELECT agent_instance AS instance, agent_id, initiator AS human, \
                 max(instance_risk) AS risk, count(*) AS findings, \
                 array_agg(DISTINCT detector) AS detectors FROM findings \
                 WHERE agent_instance IS NOT NULL GROUP BY agent_instance, agent_id, initiator \
                 ORDER BY risk DESC, findings DESC, instance LIMIT {limit}"
            )
        };
        rows(self, &sql).await
    }

    /// One instance's delegation graph, or `None` when it has no edges.
    pub async fn instance_graph(
        &self,
        instance: &str,
    ) -> Result<Option<InstanceGraph>, StoreError> {
        let sql = format!(
            "SELECT from_kind, from_node, edge, to_kind, to_node, events, \
             CAST(first_seen AS VARCHAR) AS first_seen, CAST(last_seen AS VARCHAR) AS last_seen \
             FROM edges WHERE agent_instance = {} ORDER BY from_node, to_node, edge",
            lit(instance)
        );
        let edges = rows(self, &sql).await?;
        if edges.is_empty() {
            return Ok(None);
        }
        let mut nodes = BTreeMap::new();
        for r in &edges {
            for side in ["from", "to"] {
                let id = r[format!("{side}_node")].as_str().unwrap_or_default();
                let kind = r[format!("{side}_kind")].as_str().unwrap_or_default();
                nodes.insert(id.to_owned(), kind.to_owned());
            }
        }
        Ok(Some(InstanceGraph {
            instance: instance.to_owned(),
            nodes,
            edges,
        }))
    }
}

/// An instance's delegation graph as stored in `edges`.
#[derive(Debug, Clone)]
pub struct InstanceGraph {
    /// The instance.
    pub instance: String,
    /// Node id → kind (`human`, `instance`, `credential`, `tool`, `resource`,
    /// `approval`, `decision`).
    pub nodes: BTreeMap<String, String>,
    /// Edge rows (from/to node and kind, edge, events, first/last seen).
    pub edges: Vec<Value>,
}

fn quote(s: &str) -> String {
    // Escapes made visible first, so DOT shows them as text (`\u{1b}`).
    let s = delegraph_model::printable(s);
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn shape(kind: &str) -> &'static str {
    match kind {
        "human" => "shape=ellipse, style=filled, fillcolor=\"#f6d8ae\"",
        "instance" => "shape=box, style=\"rounded,filled\", fillcolor=\"#cde3f7\"",
        "credential" => "shape=note, style=filled, fillcolor=\"#f2f2a6\"",
        "tool" => "shape=component, style=filled, fillcolor=\"#d5ecd4\"",
        "approval" => "shape=hexagon, style=filled, fillcolor=\"#e3d5f2\"",
        "decision" => "shape=diamond, style=filled, fillcolor=\"#f7d4d4\"",
        _ => "shape=cylinder, style=filled, fillcolor=\"#eeeeee\"",
    }
}

impl InstanceGraph {
    /// `{"instance", "nodes": [{"id", "kind"}], "edges": [...]}`.
    pub fn to_json(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|(id, kind)| json!({"id": id, "kind": kind}))
            .collect();
        json!({"instance": self.instance, "nodes": nodes, "edges": self.edges})
    }

    /// Graphviz DOT, nodes shaped by kind, edges labelled with their count.
    pub fn to_dot(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "digraph delegation {{");
        let _ = writeln!(
            s,
            "  rankdir=LR;\n  label={};\n  node [fontname=\"Helvetica\"];",
            quote(&self.instance)
        );
        for (id, kind) in &self.nodes {
            let _ = writeln!(s, "  {} [{}];", quote(id), shape(kind));
        }
        for r in &self.edges {
            let label = format!(
                "{} ×{}",
                r["edge"].as_str().unwrap_or_default(),
                r["events"]
            );
            let _ = writeln!(
                s,
                "  {} -> {} [label={}];",
                quote(r["from_node"].as_str().unwrap_or_default()),
                quote(r["to_node"].as_str().unwrap_or_default()),
                quote(&label)
            );
        }
        let _ = writeln!(s, "}}");
        s
    }
}

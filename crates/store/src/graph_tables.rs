//! The `agents` table (one row per instance) and the `edges` table (the
//! delegation graph edges of every instance, with times).

use std::sync::LazyLock;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::StoreError;
use crate::columns::{Col, Columns, batch, schema};

/// One agent instance, as the `agents` table stores it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentRow {
    /// Instance id.
    pub instance: String,
    /// Root instance of its delegation chain.
    pub root_instance: String,
    /// Logical agent.
    pub agent_id: Option<String>,
    /// The human it ran for.
    pub initiator: Option<String>,
    /// Depth below the root.
    pub depth: u32,
    /// First event time (ns).
    pub first_seen: i64,
    /// Last event time (ns).
    pub last_seen: i64,
    /// When its task ended (ns), if known.
    pub task_end: Option<i64>,
    /// Events attributed to it.
    pub events: u64,
    /// Credentials it used or obtained.
    pub credentials: Vec<String>,
    /// Tools it called.
    pub tools: Vec<String>,
    /// Resources it touched.
    pub resources: Vec<String>,
    /// Instances it delegated to (sub-agents, chained sessions).
    pub sub_agents: Vec<String>,
    /// Task envelopes it ran under.
    pub envelopes: Vec<String>,
    /// Policy decisions it asked for or ran under.
    pub decisions: Vec<String>,
}

/// One edge of an instance's delegation graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeRow {
    /// The instance whose graph holds the edge.
    pub instance: String,
    /// Source node kind (`human`, `instance`, `credential`, `tool`, `resource`).
    pub from_kind: String,
    /// Source node id.
    pub from: String,
    /// Target node kind.
    pub to_kind: String,
    /// Target node id.
    pub to: String,
    /// Edge kind (`delegates`, `uses`, `issued`, `calls`, `touches`).
    pub kind: String,
    /// First event time (ns).
    pub first_seen: i64,
    /// Last event time (ns).
    pub last_seen: i64,
    /// Events that showed it.
    pub count: u64,
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

static AGENT_COLUMNS: &Columns<AgentRow> = &[
    ("agent_instance", false, Col::Text(|r| Some(&r.instance))),
    (
        "delegation_root",
        false,
        Col::Text(|r| Some(&r.root_instance)),
    ),
    ("agent_id", true, Col::Text(|r| r.agent_id.as_deref())),
    ("initiator", true, Col::Text(|r| r.initiator.as_deref())),
    ("delegation_depth", false, Col::UInt(|r| Some(r.depth))),
    ("first_seen", false, Col::Time(|r| Some(r.first_seen))),
    ("last_seen", false, Col::Time(|r| Some(r.last_seen))),
    ("task_end", true, Col::Time(|r| r.task_end)),
    ("events", false, Col::Count(|r| r.events)),
    ("credentials", true, Col::List(|r| strs(&r.credentials))),
    ("tools", true, Col::List(|r| strs(&r.tools))),
    ("resources", true, Col::List(|r| strs(&r.resources))),
    ("sub_agents", true, Col::List(|r| strs(&r.sub_agents))),
    ("envelopes", true, Col::List(|r| strs(&r.envelopes))),
    ("decisions", true, Col::List(|r| strs(&r.decisions))),
    // The partition: the UTC day the instance was last seen.
    ("day", false, Col::Day(|r| r.last_seen)),
];

static EDGE_COLUMNS: &Columns<EdgeRow> = &[
    ("agent_instance", false, Col::Text(|r| Some(&r.instance))),
    ("from_kind", false, Col::Text(|r| Some(&r.from_kind))),
    ("from_node", false, Col::Text(|r| Some(&r.from))),
    ("to_kind", false, Col::Text(|r| Some(&r.to_kind))),
    ("to_node", false, Col::Text(|r| Some(&r.to))),
    ("edge", false, Col::Text(|r| Some(&r.kind))),
    ("first_seen", false, Col::Time(|r| Some(r.first_seen))),
    ("last_seen", false, Col::Time(|r| Some(r.last_seen))),
    ("events", false, Col::Count(|r| r.count)),
    // The partition: the UTC day the edge was last seen.
    ("day", false, Col::Day(|r| r.last_seen)),
];

static AGENT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(AGENT_COLUMNS));
static EDGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(EDGE_COLUMNS));

/// The Arrow schema of the `agents` table.
pub fn agents_schema() -> SchemaRef {
    AGENT_SCHEMA.clone()
}

/// The Arrow schema of the `edges` table.
pub fn edges_schema() -> SchemaRef {
    EDGE_SCHEMA.clone()
}

/// One record batch of the `agents` table.
pub fn agents_batch(rows: &[AgentRow]) -> Result<RecordBatch, StoreError> {
    batch(AGENT_COLUMNS, agents_schema(), rows)
}

/// One record batch of the `edges` table.
pub fn edges_batch(rows: &[EdgeRow]) -> Result<RecordBatch, StoreError> {
    batch(EDGE_COLUMNS, edges_schema(), rows)
}

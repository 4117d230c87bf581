//! The `findings` table: one row per finding, detector or rule.

use std::sync::LazyLock;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use delegraph_model::Finding;

use crate::StoreError;
use crate::columns::{Col, Columns, batch, schema};

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

static FINDING_COLUMNS: &Columns<Finding> = &[
    ("finding_id", false, Col::Text(|f| Some(&f.finding_id))),
    (
        "detector",
        true,
        Col::Text(|f| {
            Some(&f.detector)
                .filter(|d| !d.is_empty())
                .map(String::as_str)
        }),
    ),
    ("rule_id", true, Col::Text(|f| f.rule_id.as_deref())),
    ("severity", false, Col::Text(|f| Some(f.severity.as_str()))),
    (
        "risk_score",
        false,
        Col::UInt(|f| Some(u32::from(f.risk_score))),
    ),
    ("event_time", false, Col::Time(|f| Some(f.event_time))),
    ("detected_at", false, Col::Time(|f| Some(f.detected_at))),
    ("agent_id", true, Col::Text(|f| f.agent_id.as_deref())),
    (
        "agent_instance",
        true,
        Col::Text(|f| f.agent_instance.as_deref()),
    ),
    (
        "delegation_root",
        true,
        Col::Text(|f| f.root_instance.as_deref()),
    ),
    ("initiator", true, Col::Text(|f| f.initiator.as_deref())),
    (
        "credential_id",
        true,
        Col::Text(|f| f.credential_id.as_deref()),
    ),
    ("tool", true, Col::Text(|f| f.tool.as_deref())),
    ("resource", true, Col::Text(|f| f.resource.as_deref())),
    ("summary", false, Col::Text(|f| Some(&f.summary))),
    ("expected", false, Col::Text(|f| Some(&f.expected))),
    ("observed", false, Col::Text(|f| Some(&f.observed))),
    ("p_value", true, Col::Float(|f| f.p_value)),
    (
        "baseline_instances",
        false,
        Col::Count(|f| f.baseline_instances),
    ),
    (
        "evidence",
        false,
        Col::List(|f| f.evidence.iter().map(|e| e.event_id.as_str()).collect()),
    ),
    (
        "evidence_origins",
        false,
        Col::List(|f| f.evidence.iter().map(|e| e.origin.as_str()).collect()),
    ),
    ("chain", false, Col::List(|f| strs(&f.chain))),
    ("tags", false, Col::List(|f| strs(&f.tags))),
    (
        "instance_risk",
        false,
        Col::UInt(|f| Some(u32::from(f.instance_risk))),
    ),
    (
        "human_risk",
        false,
        Col::UInt(|f| Some(u32::from(f.human_risk))),
    ),
    // The partition: the UTC day of detection.
    ("day", false, Col::Day(|f| f.detected_at)),
];

static FINDING_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(FINDING_COLUMNS));

/// The Arrow schema of the `findings` table.
pub fn findings_schema() -> SchemaRef {
    FINDING_SCHEMA.clone()
}

/// One record batch of the `findings` table.
pub fn findings_batch(rows: &[Finding]) -> Result<RecordBatch, StoreError> {
    batch(FINDING_COLUMNS, findings_schema(), rows)
}

//! The `events` table: one row per normalized event.

use std::sync::LazyLock;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use delegraph_model::{Approval, Attribution, CredentialKind, NormEvent, Origin};

use crate::StoreError;
use crate::columns::{Col, Columns, batch, schema};

/// A field of the event's attribution, when it has one.
fn attributed(e: &NormEvent, f: impl Fn(&Attribution) -> Option<&str>) -> Option<&str> {
    e.attribution.as_deref().and_then(f)
}

fn approval(e: &NormEvent, f: impl Fn(&Approval) -> Option<&str>) -> Option<&str> {
    e.approval().and_then(f)
}

/// Name, nullability and reader of every column, in table order.
static COLUMNS: &Columns<NormEvent> = &[
    ("event_id", false, Col::Text(|e| Some(&e.event_id))),
    ("source", false, Col::Text(|e| Some(e.source.as_str()))),
    (
        "source_event_type",
        false,
        Col::Text(|e| Some(&e.source_event_type)),
    ),
    (
        "event_time",
        false,
        Col::Time(|e| Some(e.event_time.nanos())),
    ),
    (
        "end_time",
        true,
        Col::Time(|e| e.end_time.map(|t| t.nanos())),
    ),
    ("tenant", true, Col::Text(|e| e.tenant.as_deref())),
    ("category", false, Col::Text(|e| Some(e.category.as_str()))),
    ("operation", false, Col::Text(|e| Some(&e.operation))),
    ("actor", false, Col::Text(|e| Some(&e.actor.id))),
    ("actor_name", true, Col::Text(|e| e.actor.name.as_deref())),
    (
        "actor_type",
        true,
        Col::Text(|e| e.actor.vendor_type.as_deref()),
    ),
    (
        "actor_kind",
        false,
        Col::Text(|e| Some(e.actor_kind.as_str())),
    ),
    (
        "actor_kind_basis",
        false,
        Col::Text(|e| Some(&e.actor_kind_basis)),
    ),
    (
        "credential_id",
        true,
        Col::Text(|e| e.credential_used.as_ref().map(|c| c.id.as_str())),
    ),
    (
        "credential_kind",
        true,
        Col::Text(|e| {
            e.credential_used
                .as_ref()
                .map(|c| CredentialKind::as_str(c.kind))
        }),
    ),
    (
        "credential_issued_at",
        true,
        Col::Time(|e| {
            e.credential_used
                .as_ref()
                .and_then(|c| c.issued_at)
                .map(|t| t.nanos())
        }),
    ),
    (
        "issued_credential_id",
        true,
        Col::Text(|e| e.credential_issued.as_ref().map(|c| c.id.as_str())),
    ),
    (
        "issued_credential_expires_at",
        true,
        Col::Time(|e| {
            e.credential_issued
                .as_ref()
                .and_then(|c| c.expires_at)
                .map(|t| t.nanos())
        }),
    ),
    (
        "agent_id",
        true,
        Col::Text(|e| attributed(e, |a| a.agent_id.as_deref()).or(e.agent.agent_id.as_deref())),
    ),
    ("agent_name", true, Col::Text(|e| e.agent.name.as_deref())),
    (
        "agent_instance",
        true,
        Col::Text(|e| attributed(e, |a| a.instance.as_deref()).or(e.agent.instance_id.as_deref())),
    ),
    (
        "delegation_root",
        true,
        Col::Text(|e| attributed(e, |a| a.root_instance.as_deref())),
    ),
    (
        "delegation_depth",
        true,
        Col::UInt(|e| e.attribution.as_ref().map(|a| a.depth)),
    ),
    (
        "initiator",
        true,
        Col::Text(|e| attributed(e, |a| a.initiator.as_deref()).or(e.on_behalf_of.as_deref())),
    ),
    (
        "chain",
        true,
        Col::List(|e| match &e.attribution {
            Some(a) if !a.chain.is_empty() => a.chain.iter().map(String::as_str).collect(),
            _ => e.delegation_chain.iter().map(String::as_str).collect(),
        }),
    ),
    (
        "attribution",
        true,
        Col::Text(|e| e.attribution.as_ref().map(|a| a.basis.as_str())),
    ),
    (
        "decision_id",
        true,
        Col::Text(|e| {
            approval(e, |a| a.decision_id.as_deref())
                .or(e.decision.as_ref().map(|d| d.decision_id.as_str()))
        }),
    ),
    (
        "decision_basis",
        true,
        Col::Text(|e| approval(e, |a| a.decision_basis.as_deref())),
    ),
    (
        "decision_allowed",
        true,
        Col::MaybeBool(|e| match &e.decision {
            Some(d) => d.allowed,
            None => e.approval().and_then(|a| a.decision_allowed),
        }),
    ),
    (
        "policy",
        true,
        Col::Text(|e| e.decision.as_ref().map(|d| d.policy.as_str())),
    ),
    (
        "envelope_id",
        true,
        Col::Text(|e| {
            approval(e, |a| a.envelope_id.as_deref())
                .or(e.envelope.as_ref().map(|x| x.envelope.envelope_id.as_str()))
        }),
    ),
    (
        "envelope_change",
        true,
        Col::Text(|e| e.envelope.as_ref().map(|x| x.change.as_str())),
    ),
    (
        "task_id",
        true,
        Col::Text(|e| {
            approval(e, |a| a.task_id.as_deref()).or(e
                .envelope
                .as_ref()
                .and_then(|x| x.envelope.task_id.as_deref()))
        }),
    ),
    (
        "approved_by",
        true,
        Col::Text(|e| {
            approval(e, |a| a.approved_by.as_deref()).or(e
                .envelope
                .as_ref()
                .and_then(|x| x.envelope.approved_by.as_deref()))
        }),
    ),
    (
        "inside_envelope",
        true,
        Col::MaybeBool(|e| e.approval().and_then(|a| a.inside_envelope())),
    ),
    (
        "envelope_breaches",
        true,
        Col::List(|e| {
            e.approval()
                .map(|a| a.breaches.iter().map(|b| b.detail.as_str()).collect())
                .unwrap_or_default()
        }),
    ),
    (
        "on_behalf_of",
        true,
        Col::Text(|e| e.on_behalf_of.as_deref()),
    ),
    (
        "tool",
        true,
        Col::Text(|e| e.tool.as_ref().map(|t| t.name.as_str())),
    ),
    (
        "tool_call_id",
        true,
        Col::Text(|e| e.tool.as_ref().and_then(|t| t.call_id.as_deref())),
    ),
    (
        "tool_arguments",
        true,
        Col::Text(|e| e.tool.as_ref().and_then(|t| t.arguments.as_deref())),
    ),
    (
        "tool_result",
        true,
        Col::Text(|e| e.tool.as_ref().and_then(|t| t.result.as_deref())),
    ),
    (
        "resources",
        true,
        Col::List(|e| e.resources.iter().map(|r| r.id.as_str()).collect()),
    ),
    (
        "secrets",
        true,
        Col::List(|e| {
            e.resources
                .iter()
                .filter(|r| r.is_secret)
                .map(|r| r.id.as_str())
                .collect()
        }),
    ),
    ("reads_secret", false, Col::Bool(NormEvent::reads_secret)),
    (
        "scopes",
        true,
        Col::List(|e| e.scopes.iter().map(String::as_str).collect()),
    ),
    ("trace_id", true, Col::Text(|e| e.trace.trace_id.as_deref())),
    ("span_id", true, Col::Text(|e| e.trace.span_id.as_deref())),
    (
        "parent_span_id",
        true,
        Col::Text(|e| e.trace.parent_span_id.as_deref()),
    ),
    (
        "conversation_id",
        true,
        Col::Text(|e| e.trace.conversation_id.as_deref()),
    ),
    (
        "session_id",
        true,
        Col::Text(|e| e.trace.session_id.as_deref()),
    ),
    (
        "correlation_id",
        true,
        Col::Text(|e| e.trace.correlation_id.as_deref()),
    ),
    ("outcome", false, Col::Text(|e| Some(e.outcome.as_str()))),
    (
        "outcome_reason",
        true,
        Col::Text(|e| e.outcome_reason.as_deref()),
    ),
    ("src_ip", true, Col::Text(|e| e.src_ip.as_deref())),
    ("user_agent", true, Col::Text(|e| e.user_agent.as_deref())),
    (
        "input_messages",
        true,
        Col::Text(|e| e.input_messages.as_deref()),
    ),
    (
        "links",
        true,
        Col::Written(|e, text| {
            if e.links.is_empty() {
                return false;
            }
            if serde_json::to_writer(&mut *text, &e.links).is_err() {
                // Never for these types; an empty value rather than a half.
                text.clear();
            }
            true
        }),
    ),
    (
        "origin",
        false,
        Col::Written(|e, text| write_origin(&e.origin, text)),
    ),
    ("raw", false, Col::Text(|e| Some(&e.raw))),
    // The partition: the UTC day of the event.
    ("day", false, Col::Day(|e| e.event_time.nanos())),
];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(COLUMNS));

/// The Arrow schema of the `events` table (SPEC §7 columns and more).
pub fn events_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// An origin column's text, written from the origin's pieces (no
/// formatting machinery per row); never null.
pub(crate) fn write_origin(origin: &Origin, text: &mut Vec<u8>) -> bool {
    origin.each_piece(|piece| text.extend_from_slice(piece.as_bytes()));
    true
}

/// Convert events into one record batch of the `events` schema.
pub fn events_batch(events: &[NormEvent]) -> Result<RecordBatch, StoreError> {
    batch(COLUMNS, events_schema(), events)
}

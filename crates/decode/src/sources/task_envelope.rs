//! Task envelope events in delegraph's documented shape
//! (`docs/formats/task-envelope.md`): what a human approved an agent
//! instance to do, and when that approval changed or ended.
//!
//! No vendor standard records approvals, so platforms map theirs to this
//! one small shape; an adapter is a field map.

use delegraph_model::{
    ActorKind, Category, EnvelopeChange, EnvelopeEvent, Origin, Outcome, Principal, Source,
    TaskEnvelope, Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::{Str, TextList};
use crate::probe::{Key, Probe};
use crate::{DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, time_field};

/// The `schema` value that marks a task envelope line.
pub const ENVELOPE_SCHEMA: &str = "delegraph.task_envelope.v1";

/// Reads task envelope lines.
pub struct TaskEnvelopes;

/// The task envelope event format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::TaskEnvelope,
    decoder: || Box::new(TaskEnvelopes),
    link: crate::links::approval_record,
    sigma: &[SigmaLogSource {
        products: &["ai_agent"],
        services: &["task_envelope", "approvals"],
        product_alone: false,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    schema: Option<String>,
    envelope_id: String,
    event: EnvelopeChange,
    timestamp: String,
    #[serde(default)]
    task_id: Str,
    #[serde(default)]
    purpose: Str,
    #[serde(default)]
    agent_id: Str,
    agent_instance: String,
    #[serde(default)]
    approved_by: Option<Approver>,
    #[serde(default)]
    approval: Option<How>,
    #[serde(default)]
    tools: TextList,
    #[serde(default)]
    operations: TextList,
    #[serde(default)]
    resources: TextList,
    #[serde(default)]
    scopes: TextList,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    max_calls: Option<u64>,
    #[serde(default)]
    tenant: Str,
}

#[derive(Deserialize, Default)]
struct Approver {
    #[serde(default)]
    sub: Str,
    #[serde(default)]
    email: Str,
}

#[derive(Deserialize, Default)]
struct How {
    #[serde(default)]
    method: Str,
    #[serde(default)]
    reference: Str,
    #[serde(default)]
    decision_id: Str,
}

fn optional_time(field: &'static str, v: Option<&str>) -> Result<Option<Timestamp>, DecodeError> {
    v.map(|s| time_field(Source::TaskEnvelope, field, Timestamp::parse_rfc3339(s)))
        .transpose()
}

impl Decoder for TaskEnvelopes {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.str(Key::Schema).as_deref() == Some(ENVELOPE_SCHEMA)
            || p.has_all(&[Key::EnvelopeId, Key::Event])
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let l: Line = parse(Source::TaskEnvelope, text)?;
        if let Some(s) = l.schema.as_deref()
            && s != ENVELOPE_SCHEMA
        {
            return Err(DecodeError::WrongType {
                format: Source::TaskEnvelope,
                detail: format!("schema `{s}`, expected `{ENVELOPE_SCHEMA}`"),
            }
            .into());
        }
        let time = time_field(
            Source::TaskEnvelope,
            "timestamp",
            Timestamp::parse_rfc3339(&l.timestamp),
        )?;
        let approver = l
            .approved_by
            .as_ref()
            .and_then(|a| a.email.owned().or_else(|| a.sub.owned()));
        if l.event == EnvelopeChange::Approved && approver.is_none() {
            return Err(DecodeError::MissingField {
                format: Source::TaskEnvelope,
                detail: "an `approved` event needs `approved_by` (sub or email)".into(),
            }
            .into());
        }
        let how = l.approval.unwrap_or_default();
        let envelope = TaskEnvelope {
            envelope_id: l.envelope_id.clone(),
            task_id: l.task_id.owned(),
            purpose: l.purpose.owned(),
            approved_by: approver.clone(),
            approval_method: how.method.owned(),
            approval_reference: how.reference.owned(),
            decision_id: how.decision_id.owned(),
            tools: l.tools.0,
            operations: l.operations.0,
            resources: l.resources.0,
            scopes: l.scopes.0,
            not_before: optional_time("not_before", l.not_before.as_deref())?,
            expires_at: optional_time("expires_at", l.expires_at.as_deref())?,
            max_calls: l.max_calls,
        };
        let change = l.event;
        let mut e = base_event(
            Source::TaskEnvelope,
            format!("{}:{}:{}", l.envelope_id, change.as_str(), l.timestamp),
            change.as_str().to_owned(),
            time,
            origin,
            out.raw_text(text),
        );
        e.category = Category::Approval;
        e.operation = format!("task_envelope:{}", change.as_str());
        e.tenant = l.tenant.owned();
        e.outcome = Outcome::Success;
        e.agent.agent_id = l.agent_id.owned();
        e.agent.instance_id = Some(l.agent_instance.clone());
        // The approver acts (approves, revokes); the platform records it.
        match &approver {
            Some(h) => {
                e.actor = Principal {
                    id: h.clone(),
                    name: None,
                    vendor_type: Some("approver".into()),
                };
                e.actor_kind = ActorKind::Human;
                e.actor_kind_basis = "task envelope approver".into();
                e.acts_for(l.agent_instance.clone(), h.clone());
            }
            None => {
                e.actor = Principal {
                    id: format!("task-platform:{}", l.agent_instance),
                    name: None,
                    vendor_type: Some("task_platform".into()),
                };
                e.actor_kind = ActorKind::Service;
                e.actor_kind_basis = "task envelope event without an approver".into();
            }
        }
        e.scopes = envelope.scopes.clone();
        e.trace.decision_id = envelope.decision_id.clone();
        e.envelope = Some(Box::new(EnvelopeEvent { change, envelope }));
        out.event(e)?;
        Ok(())
    }
}

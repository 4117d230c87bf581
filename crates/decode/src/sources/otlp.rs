//! OpenTelemetry spans as OTLP/JSON (`{"resourceSpans": [...]}`), the shape
//! the Collector's Kafka and file exporters write with `otlp_json`.
//!
//! GenAI semantic conventions: `invoke_agent` spans are agent turns (a root
//! one is an agent instance), `execute_tool` spans are tool calls, and nested
//! `invoke_agent` spans are sub-agents. The conventions' protocol spans are
//! read too: MCP client and server spans (`mcp.method.name`, joined by
//! trace context and `mcp.session.id`), A2A spans (`a2a.method.name`, a hop
//! to another agent, across processes by trace context and across traces by
//! `a2a.task.id`), guardrail spans (`run_guardrail`, `apply_guardrail`) as
//! policy decisions, and memory operations as tool-like actions (see
//! [`operations`]). Older attribute generations keep working
//! (`gen_ai.system` before 1.37, `mcp.tool.name` and `mcp.request.id` of the
//! MCP drafts). Every span becomes one event whose `raw` is the span's own
//! JSON.

mod links;
mod operations;
mod wire;

use delegraph_model::{Link, NormEvent, Origin, Outcome, RawText, Source, Timestamp};

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::Scalar;
use crate::probe::{Key, Probe};
use crate::{DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, push_resource};
use operations::Call;
use wire::{Attrs, KeyValue, Request, Span, SpanKind};

/// Reads OTLP/JSON trace export requests.
pub struct Otlp;

/// The OTLP/JSON span format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Otlp,
    decoder: || Box::new(Otlp),
    link: links::link,
    sigma: &[SigmaLogSource {
        products: &["ai_agent"],
        services: &["tool_calls", "otlp", "opentelemetry"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        aliases: &[],
    },
};

impl Decoder for Otlp {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has(Key::ResourceSpans)
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let req: Request = parse(Source::Otlp, text)?;
        let mut index = 0u32;
        for rs in &req.resource_spans {
            let resource = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            for ss in &rs.scope_spans {
                for raw in &ss.spans {
                    let o = match origin {
                        Origin::File { index: None, .. } | Origin::Kafka { index: None, .. } => {
                            origin.with_index(index)
                        }
                        _ => origin.clone(),
                    };
                    index += 1;
                    // A bad span is rejected alone; its siblings still count.
                    match span(raw.get(), out.raw_text(raw.get()), resource, &o) {
                        Ok(e) => out.event(e)?,
                        Err(err) => out.reject(err, o, raw.get())?,
                    }
                }
            }
        }
        Ok(())
    }
}

fn nanos(field: &'static str, v: &Scalar) -> Result<Timestamp, DecodeError> {
    v.as_i64()
        .map(Timestamp)
        .ok_or_else(|| DecodeError::BadTimestamp {
            format: Source::Otlp,
            field,
            error: delegraph_model::TimestampError {
                value: v.to_string(),
                expected: "nanoseconds since the epoch (number or string)",
            },
        })
}

/// Hex ids are case-insensitive in OTLP/JSON; W3C trace context uses lower case.
fn hex_id(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// The event of one span (`text`, kept as `raw`).
fn span(
    text: &str,
    raw: RawText,
    resource: &[KeyValue],
    origin: &Origin,
) -> Result<NormEvent, DecodeError> {
    let s: Span = parse(Source::Otlp, text)?;
    let kind = SpanKind::of(s.kind.as_ref()).ok_or_else(|| DecodeError::WrongType {
        format: Source::Otlp,
        detail: format!(
            "kind: {} is not an OTLP span kind",
            s.kind.as_ref().map(ToString::to_string).unwrap_or_default()
        ),
    })?;
    let start = nanos("startTimeUnixNano", &s.start_time_unix_nano)?;
    let end = s
        .end_time_unix_nano
        .as_ref()
        .map(|v| nanos("endTimeUnixNano", v))
        .transpose()?;
    let a = Attrs {
        span: &s.attributes,
        resource,
    };
    let trace_id = hex_id(&s.trace_id);
    let span_id = hex_id(&s.span_id);
    let parent = s.parent_span_id.get().map(hex_id);
    let (call, mcp_server) = Call::of(&a, kind);
    let mut e = base_event(
        Source::Otlp,
        format!("{trace_id}:{span_id}"),
        call.event_type().unwrap_or_else(|| s.name.clone()),
        start,
        origin,
        raw,
    );
    e.end_time = end;
    e.tenant = a.first(&["tenant.id", "cloud.account.id"]);
    e.trace.trace_id = Some(trace_id.clone());
    e.trace.span_id = Some(span_id.clone());
    e.trace.parent_span_id = parent.clone();
    e.trace.conversation_id = a.get("gen_ai.conversation.id");
    let mcp_session = a.get("mcp.session.id");
    e.trace.session_id = mcp_session.clone().or_else(|| a.get("session.id"));
    e.links.push(Link::SpanParent {
        trace_id,
        span_id,
        parent_span_id: parent,
    });
    if let Some(c) = &e.trace.conversation_id {
        e.links.push(Link::SameTask {
            kind: "conversation".into(),
            key: c.clone(),
        });
    }
    if let Some(m) = mcp_session {
        e.links.push(Link::SameTask {
            kind: crate::links::MCP_SESSION.into(),
            key: m,
        });
    }
    operations::apply(&call, mcp_server, &s, &a, &mut e);
    for key in ["mcp.resource.uri", "url.full", "db.namespace"] {
        if let Some(v) = a.get(key) {
            push_resource(&mut e.resources, v, Some(key), false);
        }
    }

    let code = s
        .status
        .as_ref()
        .and_then(|st| st.code.as_ref())
        .and_then(Scalar::as_i64);
    let error_type = a.get("error.type");
    let (outcome, reason) = match (code, error_type) {
        (Some(2), et) => (
            Outcome::Failure,
            s.status.as_ref().and_then(|st| st.message.owned()).or(et),
        ),
        (_, Some(et)) => (Outcome::Failure, Some(et)),
        _ => (Outcome::Success, None),
    };
    // A guardrail's verdict already decided the outcome.
    if e.outcome == Outcome::Unknown {
        (e.outcome, e.outcome_reason) = (outcome, reason);
    }
    e.src_ip = a.get("client.address");
    e.trace.decision_id = a.get("delegraph.decision_id");
    Ok(e)
}

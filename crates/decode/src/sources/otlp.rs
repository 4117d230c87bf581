//! OpenTelemetry spans as OTLP/JSON (`{"resourceSpans": [...]}`), the shape
//! the Collector's Kafka and file exporters write with `otlp_json`.
//!
//! GenAI semantic conventions: `invoke_agent` spans are agent turns (a root
//! one is an agent instance), `execute_tool` spans are tool calls, and nested
//! `invoke_agent` spans are sub-agents. Both attribute generations are read
//! (`gen_ai.system` before 1.37, `gen_ai.provider.name` after). Every span
//! becomes one event whose `raw` is the span's own JSON.

use delegraph_model::{
    ActorKind, Bind, Category, Link, LinkHints, NormEvent, Origin, Outcome, Principal, Resolve,
    Source, Timestamp, ToolRef,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::{Scalar, Str};
use crate::probe::{Key, Probe};
use crate::{DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, push_resource};

/// Reads OTLP/JSON trace export requests.
pub struct Otlp;

/// The OTLP/JSON span format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Otlp,
    decoder: || Box::new(Otlp),
    link,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    #[serde(borrow)]
    resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default, borrow, alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize, Default)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    spans: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Str,
    name: String,
    start_time_unix_nano: Scalar,
    #[serde(default)]
    end_time_unix_nano: Option<Scalar>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    code: Option<Scalar>,
    #[serde(default)]
    message: Str,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: AnyValue,
}

/// OTLP `AnyValue`: exactly one of the fields is set.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    #[serde(default)]
    string_value: Option<String>,
    #[serde(default)]
    int_value: Option<Scalar>,
    #[serde(default)]
    double_value: Option<f64>,
    #[serde(default)]
    bool_value: Option<bool>,
    #[serde(default)]
    array_value: Option<ArrayValue>,
    #[serde(default)]
    kvlist_value: Option<KvList>,
}

#[derive(Deserialize, Default)]
struct ArrayValue {
    #[serde(default)]
    values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
struct KvList {
    #[serde(default)]
    values: Vec<KeyValue>,
}

impl AnyValue {
    /// The value as text; arrays and maps as JSON.
    fn text(&self) -> Option<String> {
        if let Some(s) = &self.string_value {
            return Some(s.clone());
        }
        if let Some(i) = &self.int_value {
            return i.as_i64().map(|i| i.to_string());
        }
        if let Some(d) = self.double_value {
            return Some(d.to_string());
        }
        if let Some(b) = self.bool_value {
            return Some(b.to_string());
        }
        if self.array_value.is_some() || self.kvlist_value.is_some() {
            return Some(self.to_json().to_string());
        }
        None
    }

    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        if let Some(a) = &self.array_value {
            return Value::Array(a.values.iter().map(AnyValue::to_json).collect());
        }
        if let Some(m) = &self.kvlist_value {
            return Value::Object(
                m.values
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            );
        }
        if let Some(i) = self.int_value.as_ref().and_then(Scalar::as_i64) {
            return Value::from(i);
        }
        if let Some(b) = self.bool_value {
            return Value::from(b);
        }
        if let Some(d) = self.double_value {
            return Value::from(d);
        }
        self.string_value
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null)
    }
}

/// Attribute lookup over a span's and its resource's attributes.
struct Attrs<'a> {
    span: &'a [KeyValue],
    resource: &'a [KeyValue],
}

impl Attrs<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.span
            .iter()
            .chain(self.resource)
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.text())
            .filter(|s| !s.is_empty())
    }
    fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.get(k))
    }
}

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
                    match span(raw.get(), resource, &o) {
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

fn span(text: &str, resource: &[KeyValue], origin: &Origin) -> Result<NormEvent, DecodeError> {
    let s: Span = parse(Source::Otlp, text)?;
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
    let op = a.get("gen_ai.operation.name");
    let mut e = base_event(
        Source::Otlp,
        format!("{trace_id}:{span_id}"),
        op.clone().unwrap_or_else(|| s.name.clone()),
        start,
        origin,
        text,
    );
    e.end_time = end;
    e.tenant = a.first(&["tenant.id", "cloud.account.id"]);
    e.trace.trace_id = Some(trace_id.clone());
    e.trace.span_id = Some(span_id.clone());
    e.trace.parent_span_id = parent.clone();
    e.trace.conversation_id = a.get("gen_ai.conversation.id");
    e.trace.session_id = a.first(&["mcp.session.id", "session.id"]);
    e.links.push(Link::SpanParent {
        trace_id: trace_id.clone(),
        span_id: span_id.clone(),
        parent_span_id: parent.clone(),
    });
    if let Some(c) = &e.trace.conversation_id {
        e.links.push(Link::SameTask {
            kind: "conversation".into(),
            key: c.clone(),
        });
    }

    let agent_id = a.first(&["gen_ai.agent.id", "gen_ai.main_agent.id"]);
    let agent_name = a.first(&["gen_ai.agent.name", "gen_ai.main_agent.name"]);
    let service = a.get("service.name");
    e.agent.agent_id = agent_id.clone().or_else(|| agent_name.clone());
    e.agent.name = agent_name.clone();
    e.agent.instance_id = a.first(&["gen_ai.agent.instance.id", "ai_agent.instance_uid"]);
    e.agent.parent = a.get("gen_ai.caller.name");
    let is_agentic = e.agent.agent_id.is_some()
        || op
            .as_deref()
            .is_some_and(|o| o == "invoke_agent" || o == "execute_tool");
    e.actor = Principal {
        id: e
            .agent
            .agent_id
            .clone()
            .or_else(|| service.clone())
            .unwrap_or_else(|| "otel:unknown".into()),
        name: agent_name.or(service),
        vendor_type: Some("otel_span".into()),
    };
    (e.actor_kind, e.actor_kind_basis) = if is_agentic {
        let basis = match &op {
            Some(o) => format!("gen_ai.operation.name={o}"),
            None => "gen_ai.agent.* attributes".into(),
        };
        (ActorKind::Agent, basis)
    } else {
        (ActorKind::Workload, "non-GenAI span".into())
    };
    if let Some(user) = a.first(&["user.id", "enduser.id"]) {
        e.acts_for(e.actor.id.clone(), user);
    }

    match op.as_deref() {
        Some("invoke_agent") => {
            e.category = Category::AgentInvoke;
            let name = e
                .agent
                .name
                .clone()
                .or_else(|| e.agent.agent_id.clone())
                .unwrap_or_default();
            e.operation = format!("invoke_agent:{name}");
            if let Some(caller) = &e.agent.parent {
                e.links.push(Link::InvokesAgent {
                    caller: caller.clone(),
                    callee: name,
                });
            }
            if let (Some(end), None) = (end, &parent) {
                e.links.push(Link::TaskEnded {
                    instance: format!("{trace_id}:{span_id}"),
                    at: end,
                });
            }
            e.input_messages = a.get("gen_ai.input.messages");
        }
        Some("execute_tool") => {
            e.category = Category::ToolCall;
            let name = a
                .get("gen_ai.tool.name")
                .unwrap_or_else(|| s.name.trim_start_matches("execute_tool ").to_owned());
            e.operation = format!("execute_tool:{name}");
            if let Some(target) = a.get("gen_ai.transfer.target.name") {
                e.links.push(Link::InvokesAgent {
                    caller: e.actor.id.clone(),
                    callee: target,
                });
            }
            e.tool = Some(ToolRef {
                name,
                call_id: a.get("gen_ai.tool.call.id"),
                server: a.first(&["mcp.server.name", "server.address"]),
                arguments: a.get("gen_ai.tool.call.arguments"),
                result: a.get("gen_ai.tool.call.result"),
            });
        }
        Some(other) => {
            e.category = Category::ApiCall;
            e.operation = format!(
                "{other}:{}",
                a.first(&["gen_ai.request.model", "gen_ai.tool.name"])
                    .unwrap_or_default()
            );
            e.input_messages = a.get("gen_ai.input.messages");
        }
        None => {
            e.category = Category::ApiCall;
            e.operation = s.name.clone();
        }
    }
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
    (e.outcome, e.outcome_reason) = match (code, error_type) {
        (Some(2), et) => (
            Outcome::Failure,
            s.status.as_ref().and_then(|st| st.message.owned()).or(et),
        ),
        (_, Some(et)) => (Outcome::Failure, Some(et)),
        _ => (Outcome::Success, None),
    };
    e.src_ip = a.get("client.address");
    e.trace.decision_id = a.get("delegraph.decision_id");
    Ok(e)
}

/// A span's place in its trace as link hints: a root `invoke_agent` span
/// starts an instance (and opens its conversation), a nested one is a
/// sub-agent unless it is the callee's side of a call to the same agent,
/// and every other span belongs to its parent's instance, else its
/// conversation's. Each span's instance is kept for its children.
fn link(e: &mut NormEvent) {
    let mut h = LinkHints {
        agent_runtime: true,
        ..LinkHints::default()
    };
    let (Some(trace), Some(span)) = (e.trace.trace_id.as_deref(), e.trace.span_id.as_deref())
    else {
        h.resolve.push(Resolve::Unresolved {
            reason: "span without trace or span id".into(),
        });
        e.hints = h;
        return;
    };
    let key = format!("{trace}:{span}");
    let parent = e
        .trace
        .parent_span_id
        .as_deref()
        .map(|p| format!("{trace}:{p}"));
    let conversation = e
        .trace
        .conversation_id
        .as_deref()
        .map(|c| format!("conversation:{c}"));
    if e.category == Category::AgentInvoke {
        let id = e.agent.instance_id.clone().unwrap_or_else(|| key.clone());
        if let Some(parent) = parent {
            h.resolve.push(Resolve::SameAgentSpan {
                parent: parent.clone(),
                basis: "parent invoke_agent span of the same agent".into(),
            });
            h.resolve.push(Resolve::SubAgent {
                parent,
                instance: id.clone(),
            });
        }
        h.resolve.push(Resolve::Instance {
            id,
            human: e.on_behalf_of.clone(),
            aliases: conversation.into_iter().collect(),
            basis: "root invoke_agent span".into(),
        });
    } else {
        if let Some(parent) = parent {
            h.resolve.push(Resolve::ChildSpan {
                parent,
                basis: "parent span".into(),
            });
        }
        if let Some(key) = conversation {
            h.resolve.push(Resolve::Session {
                key,
                basis: "conversation id".into(),
            });
        }
        h.resolve.push(Resolve::Unresolved {
            reason: match &e.trace.parent_span_id {
                Some(p) => format!("parent span {p} not seen within the allowed lateness").into(),
                None => "root span that is not an agent invocation".into(),
            },
        });
    }
    h.bind.push(Bind::Span { span: key });
    crate::links::bind_credentials(e, &mut h);
    e.hints = h;
}

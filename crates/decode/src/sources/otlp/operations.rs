//! What a span records, by the GenAI semantic conventions: an agent turn, a
//! tool call, an MCP request, an A2A hop to another agent, a guardrail
//! decision, a memory operation or a model call, and what each means for
//! the event (its actor, category, operation, tool and edge hints).
//!
//! Protocol spans come in client and server pairs. An MCP server span is
//! the server's record of the call (its actor is the server, a workload):
//! under the client's span it is the server's account of a call the
//! client's span already records (so one call is one tool call), and
//! alone (an untraced client) it is the call's only record;
//! an A2A span of either side names the agent called (from its Agent Card),
//! so both sides run as that agent and the hop's sub-agent instance starts
//! at the first of them seen.

use delegraph_model::{
    ActorKind, Category, Link, NormEvent, Outcome, PolicyDecision, PolicyEngine, Principal, ToolRef,
};

use super::wire::{Attrs, Span, SpanKind};
use crate::push_resource;

/// The `SameTask` kind of an A2A task.
pub(super) const A2A_TASK: &str = "a2a_task";

/// The instance id of the agent working an A2A task, so the task's spans
/// in any trace find it.
fn a2a_instance(task: &str) -> String {
    format!("a2a:{task}")
}

/// What one span records.
pub(super) enum Call {
    /// `invoke_agent`: an agent's turn.
    Agent,
    /// `execute_tool`, or an MCP `tools/call`.
    Tool { mcp: Option<String> },
    /// Any other MCP request or notification (`mcp.method.name`).
    Mcp { method: String },
    /// An A2A request (`a2a.method.name`), client or server side.
    A2a { method: String, client: bool },
    /// `run_guardrail` (verdicts) or `apply_guardrail` (provider results).
    Guardrail { op: String },
    /// A memory operation (`search_memory`, `create_memory_store`, …).
    Memory { op: String },
    /// Another GenAI operation (`chat`, `embeddings`, `plan`, …).
    Other { op: String },
    /// A span without GenAI or protocol attributes.
    Plain,
}

impl Call {
    /// The call a span records, by its attributes; `kind` tells an MCP or
    /// A2A client from its server.
    pub(super) fn of(a: &Attrs<'_>, kind: SpanKind) -> (Call, bool) {
        let server = kind == SpanKind::Server;
        if let Some(method) = a.get("a2a.method.name") {
            return (
                Call::A2a {
                    method,
                    client: !server,
                },
                false,
            );
        }
        let mcp = a.get("mcp.method.name");
        let call = match (a.get("gen_ai.operation.name"), mcp) {
            (Some(op), _) if op == "invoke_agent" => Call::Agent,
            (Some(op), mcp) if op == "execute_tool" => Call::Tool { mcp },
            (Some(op), _) if op == "run_guardrail" || op == "apply_guardrail" => {
                Call::Guardrail { op }
            }
            (Some(op), _) if op.ends_with("_memory") || op.ends_with("_memory_store") => {
                Call::Memory { op }
            }
            (_, Some(method)) if method == "tools/call" => Call::Tool { mcp: Some(method) },
            (_, Some(method)) => Call::Mcp { method },
            (Some(op), None) => Call::Other { op },
            (None, None) => Call::Plain,
        };
        let mcp_server = server && matches!(&call, Call::Tool { mcp: Some(_) } | Call::Mcp { .. });
        (call, mcp_server)
    }

    /// The vendor event type: the operation or protocol method, else the
    /// span name.
    pub(super) fn event_type(&self) -> Option<String> {
        match self {
            Call::Agent => Some("invoke_agent".into()),
            Call::Tool { mcp: None } => Some("execute_tool".into()),
            Call::Tool { mcp: Some(m) } | Call::Mcp { method: m } => Some(m.clone()),
            Call::A2a { method, .. } => Some(method.clone()),
            Call::Guardrail { op } | Call::Memory { op } | Call::Other { op } => Some(op.clone()),
            Call::Plain => None,
        }
    }
}

/// The span's actor, category, operation, tool and edges, by what it
/// records. `mcp_server` marks the server side of an MCP request.
pub(super) fn apply(call: &Call, mcp_server: bool, s: &Span, a: &Attrs<'_>, e: &mut NormEvent) {
    actor(call, mcp_server, a, e);
    match call {
        Call::Agent => agent_turn(a, e),
        // The client traced this call (its span is the parent): the
        // server's span is its account of the same call, counted once.
        Call::Tool { mcp: Some(method) } if mcp_server && s.parent_span_id.get().is_some() => {
            e.category = Category::ApiCall;
            e.operation = format!("mcp_server:{method}:{}", tool_name(s, a));
        }
        Call::Tool { .. } => tool_call(s, a, mcp_server, e),
        Call::Mcp { method } => {
            e.category = Category::ApiCall;
            e.operation = match a.first(&["gen_ai.prompt.name", "mcp.prompt.name"]) {
                Some(target) => format!("mcp:{method}:{target}"),
                None => format!("mcp:{method}"),
            };
        }
        Call::A2a { method, client } => a2a(method, *client, a, e),
        Call::Guardrail { op } => guardrail(op, a, e),
        Call::Memory { op } => memory(op, a, e),
        Call::Other { op } => {
            e.category = Category::ApiCall;
            e.operation = format!(
                "{op}:{}",
                a.first(&["gen_ai.request.model", "gen_ai.tool.name"])
                    .unwrap_or_default()
            );
            e.input_messages = a.get("gen_ai.input.messages");
        }
        Call::Plain => {
            e.category = Category::ApiCall;
            e.operation = s.name.clone();
        }
    }
}

/// Who acted: the agent the span names, else the service; an MCP server
/// span's actor is the server.
fn actor(call: &Call, mcp_server: bool, a: &Attrs<'_>, e: &mut NormEvent) {
    let service = a.get("service.name");
    if mcp_server {
        e.actor = Principal {
            id: service.unwrap_or_else(|| "otel:unknown".into()),
            name: None,
            vendor_type: Some("otel_span".into()),
        };
        (e.actor_kind, e.actor_kind_basis) = (ActorKind::Workload, "MCP server span".into());
        return;
    }
    let agent_id = a.first(&["gen_ai.agent.id", "gen_ai.main_agent.id"]);
    let agent_name = a.first(&["gen_ai.agent.name", "gen_ai.main_agent.name"]);
    e.agent.agent_id = agent_id.or_else(|| agent_name.clone());
    e.agent.name = agent_name.clone();
    e.agent.instance_id = a.first(&["gen_ai.agent.instance.id", "ai_agent.instance_uid"]);
    e.agent.parent = a.get("gen_ai.caller.name");
    let agentic = match call {
        Call::Agent
        | Call::Tool { .. }
        | Call::Mcp { .. }
        | Call::A2a { .. }
        | Call::Memory { .. } => true,
        Call::Guardrail { .. } | Call::Other { .. } | Call::Plain => e.agent.agent_id.is_some(),
    };
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
    (e.actor_kind, e.actor_kind_basis) = if agentic {
        let basis = match call.event_type() {
            Some(t) if matches!(call, Call::A2a { .. }) => format!("a2a.method.name={t}"),
            Some(t) if matches!(call, Call::Mcp { .. }) => format!("mcp.method.name={t}"),
            Some(t) => format!("gen_ai.operation.name={t}"),
            None => "gen_ai.agent.* attributes".into(),
        };
        (ActorKind::Agent, basis)
    } else {
        (ActorKind::Workload, "non-GenAI span".into())
    };
    if let Some(user) = a.first(&["user.id", "enduser.id"]) {
        e.acts_for(e.actor.id.clone(), user);
    }
}

/// An agent's turn; a root one ends its task when the span ends.
fn agent_turn(a: &Attrs<'_>, e: &mut NormEvent) {
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
    if let (Some(end), None, Some(trace), Some(span)) = (
        e.end_time,
        &e.trace.parent_span_id,
        &e.trace.trace_id,
        &e.trace.span_id,
    ) {
        e.links.push(Link::TaskEnded {
            instance: format!("{trace}:{span}"),
            at: end,
        });
    }
    e.input_messages = a.get("gen_ai.input.messages");
}

/// A tool call: a GenAI `execute_tool` span or an MCP `tools/call`, of
/// either side (the server side names the server it ran on).
fn tool_call(s: &Span, a: &Attrs<'_>, mcp_server: bool, e: &mut NormEvent) {
    e.category = Category::ToolCall;
    let name = tool_name(s, a);
    e.operation = format!("execute_tool:{name}");
    if let Some(target) = a.get("gen_ai.transfer.target.name") {
        e.links.push(Link::InvokesAgent {
            caller: e.actor.id.clone(),
            callee: target,
        });
    }
    let server = if mcp_server {
        Some(e.actor.id.clone())
    } else {
        a.first(&["mcp.server.name", "server.address"])
    };
    e.tool = Some(ToolRef {
        name,
        call_id: a.first(&[
            "gen_ai.tool.call.id",
            "jsonrpc.request.id",
            "mcp.request.id",
        ]),
        server,
        arguments: a.get("gen_ai.tool.call.arguments"),
        result: a.get("gen_ai.tool.call.result"),
    });
}

/// The tool a span calls: the conventions' attribute, the MCP drafts', or
/// the span name's target.
fn tool_name(s: &Span, a: &Attrs<'_>) -> String {
    a.first(&["gen_ai.tool.name", "mcp.tool.name"])
        .unwrap_or_else(|| {
            s.name
                .trim_start_matches("execute_tool ")
                .trim_start_matches("tools/call ")
                .to_owned()
        })
}

/// An A2A request: a hop to the agent its Agent Card names. The client
/// side records the delegation; either side runs as the called agent, in
/// the instance working the task; a finished task ends it.
fn a2a(method: &str, client: bool, a: &Attrs<'_>, e: &mut NormEvent) {
    e.category = Category::AgentInvoke;
    let callee = e
        .agent
        .name
        .clone()
        .or_else(|| e.agent.agent_id.clone())
        .or_else(|| a.get("server.address"))
        .unwrap_or_default();
    e.operation = format!("a2a:{method}:{callee}");
    e.input_messages = a.get("gen_ai.input.messages");
    if client {
        let caller = e
            .agent
            .parent
            .clone()
            .or_else(|| a.get("service.name"))
            .unwrap_or_default();
        e.links.push(Link::InvokesAgent { caller, callee });
    }
    let Some(task) = a.get("a2a.task.id") else {
        return;
    };
    let instance = a2a_instance(&task);
    e.agent.instance_id.get_or_insert_with(|| instance.clone());
    e.links.push(Link::SameTask {
        kind: A2A_TASK.into(),
        key: task,
    });
    let finished = a.get("a2a.task.state").is_some_and(|st| {
        matches!(
            st.as_str(),
            "TASK_STATE_COMPLETED"
                | "TASK_STATE_FAILED"
                | "TASK_STATE_CANCELED"
                | "TASK_STATE_REJECTED"
        )
    });
    if let (true, false, Some(end)) = (finished, client, e.end_time) {
        e.links.push(Link::TaskEnded { instance, at: end });
    }
}

/// A guardrail's decision in the chain, like a policy engine's: a
/// `run_guardrail` verdict of `deny` (or action `block`) refuses; an
/// `apply_guardrail` result is the provider's own value, kept as stated
/// with no allow/deny read into it, as the conventions require.
fn guardrail(op: &str, a: &Attrs<'_>, e: &mut NormEvent) {
    e.category = Category::PolicyDecision;
    let component = a.first(&["gen_ai.guardrail.component.name", "gen_ai.guardrail.name"]);
    let policy = a.first(&[
        "gen_ai.guardrail.security.policy.id",
        "gen_ai.guardrail.policy.id",
        "gen_ai.security.policy.id",
    ]);
    let verdict = a.first(&[
        "gen_ai.guardrail.verdict.type",
        "gen_ai.security.verdict.type",
    ]);
    let action = a.first(&[
        "gen_ai.guardrail.action.type",
        "gen_ai.security.action.type",
    ]);
    let result = a.get("gen_ai.guardrail.result.value");
    let allowed = match (verdict.as_deref(), action.as_deref()) {
        (Some("deny"), _) | (_, Some("block")) => Some(false),
        (Some("escalate"), _) | (None, None) => None,
        _ => Some(true),
    };
    let risk = a.first(&[
        "gen_ai.guardrail.security.risk.category",
        "gen_ai.guardrail.risk.category",
        "gen_ai.security.risk.category",
    ]);
    let stated = verdict
        .as_deref()
        .or(action.as_deref())
        .or(result.as_deref())
        .unwrap_or("no verdict");
    let reason = match &risk {
        Some(r) => format!("guardrail {stated}: {r}"),
        None => format!("guardrail {stated}"),
    };
    (e.outcome, e.outcome_reason) = match allowed {
        Some(false) => (Outcome::Denied, Some(reason)),
        _ => (Outcome::Success, Some(reason)),
    };
    let target = a.first(&[
        "gen_ai.guardrail.target.subtype",
        "gen_ai.guardrail.target.type",
    ]);
    let name = component
        .clone()
        .or_else(|| policy.clone())
        .unwrap_or_default();
    e.operation = format!("{op}:{name}");
    e.decision = Some(Box::new(PolicyDecision {
        decision_id: a
            .first(&[
                "gen_ai.guardrail.security.external_finding_id",
                "gen_ai.security.external_finding_id",
            ])
            .unwrap_or_else(|| e.event_id.clone()),
        engine: PolicyEngine::Guardrail,
        policy: policy.or(component).unwrap_or_default(),
        allowed,
        action: a.get("gen_ai.tool.name").or(target),
        policies: a
            .first(&[
                "gen_ai.guardrail.security.policy.rule.id",
                "gen_ai.guardrail.policy.rule.id",
            ])
            .into_iter()
            .collect(),
    }));
}

/// A memory operation as a tool-like action on its store.
fn memory(op: &str, a: &Attrs<'_>, e: &mut NormEvent) {
    e.category = Category::ToolCall;
    let store = a.get("gen_ai.memory.store.id");
    e.operation = match &store {
        Some(s) => format!("{op}:{s}"),
        None => op.to_owned(),
    };
    if let Some(s) = &store {
        push_resource(&mut e.resources, s.clone(), Some("memory_store"), false);
    }
    if let Some(r) = a.get("gen_ai.memory.record.id") {
        push_resource(&mut e.resources, r, Some("memory_record"), false);
    }
    e.tool = Some(ToolRef {
        name: op.to_owned(),
        call_id: a.get("gen_ai.memory.record.id"),
        server: store.or_else(|| a.get("server.address")),
        arguments: a.get("gen_ai.memory.query.text"),
        result: a.get("gen_ai.memory.records"),
    });
}

//! Approvals in the simulated organisation. The agent platform of some
//! agent kinds asks the human to approve each task (a task envelope naming
//! the tools, AWS operations, resources and scopes it may use, valid for two
//! hours) and asks the policy engine (OPA) before every tool call; the
//! coding agent's platform records neither. Tool calls carry the decision
//! id (MCP `_meta.decision_id` always, OTel spans for about half of them:
//! the rest are bound by time).

use serde_json::json;

use crate::agents::{AgentKind, SUB_AGENT_TOOLS};
use crate::emit::{self, Ask};
use crate::world::{ACCOUNT, Ids, Logs, Task};

/// Agent kinds whose platform records approvals.
pub const GOVERNED: [&str; 3] = ["support-agent", "data-analyst", "ops-agent"];

/// How long an approval lasts.
const VALIDITY: f64 = 7200.0;

/// How one task is approved.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// The task's envelope, when it runs under one.
    pub envelope: Option<String>,
    /// Whether tool calls ask the policy engine first.
    pub decisions: bool,
}

/// Resources a kind's tasks are approved for.
pub fn resource_patterns(agent: &str) -> Vec<String> {
    vec![
        format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{agent}/*"),
        format!("{agent}-data"),
        format!("arn:aws:s3:::{agent}-data/*"),
    ]
}

/// The approval step before a task starts: the platform asks OPA whether
/// the human may start it, then records the envelope the human approved.
pub fn approve(logs: &mut Logs, ids: &mut Ids, task: &mut Task<'_>, kind: &AgentKind, t0: f64) {
    let admit = ids.uuid();
    let ask = Ask {
        agent: kind.name,
        instance: &task.id,
        human: task.human,
        tool: "start_task",
        resource: None,
        token: &task.mcp_token,
    };
    logs.opa.push((
        t0 - 3.0,
        emit::opa_decision(t0 - 3.0, &admit, &ask, true, ""),
    ));
    logs.truth(
        admit.clone(),
        "opa",
        Some(&task.id),
        Some(task.human),
        task,
        false,
    );

    let env = format!("env-{}", ids.hex(8));
    let mut tools: Vec<&str> = kind.tools.iter().map(|t| t.name).collect();
    tools.extend(SUB_AGENT_TOOLS);
    let operations: Vec<String> = kind
        .tools
        .iter()
        .filter_map(|t| t.aws)
        .map(|(s, n)| format!("{s}:{n}"))
        .collect();
    let body = json!({
        "task_id": format!("task-{}", task.session.get(..8).unwrap_or_default()),
        "purpose": format!("Handle ticket T-4521 for {}", task.human),
        "agent_id": kind.name,
        "approved_by": {"email": task.human},
        "approval": {"method": "chat_confirmation", "reference": format!("msg-{}", ids.hex(4)), "decision_id": admit},
        "tools": tools,
        "operations": operations,
        "resources": resource_patterns(kind.name),
        "scopes": ["tools:call"],
        "not_before": emit::iso_ms(t0 - 2.0),
        "expires_at": emit::iso_ms(t0 + VALIDITY),
        "max_calls": 60
    });
    push_envelope(logs, task, t0 - 2.0, &env, "approved", body);
    task.gate = Gate {
        envelope: Some(env),
        decisions: true,
    };
}

/// The envelope ends: `completed` when the task finished, `revoked` when
/// someone withdrew it.
pub fn end(logs: &mut Logs, task: &Task<'_>, t: f64, change: &str) {
    if let Some(env) = task.gate.envelope.clone() {
        push_envelope(logs, task, t, &env, change, json!({}));
    }
}

fn push_envelope(
    logs: &mut Logs,
    task: &Task<'_>,
    t: f64,
    env: &str,
    change: &str,
    body: serde_json::Value,
) {
    let rec = emit::envelope(t, env, change, &task.id, body);
    let id = format!("{env}:{change}:{}", emit::iso_ms(t));
    logs.envelopes.push((t, rec));
    logs.truth(
        id,
        "task_envelope",
        Some(&task.id),
        Some(task.human),
        task,
        false,
    );
}

/// The policy engine's decision on one call of `instance`, just before it;
/// its id, for the call to carry.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    logs: &mut Logs,
    ids: &mut Ids,
    task: &Task<'_>,
    instance: &str,
    t: f64,
    tool: &str,
    resource: Option<&str>,
    allowed: bool,
) -> String {
    let id = ids.uuid();
    let ask = Ask {
        agent: task.agent,
        instance,
        human: task.human,
        tool,
        resource,
        token: &task.mcp_token,
    };
    let reason = if allowed {
        ""
    } else {
        "tool not granted to this agent for this task"
    };
    logs.opa
        .push((t, emit::opa_decision(t, &id, &ask, allowed, reason)));
    logs.truth(
        id.clone(),
        "opa",
        Some(instance),
        Some(task.human),
        task,
        false,
    );
    id
}

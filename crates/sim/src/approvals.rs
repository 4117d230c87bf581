//! Approvals in the simulated organisation. The agent platform of some
//! agent kinds asks the human to approve each task (a task envelope naming
//! the tools, AWS operations, resources and scopes it may use, valid for two
//! hours) and asks the policy engine (OPA) before every tool call; the
//! coding agent's platform records neither. The data analyst's platform
//! asks Amazon Verified Permissions instead of OPA, so its decisions are
//! `IsAuthorized` data events in CloudTrail. Tool calls carry the decision
//! id (MCP `_meta.decision_id` always, OTel spans for about half of them:
//! the rest are bound by time).

use rand::Rng;
use serde_json::json;

use crate::Scenario;
use crate::agents::SUB_AGENT_TOOLS;
use crate::emit::{self, Ask, Caller};
use crate::logs::Logs;
use crate::task::Task;
use crate::world::{ACCOUNT, Sim};

/// Agent kinds whose platform records approvals.
pub const GOVERNED: [&str; 3] = ["support-agent", "data-analyst", "ops-agent"];

/// The agent kind whose platform asks Verified Permissions.
const CEDAR: &str = "data-analyst";
/// The gateway that asks Verified Permissions, as CloudTrail names it.
const GATEWAY: Caller<'static> = Caller::Session {
    arn: "arn:aws:sts::123456789012:assumed-role/agent-gateway/gw-eu-1",
    key: "ASIAGATEWAYEXAMPLE01",
    created: 1_772_323_200.0,
    source_identity: None,
};

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

/// Approvals before a governed task starts (none for an Unapproved one).
/// Now and then the agent also asks for something it may not do.
pub fn gate(sim: &mut Sim, task: &mut Task<'_>) {
    if !GOVERNED.contains(&task.agent()) || task.scenario == Some(Scenario::Unapproved) {
        return;
    }
    approve(sim, task);
    if sim.rng.random_bool(0.08) {
        let t = task.start + 1.5;
        let request = Request::new(&task.id, t, "export_customers", Some("crm:customers"));
        decide(sim, task, request.denied());
    }
}

/// The approval step before a task starts: the platform asks OPA whether
/// the human may start it, then records the envelope the human approved.
fn approve(sim: &mut Sim, task: &mut Task<'_>) {
    let (kind, t0) = (task.kind, task.start);
    let admit = decide(
        sim,
        task,
        Request::new(&task.id, t0 - 3.0, "start_task", None),
    );
    let env = format!("env-{}", sim.ids.hex(8));
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
        "approval": {"method": "chat_confirmation", "reference": format!("msg-{}", sim.ids.hex(4)), "decision_id": admit},
        "tools": tools,
        "operations": operations,
        "resources": resource_patterns(kind.name),
        "scopes": ["tools:call"],
        "not_before": emit::iso_ms(t0 - 2.0),
        "expires_at": emit::iso_ms(t0 + VALIDITY),
        "max_calls": 60
    });
    push_envelope(&mut sim.logs, task, t0 - 2.0, &env, "approved", body);
    task.gate = Gate {
        envelope: Some(env),
        decisions: true,
    };
}

/// The envelope ends, once: `completed` when the task finished, `revoked`
/// when someone withdrew it (the task may go on acting without it).
pub fn end(logs: &mut Logs, task: &mut Task<'_>, t: f64, change: &str) {
    if let Some(env) = task.gate.envelope.take() {
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
    logs.truth(id, "task_envelope", task, task.owner(&task.id));
}

/// What an instance asks the policy engine, and the answer.
pub struct Request<'r> {
    pub instance: &'r str,
    pub t: f64,
    pub tool: &'r str,
    pub resource: Option<&'r str>,
    pub allowed: bool,
}

impl<'r> Request<'r> {
    /// `instance` asks for `tool` (on `resource`) at `t`.
    pub fn new(instance: &'r str, t: f64, tool: &'r str, resource: Option<&'r str>) -> Self {
        Self {
            instance,
            t,
            tool,
            resource,
            allowed: true,
        }
    }

    /// The same request, refused.
    pub fn denied(self) -> Self {
        Self {
            allowed: false,
            ..self
        }
    }
}

/// The policy engine's decision on one request, just before the call; its
/// id, for the call to carry.
pub fn decide(sim: &mut Sim, task: &Task<'_>, req: Request<'_>) -> String {
    if task.agent() == CEDAR {
        return cedar_decision(sim, task, req);
    }
    let Request {
        instance,
        t,
        tool,
        resource,
        allowed,
    } = req;
    let id = sim.ids.uuid();
    let ask = Ask {
        agent: task.agent(),
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
    sim.logs
        .opa
        .push((t, emit::opa_decision(t, &id, &ask, allowed, reason)));
    sim.logs
        .truth(id.clone(), "opa", task, task.owner(instance));
    id
}

/// The same decision asked of Verified Permissions: an `IsAuthorized` data
/// event the gateway's role makes, delivered late like all CloudTrail.
fn cedar_decision(sim: &mut Sim, task: &Task<'_>, req: Request<'_>) -> String {
    let Request {
        instance,
        t,
        tool,
        resource,
        allowed,
    } = req;
    let event_id = sim.ids.uuid();
    let (kind, id) = match resource {
        Some(r) => ("Agents::Resource", r),
        None => ("Agents::Tool", tool),
    };
    let params = json!({
        "policyStoreId": "PSEXAMPLEagents000001",
        "principal": {"entityType": "Agents::AgentInstance", "entityId": instance},
        "action": {"actionType": "Agents::Action", "actionId": tool},
        "resource": {"entityType": kind, "entityId": id},
        "context": {"contextMap": {"agent_id": {"string": task.agent()}, "on_behalf_of": {"string": task.human}}}
    });
    let policies = if allowed {
        json!([{"policyId": "SPEXAMPLEagents000001"}])
    } else {
        json!([])
    };
    let response = json!({
        "decision": if allowed { "ALLOW" } else { "DENY" },
        "determiningPolicies": policies,
        "errors": []
    });
    let mut rec = emit::cloudtrail(
        &event_id,
        t,
        ACCOUNT,
        &GATEWAY,
        "verifiedpermissions.amazonaws.com",
        "IsAuthorized",
        params,
        response,
    );
    rec["eventCategory"] = json!("Data");
    rec["managementEvent"] = json!(false);
    rec["readOnly"] = json!(true);
    sim.logs
        .cloudtrail(&mut sim.rng, t, rec, task, task.owner(instance));
    format!("{event_id}-req")
}

//! The task's ordinary work: a walk over its agent kind's usual tool
//! transitions, then any sub-agents it delegates to.

use rand::Rng;
use serde_json::json;

use crate::Scenario;
use crate::agents::{AgentKind, KINDS, SUB_AGENT_TOOLS, Tool};
use crate::emit;
use crate::task::Task;
use crate::tools::{Call, SubAgent};
use crate::world::Sim;

impl Sim {
    /// The tool chain from `t`; returns when it ended. UnusualToolChain
    /// tasks call five tools of the next agent kind instead.
    pub(crate) fn run_tool_chain(&mut self, task: &mut Task<'_>, mut t: f64) -> f64 {
        let kind = task.kind;
        let unusual = task.scenario == Some(Scenario::UnusualToolChain);
        let steps = if unusual {
            5
        } else {
            self.rng.random_range(3..8)
        };
        let mut tool = self.rng.random_range(0..kind.tools.len());
        for _ in 0..steps {
            let x = if unusual {
                let other = kind_after(kind);
                &other.tools[self.rng.random_range(0..other.tools.len())]
            } else {
                &kind.tools[tool]
            };
            self.tool_call(task, t, with_telemetry(x, task.human));
            let next = kind.next[tool];
            tool = next[self.rng.random_range(0..next.len())];
            t += self.rng.random_range(4.0..40.0);
        }
        t
    }

    /// Sub-agents the task delegates to, one after another from `t`;
    /// returns when the last one ended. SubagentFanout tasks start many.
    pub(crate) fn run_sub_agents(&mut self, task: &mut Task<'_>, mut t: f64) -> f64 {
        let count = match (task.scenario, task.kind.sub_agent) {
            (Some(Scenario::SubagentFanout), _) => self.rng.random_range(8..13),
            (_, Some((_, p))) if self.rng.random_bool(p) => 1,
            _ => 0,
        };
        let name = task.kind.sub_agent.map(|s| s.0).unwrap_or("helper-agent");
        for _ in 0..count {
            t = self.run_sub_agent(task, name, t);
        }
        t
    }

    /// One sub-agent: a few gateway tool calls under its own
    /// `invoke_agent` span.
    fn run_sub_agent(&mut self, task: &mut Task<'_>, name: &str, start: f64) -> f64 {
        let span = self.ids.hex(8);
        let instance = format!("{name}-{}", self.ids.hex(6));
        let sub = SubAgent {
            span: &span,
            instance: &instance,
        };
        let mut t = start;
        let calls = self.rng.random_range(1..3);
        for _ in 0..calls {
            t += self.rng.random_range(2.0..10.0);
            let tool = SUB_AGENT_TOOLS[self.rng.random_range(0..SUB_AGENT_TOOLS.len())];
            let call = Call {
                sub: Some(sub),
                ..Call::of(tool, None, true)
            };
            self.tool_call(task, t, call);
        }
        t += 1.0;
        let value = emit::span(
            &task.trace,
            &span,
            Some(&task.root_span),
            &format!("invoke_agent {name}"),
            start,
            t,
            &[
                ("gen_ai.operation.name", "invoke_agent"),
                ("gen_ai.agent.name", name),
                ("gen_ai.agent.id", name),
                ("gen_ai.agent.instance.id", &instance),
                ("gen_ai.caller.name", task.agent()),
            ],
        );
        task.spans.push(value);
        let truth_id = format!("{}:{span}", task.trace);
        self.logs
            .truth(truth_id, "otlp", task, task.owner(&instance));
        t
    }
}

/// The agent kind after `kind` (wrapping): where an unusual chain's tools
/// come from.
fn kind_after(kind: &AgentKind) -> &'static AgentKind {
    let position = KINDS.iter().position(|k| k.name == kind.name).unwrap_or(0);
    &KINDS[(position + 1) % KINDS.len()]
}

/// A call of `tool`, with the arguments and result some tools' telemetry
/// carries (the data-flow detector reads them).
fn with_telemetry<'t>(tool: &'t Tool, human: &str) -> Call<'t> {
    let (arguments, result) = match tool.name {
        "get_customer" => (
            Some(json!({"customer_email": human}).to_string()),
            Some(format!(
                "customer {human}, tier gold, 3 open orders, account manager support-lead@example.com"
            )),
        ),
        "search_kb" => (
            Some(r#"{"query":"refund policy"}"#.to_owned()),
            Some(
                "KB-112 Refunds within 30 days; escalations go to support-lead@example.com"
                    .to_owned(),
            ),
        ),
        "send_email" => (
            Some(json!({"to": human, "subject": "About your ticket T-4521"}).to_string()),
            Some("sent".to_owned()),
        ),
        _ => (None, None),
    };
    Call {
        arguments,
        result,
        ..Call::tool(tool)
    }
}

//! One task (agent instance) from start to end: what it carries while it
//! runs, the order its steps happen in, and the root span that closes it.

use serde_json::{Value, json};

use crate::Scenario;
use crate::agents::AgentKind;
use crate::approvals::{self, Gate};
use crate::credentials::{Credential, Lender};
use crate::emit;
use crate::logs::Owner;
use crate::population::Plan;
use crate::world::Sim;

/// One instance being written.
pub(crate) struct Task<'a> {
    pub(crate) id: String,
    pub(crate) kind: &'static AgentKind,
    pub(crate) human: &'a str,
    pub(crate) scenario: Option<Scenario>,
    /// The task's position in the run (picks scenario variants).
    pub(crate) index: usize,
    /// When the task starts.
    pub(crate) start: f64,
    pub(crate) trace: String,
    pub(crate) root_span: String,
    /// Spans written so far, sent in one export when the task ends.
    pub(crate) spans: Vec<Value>,
    pub(crate) session: String,
    /// The last JSON-RPC id the task used at the MCP gateway.
    pub(crate) rpc: u64,
    /// The AWS credential the task's calls are made with.
    pub(crate) credential: Option<Credential<'a>>,
    /// The credential is another instance's: the IAM trail can only name
    /// its owner, so truth marks the task's AWS calls ambiguous.
    pub(crate) borrowed: bool,
    /// The token the task presents to the MCP gateway.
    pub(crate) mcp_token: String,
    /// How the task is approved.
    pub(crate) gate: Gate,
}

impl<'a> Task<'a> {
    /// The agent kind's name (`gen_ai.agent.id`).
    pub(crate) fn agent(&self) -> &'static str {
        self.kind.name
    }

    /// Truth for an event `instance` (this task's or a sub-agent's) did
    /// for the task's human.
    pub(crate) fn owner<'o>(&'o self, instance: &'o str) -> Owner<'o> {
        Owner {
            instance: Some(instance),
            human: Some(self.human),
            ambiguous: false,
        }
    }

    /// The next JSON-RPC id at the MCP gateway.
    pub(crate) fn next_rpc(&mut self) -> u64 {
        self.rpc += 1;
        self.rpc
    }
}

impl Sim {
    /// Write everything one task leaves in the logs, step by step in the
    /// order it happens (the order of random draws depends on it).
    pub(crate) fn run_task(&mut self, plan: Plan<'_>) {
        let mut task = self.open_task(&plan);
        approvals::gate(self, &mut task);
        self.record_scenario(&task, plan.lender.as_ref());
        self.issue_credential(&mut task, plan.lender);
        self.grant_okta_token(&task);
        let chain_start = task.start + 2.0;
        let t = self.run_tool_chain(&mut task, chain_start);
        let t = self.run_sub_agents(&mut task, t);
        let t = self.misbehave(&mut task, t);
        let end = self.close_task(&mut task, t);
        self.misbehave_after_end(&task, end);
    }

    /// The task's identifiers, before it does anything.
    fn open_task<'p>(&mut self, plan: &Plan<'p>) -> Task<'p> {
        let id = format!("{}-{}", plan.kind.name, self.ids.hex(6));
        let trace = self.ids.hex(16);
        let root_span = self.ids.hex(8);
        let session = self.ids.hex(16);
        Task {
            id,
            kind: plan.kind,
            human: plan.human,
            scenario: plan.scenario,
            index: plan.index,
            start: plan.start,
            trace,
            root_span,
            spans: Vec::new(),
            mcp_token: format!("tok-{session}"),
            session,
            rpc: 0,
            credential: None,
            borrowed: false,
            gate: Gate::default(),
        }
    }

    /// The `scenarios.jsonl` line of a misbehaving task.
    fn record_scenario(&mut self, task: &Task<'_>, lender: Option<&Lender>) {
        let Some(scenario) = task.scenario else {
            return;
        };
        let mut line = json!({"instance": task.id, "agent_id": task.agent(), "human": task.human, "scenario": scenario});
        if let Some(lender) = lender {
            // The task whose credentials were borrowed.
            line["lender"] = json!(lender.instance);
        }
        self.logs.scenarios.push(line);
    }

    /// The root span closes the task: its whole trace is exported and its
    /// envelope (if any) completed. Returns when it ended.
    fn close_task(&mut self, task: &mut Task<'_>, t: f64) -> f64 {
        let end = t + 2.0;
        let agent = task.agent();
        let root = emit::span(
            &task.trace,
            &task.root_span,
            None,
            &format!("invoke_agent {agent}"),
            task.start,
            end,
            &[
                ("gen_ai.operation.name", "invoke_agent"),
                ("gen_ai.provider.name", "openai"),
                ("gen_ai.agent.id", agent),
                ("gen_ai.agent.name", agent),
                ("gen_ai.agent.instance.id", &task.id),
                ("user.id", task.human),
                ("gen_ai.input.messages", &request(task.human)),
                ("gen_ai.conversation.id", &format!("conv-{}", task.session)),
            ],
        );
        let mut spans = std::mem::take(&mut task.spans);
        spans.insert(0, root);
        let truth_id = format!("{}:{}", task.trace, task.root_span);
        self.logs
            .truth(truth_id, "otlp", task, task.owner(&task.id));
        self.logs.otlp.push((end, emit::otlp_request(agent, spans)));
        approvals::end(&mut self.logs, task, end + 1.0, "completed");
        end
    }
}

/// The human's request, as `gen_ai.input.messages` carries it.
fn request(human: &str) -> String {
    json!([{"role": "user", "parts": [{"type": "text",
        "content": format!("Hi, this is {human}. Please look into ticket T-4521 and email me at {human} with the outcome.")}]}])
    .to_string()
}

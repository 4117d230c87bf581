//! One tool call and every record it leaves: the policy decision before
//! it, its `execute_tool` span, and, depending on the tool, an MCP gateway
//! line, a CloudTrail call or a GitHub event.

use serde_json::json;

use crate::agents::Tool;
use crate::approvals::{self, Request};
use crate::emit;
use crate::task::Task;
use crate::world::{ACCOUNT, Sim};

/// One tool call to write.
pub(crate) struct Call<'a> {
    pub(crate) name: &'a str,
    /// What it does in AWS (`eventSource`, `eventName`), if anything.
    pub(crate) aws: Option<(&'a str, &'a str)>,
    /// Routed through the MCP gateway rather than called in-process.
    pub(crate) via_mcp: bool,
    /// The sub-agent making the call; `None` for the task's own agent.
    pub(crate) sub: Option<SubAgent<'a>>,
    /// `gen_ai.tool.call.arguments` / `.result`, when telemetry carries them.
    pub(crate) arguments: Option<String>,
    pub(crate) result: Option<String>,
}

/// A sub-agent of the task: its `invoke_agent` span and instance id.
#[derive(Clone, Copy)]
pub(crate) struct SubAgent<'a> {
    pub(crate) span: &'a str,
    pub(crate) instance: &'a str,
}

impl<'a> Call<'a> {
    /// A call of `name`, with no telemetry payload.
    pub(crate) fn of(name: &'a str, aws: Option<(&'a str, &'a str)>, via_mcp: bool) -> Self {
        Self {
            name,
            aws,
            via_mcp,
            sub: None,
            arguments: None,
            result: None,
        }
    }

    /// A call of one of an agent kind's tools.
    pub(crate) fn tool(tool: &'a Tool) -> Self {
        Self::of(tool.name, tool.aws, tool.via_mcp)
    }

    /// The instance that truly makes the call.
    fn instance<'s>(&'s self, task: &'s Task<'_>) -> &'s str {
        self.sub.map_or(task.id.as_str(), |s| s.instance)
    }
}

/// A `tools/call` as the MCP gateway logs it.
pub(crate) struct GatewayCall<'c> {
    pub(crate) t: f64,
    pub(crate) rpc: u64,
    pub(crate) tool: &'c str,
    /// The span its `traceparent` names.
    pub(crate) span: &'c str,
    /// The credential presented to the gateway.
    pub(crate) credential: &'c str,
    pub(crate) decision: Option<&'c str>,
    /// The instance that truly made the call (a sub-agent's, for its calls).
    pub(crate) instance: &'c str,
}

impl Sim {
    /// One tool call at `t`: the decision asked just before it, its
    /// `execute_tool` span, and what it leaves at the gateway, in AWS and
    /// on GitHub.
    pub(crate) fn tool_call(&mut self, task: &mut Task<'_>, t: f64, call: Call<'_>) {
        let span = self.ids.hex(8);
        let decision = task.gate.decisions.then(|| {
            let resource = secret_of(task, call.aws);
            let request =
                Request::new(call.instance(task), t - 0.3, call.name, resource.as_deref());
            approvals::decide(self, task, request)
        });
        self.record_tool_span(task, t, &call, &span, decision.as_deref());
        if call.via_mcp {
            let rpc = task.next_rpc();
            let line = GatewayCall {
                t: t + 0.1,
                rpc,
                tool: call.name,
                span: &span,
                credential: &task.mcp_token,
                decision: decision.as_deref(),
                instance: call.instance(task),
            };
            self.gateway_line(task, &line);
        }
        if let Some((source, op)) = call.aws {
            let params = match op {
                "GetSecretValue" => json!({"secretId": secret_of(task, call.aws)}),
                "GetObject" => {
                    json!({"bucketName": format!("{}-data", task.agent()), "key": "reports/latest.json"})
                }
                _ => json!({}),
            };
            self.aws_call(task, t + 0.3, source, op, params);
        }
        if task.kind.github && call.name == "create_pull_request" && call.sub.is_none() {
            self.open_pull_request(task, t + 0.5);
        }
    }

    /// The call's `execute_tool` span, under the root span or the
    /// sub-agent's.
    fn record_tool_span(
        &mut self,
        task: &mut Task<'_>,
        t: f64,
        call: &Call<'_>,
        span: &str,
        decision: Option<&str>,
    ) {
        let parent = call.sub.map_or(task.root_span.as_str(), |s| s.span);
        let agent = if call.sub.is_some() {
            "sub"
        } else {
            task.agent()
        };
        let call_id = format!("call_{}", &span[..12]);
        let mut attrs = vec![
            ("gen_ai.operation.name", "execute_tool"),
            ("gen_ai.tool.name", call.name),
            ("gen_ai.tool.call.id", call_id.as_str()),
            ("gen_ai.agent.name", agent),
        ];
        if let Some(a) = &call.arguments {
            attrs.push(("gen_ai.tool.call.arguments", a));
        }
        if let Some(r) = &call.result {
            attrs.push(("gen_ai.tool.call.result", r));
        }
        // Half the runtimes put the decision id on the span; the rest are
        // bound by instance, tool and time.
        if let Some(d) = decision.filter(|d| d.as_bytes().first().is_some_and(|b| b % 2 == 0)) {
            attrs.push(("delegraph.decision_id", d));
        }
        let name = format!("execute_tool {}", call.name);
        let value = emit::span(&task.trace, span, Some(parent), &name, t, t + 0.8, &attrs);
        task.spans.push(value);
        let truth_id = format!("{}:{span}", task.trace);
        self.logs
            .truth(truth_id, "otlp", task, task.owner(call.instance(task)));
    }

    /// One MCP gateway line, with its truth line.
    pub(crate) fn gateway_line(&mut self, task: &Task<'_>, call: &GatewayCall<'_>) {
        let traceparent = format!("00-{}-{}-01", task.trace, call.span);
        let line = emit::mcp(
            call.t,
            &task.session,
            call.rpc,
            task.agent(),
            &task.id,
            task.human,
            call.tool,
            &traceparent,
            call.credential,
            call.decision,
        );
        let truth_id = format!("{}:{}", task.session, call.rpc);
        self.logs
            .truth(truth_id, "mcp", task, task.owner(call.instance));
        self.logs.mcp.push((call.t, line));
    }

    /// The coding agent's pull request, as GitHub's audit log records it.
    fn open_pull_request(&mut self, task: &Task<'_>, t: f64) {
        let ev = self.ids.hex(11);
        let login = task.human.split('@').next().unwrap_or(task.human);
        let token = format!("gh-{}", task.session);
        let event = emit::github(
            &ev,
            t,
            "pull_request.create",
            &task.id,
            login,
            "example-corp/payments",
            &token,
        );
        self.logs.github.push((t, event));
        self.logs.truth(ev, "github", task, task.owner(&task.id));
    }
}

/// The secret a tool reads, when it reads one.
fn secret_of(task: &Task<'_>, aws: Option<(&str, &str)>) -> Option<String> {
    matches!(aws, Some((_, "GetSecretValue"))).then(|| {
        format!(
            "arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{}/api-key",
            task.agent()
        )
    })
}

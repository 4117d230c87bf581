//! OTLP/JSON trace requests in the OpenTelemetry GenAI shape the tests
//! build from data sets and fixtures: a root `invoke_agent` span per
//! session carrying the user's request, one `execute_tool` child span per
//! tool call with its arguments and result.

use serde_json::{Value, json};

/// A string attribute.
pub fn attr(k: &str, v: &str) -> Value {
    json!({"key": k, "value": {"stringValue": v}})
}

/// A span starting at `t` (seconds) lasting two seconds.
pub fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    t: i64,
    attrs: Vec<Value>,
) -> Value {
    let mut s = json!({
        "traceId": trace, "spanId": id, "name": name, "kind": 1,
        "startTimeUnixNano": (t * 1_000_000_000).to_string(),
        "endTimeUnixNano": ((t + 2) * 1_000_000_000).to_string(),
        "attributes": attrs, "status": {"code": 1}
    });
    if let Some(p) = parent {
        s["parentSpanId"] = json!(p);
    }
    s
}

/// One tool call of a session.
pub struct Call<'a> {
    pub id: String,
    pub tool: &'a str,
    pub arguments: String,
    pub result: &'a str,
}

/// One session: which agent and instance, for whom, what was asked (the
/// `gen_ai.input.messages` value), starting when (seconds), and its calls
/// three seconds apart; the root span lasts ten minutes. `n` numbers the
/// session's trace and span ids.
pub struct Session<'a> {
    pub n: usize,
    pub agent: &'a str,
    pub instance: &'a str,
    pub user: &'a str,
    pub request: &'a str,
    pub start: i64,
    pub calls: Vec<Call<'a>>,
}

impl Session<'_> {
    /// The session as one OTLP/JSON request line.
    pub fn to_otlp_line(&self) -> String {
        let trace = format!("{:032x}", self.n + 1);
        let root = format!("{:016x}", (self.n + 1) << 16);
        let mut spans = vec![span(
            &trace,
            &root,
            None,
            &format!("invoke_agent {}", self.agent),
            self.start,
            vec![
                attr("gen_ai.operation.name", "invoke_agent"),
                attr("gen_ai.agent.id", self.agent),
                attr("gen_ai.agent.name", self.agent),
                attr("gen_ai.agent.instance.id", self.instance),
                attr("user.id", self.user),
                attr("gen_ai.input.messages", self.request),
            ],
        )];
        spans[0]["endTimeUnixNano"] = json!(((self.start + 600) * 1_000_000_000).to_string());
        let mut t = self.start + 1;
        for call in &self.calls {
            t += 3;
            spans.push(span(
                &trace,
                &format!("{:016x}", ((self.n + 1) << 16) + spans.len()),
                Some(&root),
                &format!("execute_tool {}", call.tool),
                t,
                vec![
                    attr("gen_ai.operation.name", "execute_tool"),
                    attr("gen_ai.tool.name", call.tool),
                    attr("gen_ai.tool.call.id", &call.id),
                    attr("gen_ai.tool.call.arguments", &call.arguments),
                    attr("gen_ai.tool.call.result", call.result),
                ],
            ));
        }
        let request = json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", self.agent)]},
            "scopeSpans": [{"scope": {"name": "delegraph-tests"}, "spans": spans}]
        }]});
        format!("{request}\n")
    }
}

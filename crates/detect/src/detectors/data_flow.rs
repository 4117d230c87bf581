//! `data_flow`: a sensitive tool call (send, transfer, share, grant, fetch
//! a URL) whose recipient, account, address, URL, path or amount came from
//! an earlier tool result rather than from the human's request — the
//! footprint of an indirect prompt injection.
//!
//! The fixed-list stand-in for `value_provenance`: silent for agents that
//! detector judges, low-risk (never keeping an instance out of the
//! baseline) while it is still learning the agent, and the only judge when
//! it is turned off.

use std::collections::VecDeque;

use delegraph_model::{Evidence, NormEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ctx;
use super::value_provenance::{self, Standing};
use crate::DetectorId;
use crate::detector::{Detector, EventCx, PerInstance, Signal, per_instance_state};
use crate::instance::{MAX_TEXT, clip, evidence};

/// Most tool results kept per instance.
const MAX_RESULTS: usize = 64;

/// Tool-name fragments that make a call sensitive.
const SENSITIVE_TOOLS: [&str; 20] = [
    "send",
    "email",
    "mail",
    "message",
    "transfer",
    "wire",
    "pay",
    "refund",
    "share",
    "invite",
    "grant",
    "permission",
    "post",
    "upload",
    "publish",
    "webhook",
    "http",
    "fetch_url",
    "forward",
    "notify",
];

/// Argument names whose values say where something goes.
const DESTINATION_KEYS: [&str; 22] = [
    "to",
    "recipient",
    "recipients",
    "email",
    "cc",
    "bcc",
    "account",
    "account_number",
    "iban",
    "routing_number",
    "destination",
    "address",
    "url",
    "uri",
    "endpoint",
    "webhook",
    "path",
    "phone",
    "channel",
    "target",
    "amount",
    "payee",
];

/// Shortest value worth tracing (shorter ones match by chance).
const MIN_VALUE: usize = 5;

fn is_sensitive(tool: &str) -> bool {
    let t = tool.to_ascii_lowercase();
    SENSITIVE_TOOLS.iter().any(|s| t.contains(s))
}

/// `(argument name, value)` for every destination-like leaf.
fn destinations(args: &Value, key: Option<&str>, out: &mut Vec<(String, String)>) {
    match args {
        Value::Object(m) => {
            for (k, v) in m {
                destinations(v, Some(k), out);
            }
        }
        Value::Array(a) => {
            for v in a {
                destinations(v, key, out);
            }
        }
        Value::String(s) => push(key, s.trim().to_owned(), out),
        Value::Number(n) => push(key, n.to_string(), out),
        _ => {}
    }
}

fn push(key: Option<&str>, value: String, out: &mut Vec<(String, String)>) {
    let Some(k) = key else { return };
    let lk = k.to_ascii_lowercase();
    let named = DESTINATION_KEYS
        .iter()
        .any(|d| lk == *d || lk.ends_with(&format!("_{d}")) || lk.starts_with(&format!("{d}_")));
    if named && value.chars().count() >= MIN_VALUE {
        out.push((k.to_owned(), value));
    }
}

fn data_flow(ctx: &Ctx<'_>, own: &Flow) -> Option<Signal> {
    let e = ctx.event?;
    let tool = e.tool.as_ref()?;
    if e.echoes_span() || !is_sensitive(&tool.name) || own.request.is_empty() {
        return None;
    }
    let standing = value_provenance::standing(ctx);
    if matches!(standing, Standing::Judging) {
        return None;
    }
    let args: Value = serde_json::from_str(tool.arguments.as_deref()?).ok()?;
    let mut dests = Vec::new();
    destinations(&args, None, &mut dests);
    let request = own.request.to_lowercase();
    let (name, value, source) = dests.into_iter().find_map(|(k, v)| {
        let needle = v.to_lowercase();
        if request.contains(&needle) {
            return None;
        }
        own.results
            .iter()
            .find(|r| r.text.to_lowercase().contains(&needle))
            .map(|r| (k, v, r.clone()))
    })?;
    let mut s = ctx.definite(DetectorId::DataFlow, 0.0)?;
    s.subject = tool.call_id.clone().unwrap_or_else(|| e.event_id.clone());
    s.what = format!(
        "called {} with {name} = {value:?}, a value taken from the output of an earlier {} call that the human's request never mentions",
        tool.name, source.tool
    );
    s.expected = "destinations of sensitive tool calls come from the human's request".into();
    if let Standing::Learning { sessions, needed } = standing {
        // Uncalibrated word: low, and never enough to keep the instance out
        // of the baseline that will calibrate `value_provenance`.
        s.risk = s.risk.min(ctx.cfg.learn_below_risk.saturating_sub(1));
        s.expected.push_str(&format!(
            " (a fixed rule standing in while value_provenance learns this agent: {sessions:.0} of {needed} sessions judged)"
        ));
    }
    s.observed = format!("{name} = {value:?} found only in tool output");
    s.evidence = vec![source.evidence, evidence(e)];
    s.tags = INJECTION_TAGS;
    Some(s)
}

/// Tags of a finding that says a tool result steered a call (also
/// `value_provenance`'s).
pub(super) const INJECTION_TAGS: &[&str] = &[
    "owasp-agentic:T6",
    "owasp-agentic:T2",
    "atlas:AML.T0051.001",
    "attack:T1567",
];

/// A tool's output, kept to trace where later arguments came from (also
/// by `value_provenance`, which keeps the text in lower case).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct ToolResult {
    /// The tool that returned it.
    pub tool: String,
    /// What it returned (clipped).
    pub text: String,
    /// The event that carried it.
    pub evidence: Evidence,
}

/// What an instance was asked and what its tools returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Flow {
    /// The human's request text, when telemetry carries it.
    request: String,
    /// Recent tool results, oldest first.
    results: VecDeque<ToolResult>,
}

impl Flow {
    /// Keep the human's request (the first one seen wins; later turns append).
    fn add_request(&mut self, text: &str) {
        if self.request.len() < MAX_TEXT {
            self.request.push_str(clip(text));
            self.request.push('\n');
        }
    }

    /// Keep a tool result.
    fn add_result(&mut self, tool: &str, text: &str, e: &NormEvent) {
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(ToolResult {
            tool: tool.to_owned(),
            text: clip(text).to_owned(),
            evidence: evidence(e),
        });
    }
}

/// Traces destinations of sensitive calls back to tool output.
#[derive(Default)]
pub(crate) struct DataFlow {
    by_instance: PerInstance<Flow>,
}

impl Detector for DataFlow {
    fn id(&self) -> DetectorId {
        DetectorId::DataFlow
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let e = cx.event;
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        if let Some(req) = &e.input_messages {
            own.add_request(req);
        }
        out.extend(data_flow(&cx.ctx(), &own));
        // A result is traced only for later calls, never the one returning it.
        if let Some(tool) = &e.tool
            && let Some(result) = tool.result.as_deref()
            && !e.echoes_span()
        {
            own.add_result(&tool.name, result, e);
        }
    }

    per_instance_state!(by_instance);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_destination_leaves_only() {
        let args: Value = serde_json::json!({
            "to": "mallory@evil.example", "subject": "hello there",
            "payment": {"account_number": "DE89370400440532013000"}, "cc": ["x"]
        });
        let mut out = Vec::new();
        destinations(&args, None, &mut out);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["account_number", "to"]);
        assert!(is_sensitive("send_email") && !is_sensitive("search_kb"));
    }
}

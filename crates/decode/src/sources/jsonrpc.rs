//! JSON-RPC 2.0 messages as MCP carries them, shared by the formats that
//! log them (the MCP gateway lines, AgentCore Gateway's CloudTrail data
//! events): the request's method, id, tool or resource and `_meta` trace
//! context, and what the response says about the call's outcome.

use delegraph_model::{NormEvent, Outcome};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::json::{Id, Str};

#[derive(Deserialize)]
pub(crate) struct Request<'a> {
    pub(crate) method: String,
    /// JSON-RPC: a string or an integer.
    #[serde(default)]
    pub(crate) id: Id,
    #[serde(default, borrow)]
    pub(crate) params: Option<Params<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct Params<'a> {
    #[serde(default)]
    pub(crate) name: Str,
    #[serde(default)]
    pub(crate) uri: Str,
    #[serde(default, borrow)]
    pub(crate) arguments: Option<&'a RawValue>,
    #[serde(default, rename = "_meta")]
    pub(crate) meta: Option<Meta>,
}

#[derive(Deserialize, Default)]
pub(crate) struct Meta {
    #[serde(default)]
    pub(crate) traceparent: Str,
    #[serde(default)]
    pub(crate) decision_id: Str,
}

#[derive(Deserialize)]
pub(crate) struct Response<'a> {
    #[serde(default, borrow)]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) error: Option<RpcError>,
}

#[derive(Deserialize)]
pub(crate) struct RpcError {
    #[serde(default)]
    pub(crate) code: Id,
    #[serde(default)]
    pub(crate) message: Str,
}

#[derive(Deserialize)]
struct ToolResult {
    #[serde(default, rename = "isError")]
    is_error: Option<bool>,
}

/// The call's outcome, failure reason and result text by its response: a
/// JSON-RPC error or a tool result flagged `isError` is a failure; no
/// response leaves it unknown.
pub(crate) fn outcome(
    response: Option<&Response<'_>>,
) -> (Outcome, Option<String>, Option<String>) {
    let Some(r) = response else {
        return (Outcome::Unknown, None, None);
    };
    if let Some(err) = &r.error {
        let reason = format!(
            "JSON-RPC error {}: {}",
            err.code.get().unwrap_or("?"),
            err.message.get().unwrap_or("")
        );
        return (Outcome::Failure, Some(reason), None);
    }
    let result = r.result.map(|v| v.get().to_owned());
    let is_error = r
        .result
        .and_then(|v| serde_json::from_str::<ToolResult>(v.get()).ok())
        .and_then(|t| t.is_error)
        .unwrap_or(false);
    if is_error {
        (Outcome::Failure, Some("tool_error".into()), result)
    } else {
        (Outcome::Success, None, result)
    }
}

impl Params<'_> {
    /// Put the trace context the request carries (`_meta.traceparent`) on
    /// `e` as its trace and parent span.
    pub(crate) fn trace_context_into(&self, e: &mut NormEvent) {
        let tp = self.meta.as_ref().and_then(|m| m.traceparent.get());
        if let Some((trace, span)) = tp.and_then(traceparent) {
            e.trace.trace_id = Some(trace);
            e.trace.parent_span_id = Some(span);
        }
    }
}

/// The trace and parent span ids (lower-case hex) of a W3C `traceparent`
/// (`version-traceid-parentid-flags`).
fn traceparent(tp: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = tp.split('-').collect();
    match parts.as_slice() {
        [_, trace, span, _] => Some((trace.to_ascii_lowercase(), span.to_ascii_lowercase())),
        _ => None,
    }
}

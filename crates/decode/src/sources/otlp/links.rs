//! A span's place in its trace and sessions, as link hints.

use delegraph_model::{Bind, Category, Link, LinkHints, NormEvent, Resolve};

use super::operations::A2A_TASK;
use crate::links::{MCP_SESSION, mcp_session_key};

/// A span's place in its trace as link hints:
/// - a root `invoke_agent` span starts an instance (and opens its
///   conversation, and the agent identity it names: see
///   [`crate::links::agent_identity_key`]);
/// - a nested one, or an A2A span, is a sub-agent unless it is the
///   callee's side of a call to the same agent; an A2A span in a trace of
///   its own finds the instance working its task;
/// - every other span belongs to its parent's instance, else its MCP
///   session's, else its conversation's.
///
/// Each span's instance is kept for its children, and an MCP span's for
/// the rest of its session.
pub(super) fn link(e: &mut NormEvent) {
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
    let mcp_session = same_task(e, MCP_SESSION).map(mcp_session_key);
    if e.category == Category::AgentInvoke {
        let a2a = same_task(e, A2A_TASK).is_some();
        let id = e.agent.instance_id.clone().unwrap_or_else(|| key.clone());
        if let Some(parent) = parent {
            h.resolve.push(Resolve::SameAgentSpan {
                parent: parent.clone(),
                basis: "parent span of the same agent".into(),
            });
            h.resolve.push(Resolve::SubAgent {
                parent,
                instance: id.clone(),
            });
        }
        let mut aliases: Vec<String> = conversation.into_iter().collect();
        if !a2a && let Some(agent) = e.agent.agent_id.as_deref() {
            aliases.push(crate::links::agent_identity_key(agent));
        }
        h.resolve.push(Resolve::Instance {
            id,
            human: e.on_behalf_of.clone(),
            aliases,
            basis: if a2a {
                "A2A task".into()
            } else {
                "root invoke_agent span".into()
            },
        });
    } else {
        if let Some(parent) = parent {
            h.resolve.push(Resolve::ChildSpan {
                parent,
                basis: "parent span".into(),
            });
        }
        if let Some(key) = &mcp_session {
            h.resolve.push(Resolve::Session {
                key: key.clone(),
                basis: "MCP session".into(),
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
    if let Some(key) = mcp_session {
        h.bind.push(Bind::Session { key });
    }
    crate::links::bind_credentials(e, &mut h);
    e.hints = h;
}

/// The key of the record's `SameTask` link of `kind`.
fn same_task<'e>(e: &'e NormEvent, kind: &str) -> Option<&'e str> {
    e.links.iter().find_map(|l| match l {
        Link::SameTask { kind: k, key } if k == kind => Some(key.as_str()),
        _ => None,
    })
}

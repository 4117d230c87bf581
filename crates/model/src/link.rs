//! Edge hints a decoder emits so the stitcher never needs to know a format.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One fact about how this event connects to others.
///
/// Decoders know their format's linking keys (an issued access key, a parent
/// span, an `act` claim); the stitcher only knows these variants. Adding a
/// source therefore means teaching its decoder to emit links, not changing
/// the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "link", rename_all = "snake_case")]
pub enum Link {
    /// This event issued `credential` to `to` (AssumeRole, token grant,
    /// sign-in), valid until `expires_at` when known.
    IssuedCredential {
        /// The new credential's id.
        credential: String,
        /// Who received it (role session ARN, client, user).
        to: String,
        /// When it stops being valid.
        expires_at: Option<Timestamp>,
    },
    /// This event was made with `credential`.
    UsedCredential {
        /// The credential's id.
        credential: String,
    },
    /// `child` was obtained by presenting `parent` (role chaining, token exchange).
    DerivedCredential {
        /// The credential presented.
        parent: String,
        /// The credential obtained.
        child: String,
    },
    /// `actor` acted for `subject` (sourceIdentity, `act` claim, OBO sign-in,
    /// GitHub `user` of an agentic event).
    ActsFor {
        /// The one acting.
        actor: String,
        /// The one on whose behalf.
        subject: String,
    },
    /// Span parentage inside one trace (OTel, MCP `_meta.traceparent`).
    SpanParent {
        /// Trace id (lower-case hex).
        trace_id: String,
        /// This span.
        span_id: String,
        /// Its parent, when it has one.
        parent_span_id: Option<String>,
    },
    /// `caller` invoked the agent `callee` (sub-agent, agent-as-tool transfer).
    InvokesAgent {
        /// The calling agent (name or id).
        caller: String,
        /// The called agent (name or id).
        callee: String,
    },
    /// This event belongs to the task / session / conversation `key`.
    SameTask {
        /// What kind of key (`conversation`, `agent_session`, `mcp_session`, …).
        kind: String,
        /// The key itself.
        key: String,
    },
    /// The agent instance `instance` ended its task at `at`.
    TaskEnded {
        /// The instance that ended.
        instance: String,
        /// When.
        at: Timestamp,
    },
}

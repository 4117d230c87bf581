//! Typed link hints: how a record ties to an agent instance, stated by the
//! decoder that knows the format so the stitcher never has to.
//!
//! A format's identity knowledge (ARNs and role sessions, span trees, MCP
//! sessions and `traceparent`, IdP principals) lives in its decoder, which
//! states it here in format-neutral terms: "made with credential K", "a
//! child of span S", "session key X", "start the instance named N", "this
//! record issued a session for role R". The stitcher resolves these and
//! nothing else, so a new log format needs no change to the graph.
//!
//! Hints are not stored with the event (the `links` column keeps the edge
//! hints); whatever holds events between stitching steps (the reorder
//! buffer's checkpoint) saves them alongside.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// An explanation in a hint: mostly a fixed phrase of the decoder's, so
/// borrowed rather than allocated for every record.
pub type HintText = Cow<'static, str>;

/// Everything the stitcher needs to attribute one record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinkHints {
    /// Ways to find the record's instance, tried in order; the first that
    /// applies decides. Order matters: a format lists its most precise key
    /// first (an issued credential before a role session's name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolve: Vec<Resolve>,
    /// What a record attributed to an instance teaches the stitcher about
    /// later records (its session, span and credentials), applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bind: Vec<Bind>,
    /// A session this record started by issuing a credential; it may decide
    /// the record's own attribution too (see [`SessionIssue`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<Box<SessionIssue>>,
    /// The record is the agent runtime's own telemetry (a span, a tool-call
    /// gateway line), not a call to a cloud or SaaS API: its operation is
    /// not one a task envelope's `operations` governs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent_runtime: bool,
    /// Resources the record went through rather than acted on (the MCP
    /// gateway's server URL): approvals are matched against the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// The cloud role the actor's session is of (an IAM role ARN), which the
    /// agent inventory's `iam_roles` match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The integration the actor acts as (a GitHub App id), which the agent
    /// inventory's `github_apps` match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

impl LinkHints {
    /// True when the decoder stated nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One way to find a record's instance.
///
/// `basis` is the explanation the attribution keeps (`Attribution::basis`)
/// when this way decides, in the format's own terms ("role session",
/// "MCP session").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resolve", rename_all = "snake_case")]
pub enum Resolve {
    /// Made with `credential`: the instance it was bound to (issued to, or
    /// first seen on a record of).
    Credential {
        /// The credential's id.
        credential: String,
        /// Explanation when it decides.
        basis: HintText,
    },
    /// A child of the span `parent` (`trace:span`, lower-case hex): the
    /// instance that span belongs to.
    ChildSpan {
        /// The parent span's key.
        parent: String,
        /// Explanation when it decides.
        basis: HintText,
    },
    /// The callee's side of a call from span `parent` to the same agent:
    /// the parent span's instance, when it runs the agent this record names
    /// (`agent.name`).
    SameAgentSpan {
        /// The parent span's key.
        parent: String,
        /// Explanation when it decides.
        basis: HintText,
    },
    /// An agent invoked under span `parent`: a sub-agent instance
    /// `instance`, one level below the parent span's instance, for the human
    /// the record names or else the parent's.
    SubAgent {
        /// The parent span's key.
        parent: String,
        /// The sub-agent instance's id.
        instance: String,
    },
    /// The instance session key `key` is bound to (a conversation, an MCP
    /// session: keys carry their kind, `conversation:…`, `mcp:…`).
    Session {
        /// The session key.
        key: String,
        /// Explanation when it decides.
        basis: HintText,
    },
    /// A long-lived session whose start was not seen (an agent platform's
    /// role session): the instance telemetry already named `name`, else the
    /// instance `id`, of logical agent `agent` unless the record names one.
    /// Sessions it issues start instances of their own rather than extend
    /// its chain.
    UnseenSession {
        /// The name telemetry may have given the instance (session name).
        name: String,
        /// The session's own id (a role session ARN).
        id: String,
        /// The logical agent when the record names none (the role).
        agent: Option<String>,
        /// Explanation when it decides.
        basis: HintText,
    },
    /// When the actor is a human, the human acting directly (no instance).
    /// The actor-kind evidence is appended to `basis`.
    Human {
        /// Explanation when it decides.
        basis: HintText,
    },
    /// The instance `id`: the known one, else a new root instance for
    /// `human`. `aliases` are session keys it becomes known by (the
    /// conversation a root agent span opens).
    Instance {
        /// The instance id.
        id: String,
        /// The human a new instance runs for.
        human: Option<String>,
        /// Session keys bound to it.
        aliases: Vec<String>,
        /// Explanation when it decides.
        basis: HintText,
    },
    /// A non-human principal's instance `id` (explained as an agent
    /// identity or a non-human principal, by the actor's kind). `shared`
    /// when the id is the principal's own rather than a run's: all its
    /// records share one binding and the human each record names wins.
    Principal {
        /// The instance id.
        id: String,
        /// One binding for every record of the principal.
        shared: bool,
    },
    /// Nothing ties the record to an instance: why (the attribution's basis
    /// reads `unattributed: <reason>`).
    Unresolved {
        /// Why.
        reason: HintText,
    },
}

/// What a record attributed to an instance teaches about later records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "bind", rename_all = "snake_case")]
pub enum Bind {
    /// Later records of session `key` belong to the same instance.
    Session {
        /// The session key.
        key: String,
    },
    /// Child spans of `span` (`trace:span`) belong to the same instance.
    Span {
        /// This record's span key.
        span: String,
    },
    /// Later records made with `credential` belong to the same instance,
    /// unless the credential is already bound (a token a tool call carries
    /// joins later IdP and SaaS records to the call's instance).
    Credential {
        /// The credential's id.
        credential: String,
    },
}

/// A credential this record issued for a new session (a role assumption, a
/// token exchange). By the record's own attribution (its caller):
/// - an instance whose sessions spawn new instances (see
///   [`Resolve::UnseenSession`]), a human, or no one: the session is a new
///   instance (or the one telemetry already named `name`), for the human the
///   record names, else the caller;
/// - any other instance: the session continues it, one level deeper in its
///   chain (role chaining).
///
/// When the caller is no one, the record itself is the session's first act
/// and is attributed to it with `basis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionIssue {
    /// The credential issued; later records made with it belong to the
    /// session.
    pub credential: String,
    /// The session's id (an assumed-role session ARN).
    pub session: String,
    /// Its short name (the role session name), under which telemetry may
    /// already have named an instance.
    pub name: String,
    /// The logical agent a new session instance is (the role assumed).
    pub agent: Option<String>,
    /// Explanation when the record itself is attributed to the session.
    pub basis: HintText,
}

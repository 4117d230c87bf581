//! Link hints several formats share, and the pass that puts every decoded
//! event's hints on it.
//!
//! Each format states its own identity knowledge (its `link` function, see
//! [`crate::FormatInfo`]); what is here is common to a family of formats:
//! records that name their instance (approvals), IdP and SaaS principals,
//! credentials that identify an instance, and identities the agent
//! inventory recognises whichever log carries them.

use delegraph_model::{ActorKind, Bind, LinkHints, NormEvent, RawText, Resolve};

use crate::format::FormatInfo;
use crate::{DecodeError, EventSink, SinkError};

/// State `f`'s link hints on `e`, then the identities implied across formats.
pub(crate) fn link(f: &FormatInfo, e: &mut NormEvent) {
    (f.link)(e);
    implied_identities(e);
}

/// A sink that links every event a decoder sends before passing it on, so
/// no decoder can forget to.
pub(crate) struct Linked<'s, 'd, S: EventSink + ?Sized> {
    pub format: &'static FormatInfo,
    /// The document the record is in, when it is held as shared text.
    pub shared: Option<&'d RawText>,
    pub sink: &'s mut S,
}

impl<S: EventSink + ?Sized> EventSink for Linked<'_, '_, S> {
    /// A slice of the shared document when `record` lies in it (an
    /// envelope's record translated from another format does not).
    fn raw_text(&self, record: &str) -> RawText {
        match self.shared {
            Some(doc) if lies_in(record, doc) => doc.slice_ref(record),
            _ => RawText::from(record),
        }
    }

    fn event(&mut self, mut event: NormEvent) -> Result<(), SinkError> {
        link(self.format, &mut event);
        self.sink.event(event)
    }

    fn reject(
        &mut self,
        error: DecodeError,
        origin: delegraph_model::Origin,
        raw: &str,
    ) -> Result<(), SinkError> {
        self.sink.reject(error, origin, raw)
    }
}

/// Whether `part`'s bytes are inside `whole`'s (compared by address, so a
/// copy with the same text is not).
fn lies_in(part: &str, whole: &str) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= start + whole.len()
}

/// Identities the agent inventory matches that a record only implies: the
/// IAM role behind a role session and the GitHub App behind an app token.
/// They name the same identity whichever log carries them, so they are
/// read from every format's events.
pub(crate) fn implied_identities(e: &mut NormEvent) {
    e.hints.role = crate::sources::cloudtrail::role_of(e);
    e.hints.app = e
        .agent
        .agent_id
        .as_deref()
        .and_then(|a| a.strip_prefix(crate::sources::github::APP_PREFIX))
        .map(str::to_owned);
}

/// Later records made with this record's credentials (used, then issued)
/// belong to its instance: a token a tool call or an agent's sign-in
/// carries joins later IdP and SaaS records to that instance.
pub(crate) fn bind_credentials(e: &NormEvent, h: &mut LinkHints) {
    for c in [e.credential_used.as_ref(), e.credential_issued.as_ref()]
        .into_iter()
        .flatten()
    {
        h.bind.push(Bind::Credential {
            credential: c.id.clone(),
        });
    }
}

/// A policy decision or envelope event that names its agent instance joins
/// it, or starts it: approval comes before the work. The envelope's
/// approver, else the human the record names, is the instance's human.
pub(crate) fn named_by_approval(e: &NormEvent) -> Option<Resolve> {
    let id = e.agent.instance_id.clone()?;
    let human = e
        .envelope
        .as_ref()
        .and_then(|x| x.envelope.approved_by.clone())
        .or_else(|| e.on_behalf_of.clone());
    let basis = if e.envelope.is_some() {
        "instance named by the task envelope"
    } else {
        "instance named by the policy decision"
    };
    Some(Resolve::Instance {
        id,
        human,
        aliases: Vec::new(),
        basis: basis.into(),
    })
}

/// The link pass of formats whose records are approvals (policy decision
/// logs, task envelopes): the instance they name, or none.
pub(crate) fn approval_record(e: &mut NormEvent) {
    let mut h = LinkHints::default();
    h.resolve
        .push(named_by_approval(e).unwrap_or_else(|| Resolve::Unresolved {
            reason: "the record names no agent instance".into(),
        }));
    bind_credentials(e, &mut h);
    e.hints = h;
}

/// The `SameTask` kind of an MCP session (`Mcp-Session-Id`): MCP gateway
/// lines and OpenTelemetry MCP spans state it alike, so a session's lines
/// and spans join.
pub(crate) const MCP_SESSION: &str = "mcp_session";

/// The session key of the MCP session `id`.
pub(crate) fn mcp_session_key(id: &str) -> String {
    format!("mcp:{id}")
}

/// The session key of the agent identity `id` (an IdP's id for the agent,
/// such as an Entra agent identity's service principal): agent runtime
/// telemetry that names the identity its root instance runs as
/// (`gen_ai.agent.id`) binds it, and the identity's IdP and SaaS records
/// join that instance while it runs.
pub(crate) fn agent_identity_key(id: &str) -> String {
    format!("agent-identity:{id}")
}

/// The link pass of IdP and SaaS logs (Okta, Entra, GitHub, Workspace): a
/// credential an agent's record carried earlier; else a human acts
/// directly; else an agent identity joins the traced instance running as
/// it; else the principal is its own instance — the run the record names,
/// or one shared by all the principal's records.
pub(crate) fn principal(e: &mut NormEvent) {
    let mut h = LinkHints::default();
    if let Some(c) = &e.credential_used {
        h.resolve.push(Resolve::Credential {
            credential: c.id.clone(),
            basis: "credential seen earlier".into(),
        });
    }
    if matches!(e.actor_kind, ActorKind::Agent | ActorKind::SubAgent) {
        h.resolve.push(Resolve::Session {
            key: agent_identity_key(&e.actor.id),
            basis: "agent identity of a traced instance".into(),
        });
    }
    h.resolve.push(Resolve::Human {
        basis: "human principal".into(),
    });
    h.resolve.push(match &e.agent.instance_id {
        Some(id) => Resolve::Principal {
            id: id.clone(),
            shared: false,
        },
        None => Resolve::Principal {
            id: format!("{}:{}", e.source.as_str(), e.actor.id),
            shared: true,
        },
    });
    bind_credentials(e, &mut h);
    e.hints = h;
}

//! The normalized event and the small value types it is made of (the
//! word-valued kinds are in `kinds`).

use serde::{Deserialize, Serialize};

use crate::{
    ActorKind, Approval, Category, CredentialKind, EnvelopeEvent, Link, LinkHints, Origin, Outcome,
    PolicyDecision, Source, Timestamp,
};

/// An identity as the source names it, with a namespaced id so the same
/// string from two vendors cannot collide.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Principal {
    /// Canonical id: an ARN, `okta:<id>`, `entra:sp:<id>`, `github:<login>`, …
    pub id: String,
    /// Human-readable name when the record has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// The vendor's own type word (`AssumedRole`, `WorkloadIdentityPrincipal`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vendor_type: Option<String>,
}

/// A credential used or issued by an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Stable id (access key id, token hash, token id, key id).
    pub id: String,
    /// What it is.
    pub kind: CredentialKind,
    /// When it was issued, when the record says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub issued_at: Option<Timestamp>,
    /// When it expires, when the record says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<Timestamp>,
}

impl Credential {
    /// A credential known only by id and kind.
    pub fn new(id: String, kind: CredentialKind) -> Self {
        Self {
            id,
            kind,
            issued_at: None,
            expires_at: None,
        }
    }
}

/// The agent context a record itself states (the stitcher fills the rest).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentRef {
    /// Logical agent (`gen_ai.agent.id`, client id, app id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent_id: Option<String>,
    /// Display name of the agent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// The running instance, when the record names it (GitHub
    /// `agent_session_id`, role session name by convention, MCP session).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance_id: Option<String>,
    /// The parent (calling) agent, for sub-agents.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent: Option<String>,
}

impl AgentRef {
    /// True when the record said nothing about an agent.
    pub fn is_empty(&self) -> bool {
        self.agent_id.is_none()
            && self.name.is_none()
            && self.instance_id.is_none()
            && self.parent.is_none()
    }
}

/// A tool call made by an agent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ToolRef {
    /// Tool name (`gen_ai.tool.name`, MCP `params.name`).
    pub name: String,
    /// Call id (`gen_ai.tool.call.id`, JSON-RPC id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub call_id: Option<String>,
    /// The server or integration offering the tool (MCP server).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server: Option<String>,
    /// Arguments as JSON text, when the telemetry carries them (opt-in).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arguments: Option<String>,
    /// Result as text, when the telemetry carries it (opt-in).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<String>,
}

/// Something an event touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// ARN, URI, repository, document id, …
    pub id: String,
    /// The vendor's type (`AWS::IAM::Role`, `repo`, `access_token`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    /// True when the event reads a secret's value through this resource.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub is_secret: bool,
}

/// Correlation keys for the stitcher (OCSF `trace` plus session ids).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TraceContext {
    /// W3C / OTLP trace id, lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace_id: Option<String>,
    /// Span id, lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub span_id: Option<String>,
    /// Parent span id, lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_span_id: Option<String>,
    /// `gen_ai.conversation.id`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub conversation_id: Option<String>,
    /// IdP / MCP / agent session id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_id: Option<String>,
    /// Request or transaction id shared by several records of one request.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub correlation_id: Option<String>,
    /// The policy decision the runtime says allowed this action (MCP
    /// `_meta.decision_id`, span attribute `delegraph.decision_id`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision_id: Option<String>,
}

/// Who an event is attributed to, resolved across sources by the stitcher.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attribution {
    /// The logical agent (baseline key for detectors).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent_id: Option<String>,
    /// The agent instance (or workload session) that executed the action.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance: Option<String>,
    /// The top instance of the delegation chain (the one the human started).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub root_instance: Option<String>,
    /// The human on whose behalf it ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator: Option<String>,
    /// Delegation chain, root first: human, instances, sub-agents, sessions.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub chain: Vec<String>,
    /// Sub-agent / role-chain depth below the root instance (0 = root).
    pub depth: u32,
    /// How it was resolved (`credential ASIA…`, `parent span`, …) or, when
    /// `instance` is empty, why not.
    pub basis: String,
    /// The approval the action ran under; `None` when the instance had no
    /// envelope and no policy decision within the lookback.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approval: Option<Approval>,
}

/// One source record, normalized.
///
/// Attribution fields (`agent_instance`, `initiator`, `chain`) stay empty
/// here unless the record itself states them: resolving them across sources
/// is the stitcher's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormEvent {
    /// The vendor's unique id for the record (eventID, uuid, span id, …).
    pub event_id: String,
    /// Which format it came from.
    pub source: Source,
    /// The vendor's event type (eventName, eventType, action, span name).
    pub source_event_type: String,
    /// When it happened.
    pub event_time: Timestamp,
    /// When it finished (spans).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_time: Option<Timestamp>,
    /// Account, org, tenant or customer id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant: Option<String>,
    /// Coarse class of the action.
    pub category: Category,
    /// Canonical operation: `eventSource:eventName`, `tools/call:<tool>`, …
    pub operation: String,
    /// Who acted.
    pub actor: Principal,
    /// What kind of principal acted.
    pub actor_kind: ActorKind,
    /// Which evidence decided `actor_kind` (`userIdentity.type=IAMUser`).
    pub actor_kind_basis: String,
    /// The human the action was for, when the record says.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub on_behalf_of: Option<String>,
    /// Delegation chain the record itself states, root first (`act` claims).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub delegation_chain: Vec<String>,
    /// Agent context the record states.
    #[serde(skip_serializing_if = "AgentRef::is_empty", default)]
    pub agent: AgentRef,
    /// The credential the action was made with.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential_used: Option<Credential>,
    /// A credential the action issued.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential_issued: Option<Credential>,
    /// The tool called, for tool-call events.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool: Option<ToolRef>,
    /// What was touched.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resources: Vec<Resource>,
    /// Scopes requested or granted.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scopes: Vec<String>,
    /// Correlation keys.
    #[serde(skip_serializing_if = "is_default_trace", default)]
    pub trace: TraceContext,
    /// Whether it worked.
    pub outcome: Outcome,
    /// Error code or reason when it did not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome_reason: Option<String>,
    /// Caller IP address.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub src_ip: Option<String>,
    /// Caller user agent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_agent: Option<String>,
    /// The human's request text (`gen_ai.input.messages`), when carried.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_messages: Option<String>,
    /// The decision, when this record is a policy engine's decision.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    // Boxed, like `envelope` and `attribution`: events are moved often
    // (decode, reorder, batches) and most lack these, so they cost a
    // pointer instead of their size in every event.
    pub decision: Option<Box<PolicyDecision>>,
    /// The envelope, when this record is a task envelope event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub envelope: Option<Box<EnvelopeEvent>>,
    /// Cross-source attribution, once the stitcher has run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attribution: Option<Box<Attribution>>,
    /// Edge hints: how this record connects to others (stored).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub links: Vec<Link>,
    /// How the stitcher ties this record to an agent instance, stated by its
    /// decoder. Not serialized with the event, so stored rows and goldens
    /// keep their shape; holders of unstitched events save it beside them.
    #[serde(skip)]
    pub hints: LinkHints,
    /// Where the record was read.
    pub origin: Origin,
    /// The record exactly as received. Decoders share the piece of input
    /// it was read in rather than copying it (see [`RawText`]).
    pub raw: RawText,
}

/// A record's text as received: a reference-counted UTF-8 slice. Events
/// decoded from one piece of input share that piece's bytes instead of
/// each copying its record (1–2 KB an event, allocated on a decoding
/// thread and freed on the writing one), and a clone costs a count.
/// Compared, shown and saved as a plain string, so saved state and stored
/// rows keep their bytes.
pub type RawText = bytestring::ByteString;

fn is_default_trace(t: &TraceContext) -> bool {
    *t == TraceContext::default()
}

impl NormEvent {
    /// An event with every optional part empty, for decoders to fill in:
    /// one constructor, so a field added here is added for every format.
    pub fn new(
        source: Source,
        event_id: String,
        source_event_type: String,
        event_time: Timestamp,
        origin: Origin,
        raw: impl Into<RawText>,
    ) -> Self {
        Self {
            event_id,
            source,
            source_event_type,
            event_time,
            end_time: None,
            tenant: None,
            category: Category::default(),
            operation: String::new(),
            actor: Principal::default(),
            actor_kind: ActorKind::default(),
            actor_kind_basis: String::new(),
            on_behalf_of: None,
            delegation_chain: Vec::new(),
            agent: AgentRef::default(),
            credential_used: None,
            credential_issued: None,
            tool: None,
            resources: Vec::new(),
            scopes: Vec::new(),
            trace: TraceContext::default(),
            outcome: Outcome::default(),
            outcome_reason: None,
            src_ip: None,
            user_agent: None,
            input_messages: None,
            decision: None,
            envelope: None,
            attribution: None,
            links: Vec::new(),
            hints: LinkHints::default(),
            origin,
            raw: raw.into(),
        }
    }

    /// Record the credential the action was made with, and its link hint,
    /// so the field and the link never disagree.
    pub fn use_credential(&mut self, credential: Credential) {
        self.links.push(Link::UsedCredential {
            credential: credential.id.clone(),
        });
        self.credential_used = Some(credential);
    }

    /// Give back the room the event's lists grew into: a first push leaves
    /// room for four items and most lists hold one or two, so a replay
    /// holding its whole input kept about a fifth of its heap in that room
    /// (heaptrack, 304k simulated events). Called once per event, when it
    /// is set aside to be held.
    pub fn shrink_to_fit(&mut self) {
        self.delegation_chain.shrink_to_fit();
        self.resources.shrink_to_fit();
        self.scopes.shrink_to_fit();
        self.links.shrink_to_fit();
        self.hints.resolve.shrink_to_fit();
        self.hints.bind.shrink_to_fit();
        self.hints.channels.shrink_to_fit();
    }

    /// Record a credential this action issued to `to`, and its link hint.
    pub fn issue_credential(&mut self, credential: Credential, to: String) {
        self.links.push(Link::IssuedCredential {
            credential: credential.id.clone(),
            to,
            expires_at: credential.expires_at,
        });
        self.credential_issued = Some(credential);
    }

    /// Record that `actor` acted for the human `subject`; the first human
    /// named becomes `on_behalf_of`.
    pub fn acts_for(&mut self, actor: String, subject: String) {
        self.on_behalf_of.get_or_insert_with(|| subject.clone());
        self.links.push(Link::ActsFor { actor, subject });
    }

    /// The tool called and the first resource touched, as a finding about
    /// this event names them.
    pub fn tool_and_resource(&self) -> (Option<String>, Option<String>) {
        (
            self.tool.as_ref().map(|t| t.name.clone()),
            self.resources.first().map(|r| r.id.clone()),
        )
    }

    /// True for records about approval (policy decisions, envelopes) rather
    /// than actions: they bind actions, they are not behaviour to profile.
    pub fn is_approval_record(&self) -> bool {
        self.decision.is_some() || self.envelope.is_some()
    }

    /// An MCP call carrying a traceparent is the server side of an OTel
    /// `execute_tool` span already seen: counting tool calls skips it.
    pub fn echoes_span(&self) -> bool {
        self.source == Source::Mcp
            && self.trace.trace_id.is_some()
            && self.trace.parent_span_id.is_some()
    }

    /// The approval the stitcher bound this event to, if any.
    pub fn approval(&self) -> Option<&Approval> {
        self.attribution.as_ref().and_then(|a| a.approval.as_ref())
    }

    /// True when any touched resource is a secret read.
    pub fn reads_secret(&self) -> bool {
        self.resources.iter().any(|r| r.is_secret)
    }
}

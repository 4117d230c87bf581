//! What a rule's field names mean for one event.
//!
//! Two namespaces. `delegraph.*` names the normalized event, the agent
//! context the stitcher resolved and the signals of the detector engine
//! (documented in `rules/README.md`); every
//! other name is a path into the vendor's raw record (`eventName`,
//! `userIdentity.type`, `actor.alternateId`), so rules written for the
//! vendor's format run unchanged. Names resolve once, when a rule compiles;
//! a format's aliases for other tools' names (SigmaHQ's, Log Analytics')
//! are applied per event, only for the formats that declare some.

use std::borrow::Cow;
use std::cell::OnceCell;

use delegraph_decode::format_info;
use delegraph_model::NormEvent;
use serde_json::Value as Json;

/// The agent context rules read (`delegraph.task_ended`, …), resolved by
/// the stitcher; defined in the model so every analyzer shares it.
pub use delegraph_model::AgentContext;
/// What earlier analyzers worked out about the event
/// (`delegraph.arg_from_tool_result`, …), defined in the model likewise.
pub use delegraph_model::EventSignals;

/// A context field: the normalized event and its stitched attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextField {
    /// `delegraph.source`: cloudtrail, okta, github, entra, google_workspace, gcp_audit, otlp, mcp, …
    Source,
    /// `delegraph.event_type`: the vendor's event type.
    EventType,
    /// `delegraph.operation`: canonical operation.
    Operation,
    /// `delegraph.category`.
    Category,
    /// `delegraph.outcome`: success, failure, unknown.
    Outcome,
    /// `delegraph.actor`: canonical actor id.
    Actor,
    /// `delegraph.actor_kind`: human, agent, workload, service, unknown.
    ActorKind,
    /// `delegraph.agent_id`.
    AgentId,
    /// `delegraph.agent_instance`.
    AgentInstance,
    /// `delegraph.root_instance`: the delegation root.
    RootInstance,
    /// `delegraph.human`: whom the instance acted for.
    Human,
    /// `delegraph.depth`: delegation depth below the root (0 = root).
    Depth,
    /// `delegraph.chain`: the delegation chain, root first (a list).
    Chain,
    /// `delegraph.tool`: tool called.
    Tool,
    /// `delegraph.tool_server`: MCP server of the tool.
    ToolServer,
    /// `delegraph.tool_arguments`: the call's arguments as text.
    ToolArguments,
    /// `delegraph.resources`: resource ids touched (a list).
    Resources,
    /// `delegraph.secret_read`: whether a secret was read.
    SecretRead,
    /// `delegraph.scopes`: scopes requested or granted (a list).
    Scopes,
    /// `delegraph.credential_id`.
    CredentialId,
    /// `delegraph.credential_kind`.
    CredentialKind,
    /// `delegraph.credential_issued`: id of a credential this action issued.
    CredentialIssued,
    /// `delegraph.credential_age_s`: seconds since the credential used was
    /// issued or first seen.
    CredentialAge,
    /// `delegraph.task_ended`: whether the instance's task had ended when it acted.
    TaskEnded,
    /// `delegraph.after_task_end_s`: seconds since the task ended (absent before).
    AfterTaskEnd,
    /// `delegraph.instance_age_s`: seconds since the instance was first seen.
    InstanceAge,
    /// `delegraph.src_ip`.
    SrcIp,
    /// `delegraph.user_agent`.
    UserAgent,
    /// `delegraph.tenant`.
    Tenant,
    /// `delegraph.approved`: whether the action ran under an approval
    /// delegraph saw (an envelope, or a policy decision whose log entry was
    /// read).
    Approved,
    /// `delegraph.decision_id`: the policy decision bound to the action.
    DecisionId,
    /// `delegraph.decision_result`: `allow` or `deny`.
    DecisionResult,
    /// `delegraph.decision_engine`: `opa`, `verified_permissions` (decisions).
    DecisionEngine,
    /// `delegraph.envelope_id`: the task envelope the action ran under.
    EnvelopeId,
    /// `delegraph.task_id`: the envelope's task.
    TaskId,
    /// `delegraph.approved_by`: the human who approved the envelope.
    ApprovedBy,
    /// `delegraph.envelope_purpose`: what the human approved, in words.
    EnvelopePurpose,
    /// `delegraph.inside_envelope`: whether the action stayed inside its
    /// envelope (absent without one).
    InsideEnvelope,
    /// `delegraph.envelope_breach`: how it left it (`tool`, `operation`,
    /// `resource`, `scope`, `not_started`, `expired`, `ended`, `max_calls`).
    EnvelopeBreach,
    /// `delegraph.arg_from_tool_result`: whether an argument value of this
    /// tool call came from an earlier tool result of the instance rather
    /// than the human's request (absent for events that are not tool calls).
    ArgFromToolResult,
    /// `delegraph.arg_source_tool`: the tools whose results those values
    /// came from (a list).
    ArgSourceTool,
    /// `delegraph.arg_value_new`: whether such a value is absent from
    /// everything the agent's learned sessions asked, used and read (absent
    /// while the agent has too little history).
    ArgValueNew,
    /// `delegraph.intent_mismatch`: whether the human's request fails to
    /// account for this consequential call, by what the agent's learned
    /// sessions show (absent for other calls and young agents).
    IntentMismatch,
}

/// Every context field with its name (`delegraph.` left off).
pub const CONTEXT_FIELDS: [(&str, ContextField); 43] = [
    ("source", ContextField::Source),
    ("event_type", ContextField::EventType),
    ("operation", ContextField::Operation),
    ("category", ContextField::Category),
    ("outcome", ContextField::Outcome),
    ("actor", ContextField::Actor),
    ("actor_kind", ContextField::ActorKind),
    ("agent_id", ContextField::AgentId),
    ("agent_instance", ContextField::AgentInstance),
    ("root_instance", ContextField::RootInstance),
    ("human", ContextField::Human),
    ("depth", ContextField::Depth),
    ("chain", ContextField::Chain),
    ("tool", ContextField::Tool),
    ("tool_server", ContextField::ToolServer),
    ("tool_arguments", ContextField::ToolArguments),
    ("resources", ContextField::Resources),
    ("secret_read", ContextField::SecretRead),
    ("scopes", ContextField::Scopes),
    ("credential_id", ContextField::CredentialId),
    ("credential_kind", ContextField::CredentialKind),
    ("credential_issued", ContextField::CredentialIssued),
    ("credential_age_s", ContextField::CredentialAge),
    ("task_ended", ContextField::TaskEnded),
    ("after_task_end_s", ContextField::AfterTaskEnd),
    ("instance_age_s", ContextField::InstanceAge),
    ("src_ip", ContextField::SrcIp),
    ("user_agent", ContextField::UserAgent),
    ("tenant", ContextField::Tenant),
    ("approved", ContextField::Approved),
    ("decision_id", ContextField::DecisionId),
    ("decision_result", ContextField::DecisionResult),
    ("decision_engine", ContextField::DecisionEngine),
    ("envelope_id", ContextField::EnvelopeId),
    ("task_id", ContextField::TaskId),
    ("approved_by", ContextField::ApprovedBy),
    ("envelope_purpose", ContextField::EnvelopePurpose),
    ("inside_envelope", ContextField::InsideEnvelope),
    ("envelope_breach", ContextField::EnvelopeBreach),
    ("arg_from_tool_result", ContextField::ArgFromToolResult),
    ("arg_source_tool", ContextField::ArgSourceTool),
    ("arg_value_new", ContextField::ArgValueNew),
    ("intent_mismatch", ContextField::IntentMismatch),
];

/// The namespace prefix of context fields.
pub const CONTEXT_PREFIX: &str = "delegraph.";

/// A field name, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// A context field.
    Context(ContextField),
    /// A path into the raw record, split at dots.
    Raw(Vec<String>),
}

impl FieldRef {
    /// Resolve a rule's field name; unknown `delegraph.*` names are errors.
    pub fn parse(name: &str) -> Result<Self, String> {
        if let Some(rest) = name.strip_prefix(CONTEXT_PREFIX) {
            return CONTEXT_FIELDS
                .iter()
                .find(|(n, _)| *n == rest)
                .map(|(_, f)| FieldRef::Context(*f))
                .ok_or_else(|| {
                    let known: Vec<&str> = CONTEXT_FIELDS.iter().map(|(n, _)| *n).collect();
                    format!(
                        "unknown context field `{name}` (known: delegraph.{})",
                        known.join(", delegraph.")
                    )
                });
        }
        Ok(FieldRef::Raw(name.split('.').map(str::to_owned).collect()))
    }
}

/// One value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// Text.
    Str(Cow<'a, str>),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// JSON null.
    Null,
}

impl FieldValue<'_> {
    /// The value as text, as Sigma compares non-string values.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            FieldValue::Str(s) => Cow::Borrowed(s.as_ref()),
            FieldValue::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Cow::Owned(format!("{}", *n as i64))
            }
            FieldValue::Num(n) => Cow::Owned(n.to_string()),
            FieldValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            FieldValue::Null => Cow::Borrowed(""),
        }
    }

    /// The value as a number, when it is one or is text that parses.
    pub fn number(&self) -> Option<f64> {
        match self {
            FieldValue::Num(n) => Some(*n),
            FieldValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// `path` rewritten by each alias whose name is a prefix of it (whole
/// segments, exact case), in the format's order.
fn aliased<'p>(
    aliases: &'p [(&'p str, &'p str)],
    path: &'p [String],
) -> impl Iterator<Item = Vec<String>> + 'p {
    aliases.iter().filter_map(move |(name, target)| {
        let name: Vec<&str> = name.split('.').collect();
        // An alias to the record's top needs a field after it: `data`
        // alone is not the whole record.
        let rest = if target.is_empty() { 1 } else { 0 };
        let matches = path.len() >= name.len() + rest && name.iter().zip(path).all(|(n, p)| n == p);
        matches.then(|| {
            target
                .split('.')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .chain(path[name.len()..].iter().cloned())
                .collect()
        })
    })
}

/// One event as rules see it: the normalized event, its context and its
/// raw record (parsed on first use).
pub struct EventView<'a> {
    /// The event.
    pub event: &'a NormEvent,
    /// What the pipeline knows beyond it.
    pub context: AgentContext,
    /// What the analyzers before the rules worked out about it.
    pub signals: &'a EventSignals,
    raw: OnceCell<Option<Json>>,
}

/// Signals of an event no analyzer looked at.
static NO_SIGNALS: EventSignals = EventSignals {
    from_tool_result: Vec::new(),
    value_new: None,
    intent_mismatch: None,
};

impl<'a> EventView<'a> {
    /// View `event` with `context`, and no signals.
    pub fn new(event: &'a NormEvent, context: AgentContext) -> Self {
        Self::with_signals(event, context, &NO_SIGNALS)
    }

    /// View `event` with `context` and the `signals` of earlier analyzers.
    pub fn with_signals(
        event: &'a NormEvent,
        context: AgentContext,
        signals: &'a EventSignals,
    ) -> Self {
        Self {
            event,
            context,
            signals,
            raw: OnceCell::new(),
        }
    }

    /// The raw record as JSON, when it is JSON.
    pub fn raw(&self) -> Option<&Json> {
        self.raw
            .get_or_init(|| serde_json::from_str(&self.event.raw).ok())
            .as_ref()
    }

    /// Every value of `field` (none when absent; several for lists).
    pub fn values<'s>(&'s self, field: &FieldRef, out: &mut Vec<FieldValue<'s>>) {
        match field {
            FieldRef::Context(f) => self.context_values(*f, out),
            FieldRef::Raw(path) => {
                if let Some(v) = self.promoted(path) {
                    out.push(FieldValue::Str(Cow::Borrowed(v)));
                    return;
                }
                let Some(raw) = self.raw() else {
                    return;
                };
                let fields = format_info(self.event.source).map(|f| f.fields);
                let before = out.len();
                // Other tools' names for the format's fields come first: a
                // capitalised `Category` is Log Analytics' column, not the
                // diagnostic record's own `category`.
                for aliased in fields.iter().flat_map(|f| aliased(f.aliases, path)) {
                    walk(raw, &aliased, out);
                    if out.len() > before {
                        return;
                    }
                }
                walk(raw, path, out);
                // Some deliveries wrap the record (Azure diagnostic logs
                // under `properties`): the format says which keys.
                if out.len() == before
                    && let Some(inner) = fields
                        .iter()
                        .flat_map(|f| f.wrappers)
                        .find_map(|w| get_key(raw, w))
                {
                    walk(inner, path, out);
                }
            }
        }
    }

    /// Vendor fields the decoder copies verbatim into the normalized event
    /// (CloudTrail `eventName` and `eventSource`, Okta `eventType`, GitHub
    /// `action`; each format lists its own): read from there, most events
    /// are matched or ruled out without parsing their raw record, since
    /// rules are indexed on them.
    fn promoted(&self, path: &[String]) -> Option<&'a str> {
        let [key] = path else {
            return None;
        };
        let e: &'a NormEvent = self.event;
        let (_, at) = format_info(e.source)?
            .fields
            .promoted
            .iter()
            .find(|(name, _)| key.eq_ignore_ascii_case(name))?;
        at.value(e).filter(|v| !v.is_empty())
    }

    fn context_values<'s>(&'s self, f: ContextField, out: &mut Vec<FieldValue<'s>>) {
        let e: &'s NormEvent = self.event;
        let a = e.attribution.as_ref();
        let s = |v: &'s str| FieldValue::Str(Cow::Borrowed(v));
        let opt = |v: Option<&'s String>, out: &mut Vec<FieldValue<'s>>| {
            if let Some(v) = v {
                out.push(FieldValue::Str(Cow::Borrowed(v.as_str())));
            }
        };
        let secs = |ns: i64| FieldValue::Num((ns as f64 / 1e9).floor());
        let now = e.event_time.nanos();
        match f {
            ContextField::Source => out.push(s(e.source.as_str())),
            ContextField::EventType => out.push(s(&e.source_event_type)),
            ContextField::Operation => out.push(s(&e.operation)),
            ContextField::Category => out.push(s(e.category.as_str())),
            ContextField::Outcome => out.push(s(e.outcome.as_str())),
            ContextField::Actor => out.push(s(&e.actor.id)),
            ContextField::ActorKind => out.push(s(e.actor_kind.as_str())),
            ContextField::AgentId => opt(
                a.and_then(|a| a.agent_id.as_ref())
                    .or(e.agent.agent_id.as_ref()),
                out,
            ),
            ContextField::AgentInstance => opt(
                a.and_then(|a| a.instance.as_ref())
                    .or(e.agent.instance_id.as_ref()),
                out,
            ),
            ContextField::RootInstance => opt(a.and_then(|a| a.root_instance.as_ref()), out),
            ContextField::Human => opt(
                a.and_then(|a| a.initiator.as_ref())
                    .or(e.on_behalf_of.as_ref()),
                out,
            ),
            ContextField::Depth => {
                if let Some(a) = a {
                    out.push(FieldValue::Num(f64::from(a.depth)));
                }
            }
            ContextField::Chain => {
                let chain = a.map_or(&e.delegation_chain, |a| &a.chain);
                out.extend(chain.iter().map(|c| s(c)));
            }
            ContextField::Tool => opt(e.tool.as_ref().map(|t| &t.name), out),
            ContextField::ToolServer => opt(e.tool.as_ref().and_then(|t| t.server.as_ref()), out),
            ContextField::ToolArguments => {
                opt(e.tool.as_ref().and_then(|t| t.arguments.as_ref()), out)
            }
            ContextField::Resources => out.extend(e.resources.iter().map(|r| s(&r.id))),
            ContextField::SecretRead => out.push(FieldValue::Bool(e.reads_secret())),
            ContextField::Scopes => out.extend(e.scopes.iter().map(|x| s(x))),
            ContextField::CredentialId => opt(e.credential_used.as_ref().map(|c| &c.id), out),
            ContextField::CredentialKind => {
                if let Some(c) = &e.credential_used {
                    out.push(s(c.kind.as_str()));
                }
            }
            ContextField::CredentialIssued => opt(e.credential_issued.as_ref().map(|c| &c.id), out),
            ContextField::CredentialAge => {
                let since = e
                    .credential_used
                    .as_ref()
                    .and_then(|c| c.issued_at)
                    .map(|t| t.nanos())
                    .or(self.context.credential_since);
                if let Some(t) = since {
                    out.push(secs(now - t));
                }
            }
            ContextField::TaskEnded => {
                if a.and_then(|a| a.instance.as_ref()).is_some() {
                    let ended = self.context.task_end.is_some_and(|end| end <= now);
                    out.push(FieldValue::Bool(ended));
                }
            }
            ContextField::AfterTaskEnd => {
                if let Some(end) = self.context.task_end.filter(|end| *end <= now) {
                    out.push(secs(now - end));
                }
            }
            ContextField::InstanceAge => {
                if let Some(t) = self.context.instance_since {
                    out.push(secs(now - t));
                }
            }
            ContextField::SrcIp => opt(e.src_ip.as_ref(), out),
            ContextField::UserAgent => opt(e.user_agent.as_ref(), out),
            ContextField::Tenant => opt(e.tenant.as_ref(), out),
            ContextField::Approved => out.push(FieldValue::Bool(
                e.approval()
                    .is_some_and(delegraph_model::Approval::is_evidenced),
            )),
            ContextField::DecisionId => opt(
                e.approval()
                    .and_then(|x| x.decision_id.as_ref())
                    .or(e.decision.as_ref().map(|d| &d.decision_id)),
                out,
            ),
            ContextField::DecisionResult => {
                let allowed = match &e.decision {
                    Some(d) => d.allowed,
                    None => e.approval().and_then(|x| x.decision_allowed),
                };
                if let Some(ok) = allowed {
                    out.push(s(if ok { "allow" } else { "deny" }));
                }
            }
            ContextField::DecisionEngine => {
                if let Some(d) = &e.decision {
                    out.push(s(d.engine.as_str()));
                }
            }
            ContextField::EnvelopeId => opt(e.approval().and_then(|x| x.envelope_id.as_ref()), out),
            ContextField::TaskId => opt(e.approval().and_then(|x| x.task_id.as_ref()), out),
            ContextField::ApprovedBy => opt(e.approval().and_then(|x| x.approved_by.as_ref()), out),
            ContextField::EnvelopePurpose => {
                opt(e.approval().and_then(|x| x.purpose.as_ref()), out)
            }
            ContextField::InsideEnvelope => {
                if let Some(inside) = e.approval().and_then(|x| x.inside_envelope()) {
                    out.push(FieldValue::Bool(inside));
                }
            }
            ContextField::EnvelopeBreach => {
                if let Some(x) = e.approval() {
                    out.extend(x.breaches.iter().map(|b| s(&b.kind)));
                }
            }
            ContextField::ArgFromToolResult => {
                if e.tool.is_some() {
                    let from = !self.signals.from_tool_result.is_empty();
                    out.push(FieldValue::Bool(from));
                }
            }
            ContextField::ArgSourceTool => out.extend(
                self.signals
                    .from_tool_result
                    .iter()
                    .map(|o| s(&o.source_tool)),
            ),
            ContextField::ArgValueNew => {
                out.extend(self.signals.value_new.map(FieldValue::Bool));
            }
            ContextField::IntentMismatch => {
                out.extend(self.signals.intent_mismatch.map(FieldValue::Bool));
            }
        }
    }
}

/// A key of an object: exact first, then ignoring ASCII case (Sigma field
/// names are case-insensitive in practice: `ResultType` vs `resultType`).
fn get_key<'j>(v: &'j Json, key: &str) -> Option<&'j Json> {
    let map = v.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Follow `path` into `v`; lists along the way are searched element-wise,
/// and a key that itself holds dots (`gen_ai.tool.name`) is tried whole.
fn walk<'j>(v: &'j Json, path: &[String], out: &mut Vec<FieldValue<'j>>) {
    let Some((first, rest)) = path.split_first() else {
        leaf(v, out);
        return;
    };
    if let Json::Array(items) = v {
        for item in items {
            walk(item, path, out);
        }
        return;
    }
    if !rest.is_empty()
        && let Some(whole) = get_key(v, &path.join("."))
    {
        leaf(whole, out);
        return;
    }
    if let Some(next) = get_key(v, first) {
        walk(next, rest, out);
    }
}

fn leaf<'j>(v: &'j Json, out: &mut Vec<FieldValue<'j>>) {
    match v {
        Json::String(s) => out.push(FieldValue::Str(Cow::Borrowed(s.as_str()))),
        Json::Number(n) => out.push(FieldValue::Num(n.as_f64().unwrap_or(f64::NAN))),
        Json::Bool(b) => out.push(FieldValue::Bool(*b)),
        Json::Null => out.push(FieldValue::Null),
        Json::Array(items) => items.iter().for_each(|i| leaf(i, out)),
        Json::Object(_) => out.push(FieldValue::Str(Cow::Owned(v.to_string()))),
    }
}

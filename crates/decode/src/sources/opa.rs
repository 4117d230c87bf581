//! OPA decision logs: the JSON objects OPA's decision-log plugin sends to a
//! remote service (batches of them in an array) or prints to the console.
//!
//! The fixed part (`decision_id`, `timestamp`, `path`, `result`, `labels`,
//! `bundles`, `requested_by`, `erased`, `masked`) is read as OPA documents
//! it. `input` is whatever the deployment sends, so who asked, for which
//! agent instance, which tool on which resource, are read through an
//! [`OpaMapping`] of JSON pointers (`docs/formats/policy-decisions.md`).

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, Origin, Outcome, PolicyDecision, PolicyEngine,
    Principal, Source, Timestamp, ToolRef,
};
use serde::Deserialize;
use serde_json::Value;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::probe::{Key, Probe};
use crate::{
    DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, parse_value, push_resource,
    time_field,
};

/// Where in a decision-log entry the deployment keeps each fact. Each is a
/// list of JSON pointers into the whole entry, tried in order; the first
/// that holds a value wins. Set under `[decoders.opa]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpaMapping {
    /// Who asked (user, workload or agent principal).
    pub subject: Vec<String>,
    /// The logical agent.
    pub agent_id: Vec<String>,
    /// The agent instance the request came from.
    pub agent_instance: Vec<String>,
    /// The human the agent acts for.
    pub on_behalf_of: Vec<String>,
    /// The tool asked for.
    pub tool: Vec<String>,
    /// The action asked for (method, verb).
    pub action: Vec<String>,
    /// The resource asked about.
    pub resource: Vec<String>,
    /// The credential the request carried (token id).
    pub credential: Vec<String>,
    /// Scopes the request carried.
    pub scopes: Vec<String>,
    /// The decision: a boolean (or `"true"` / `"false"`).
    pub allowed: Vec<String>,
    /// Why: a string or a list of strings.
    pub reasons: Vec<String>,
    /// The label of `labels` that names the tenant.
    pub tenant_label: String,
}

fn ptrs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for OpaMapping {
    /// An agent gateway's input shape, OPA's HTTP API authorization example
    /// and Envoy `ext_authz`.
    fn default() -> Self {
        Self {
            subject: ptrs(&[
                "/input/subject/id",
                "/input/user",
                "/input/attributes/source/principal",
            ]),
            agent_id: ptrs(&["/input/agent/id", "/input/agent_id"]),
            agent_instance: ptrs(&["/input/agent/instance_id", "/input/agent_instance"]),
            on_behalf_of: ptrs(&["/input/subject/on_behalf_of", "/input/on_behalf_of"]),
            tool: ptrs(&["/input/tool/name", "/input/tool"]),
            action: ptrs(&[
                "/input/action",
                "/input/method",
                "/input/attributes/request/http/method",
            ]),
            resource: ptrs(&[
                "/input/resource/id",
                "/input/resource",
                "/input/path",
                "/input/attributes/request/http/path",
            ]),
            credential: ptrs(&["/input/token/jti", "/input/credential_id"]),
            scopes: ptrs(&["/input/token/scopes", "/input/scopes"]),
            allowed: ptrs(&["/result/allow", "/result/allowed", "/result"]),
            reasons: ptrs(&["/result/reasons", "/result/deny", "/result/reason"]),
            tenant_label: "tenant".into(),
        }
    }
}

/// Reads OPA decision-log entries through a mapping.
pub struct Opa {
    /// Where the deployment keeps the facts in `input`.
    pub mapping: OpaMapping,
}

/// The OPA decision log format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Opa,
    decoder: || {
        Box::new(Opa {
            mapping: OpaMapping::default(),
        })
    },
    link: crate::links::approval_record,
    sigma: &[SigmaLogSource {
        products: &["opa"],
        services: &["decision_logs", "decisions"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
struct Entry {
    decision_id: String,
    timestamp: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    requested_by: Option<String>,
    #[serde(default)]
    erased: Vec<String>,
    #[serde(default)]
    masked: Vec<String>,
    #[serde(default)]
    req_id: Option<Value>,
}

impl Opa {
    /// The first mapped pointer holding a value, skipping pointers the mask
    /// policy erased or masked (they are not evidence). An object or list
    /// at a pointer that is the parent of one tried before it (`/input/tool`
    /// after `/input/tool/name`) is that shape without the field, so the
    /// search goes on; any other value decides, and a value of the wrong
    /// type is an error naming the pointer, never a silent `None`.
    fn find<'v>(
        &self,
        v: &'v Value,
        pointers: &'v [String],
        hidden: &[String],
    ) -> Option<(&'v str, &'v Value)> {
        let mut tried: Vec<&str> = Vec::new();
        for p in pointers {
            if hidden.iter().any(|h| p.starts_with(h.as_str())) {
                tried.push(p);
                continue;
            }
            match crate::json::pointer(v, p) {
                None | Some(Value::Null) => {}
                Some(Value::Object(_) | Value::Array(_))
                    if tried.iter().any(|t| {
                        t.strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                    }) => {}
                Some(x) => return Some((p, x)),
            }
            tried.push(p);
        }
        None
    }

    fn wrong(pointer: &str, found: &Value, expected: &str) -> DecodeError {
        let kind = crate::json::kind_name(found);
        DecodeError::WrongType {
            format: Source::Opa,
            detail: format!(
                "{pointer}: expected {expected}, found {kind} (map another pointer under [decoders.opa] if the input differs)"
            ),
        }
    }

    /// A mapped text fact: a string (empty is absent).
    fn text(
        &self,
        v: &Value,
        pointers: &[String],
        hidden: &[String],
    ) -> Result<Option<String>, DecodeError> {
        match self.find(v, pointers, hidden) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
            Some((p, other)) => Err(Self::wrong(p, other, "a string")),
        }
    }

    /// A mapped list: strings, or one string separated by spaces or commas.
    fn list(
        &self,
        v: &Value,
        pointers: &[String],
        hidden: &[String],
    ) -> Result<Vec<String>, DecodeError> {
        match self.find(v, pointers, hidden) {
            None => Ok(Vec::new()),
            Some((p, Value::Array(a))) => a
                .iter()
                .filter(|x| !x.is_null())
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(Self::wrong(p, other, "a list of strings")),
                })
                .collect(),
            Some((_, Value::String(s))) => Ok(crate::json::split_list(s)),
            Some((p, other)) => Err(Self::wrong(p, other, "a string or a list of strings")),
        }
    }

    /// The decision: `None` when the result is a structure without a
    /// yes/no answer. An absent `result` is OPA's "undefined", which
    /// authorizers treat as deny.
    fn allowed(&self, v: &Value) -> Result<Option<bool>, DecodeError> {
        if v.get("result").is_none() {
            return Ok(Some(false));
        }
        match self.find(v, &self.mapping.allowed, &[]) {
            // A structured result without a yes/no field.
            None if v.get("result").is_some_and(Value::is_object) => Ok(None),
            None => Err(Self::wrong(
                "/result",
                &v["result"],
                "a boolean or an object",
            )),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((_, Value::String(s))) if s == "true" => Ok(Some(true)),
            Some((_, Value::String(s))) if s == "false" => Ok(Some(false)),
            Some((p, other)) => Err(Self::wrong(p, other, "a boolean")),
        }
    }
}

/// `[::1]:59943` / `10.0.0.7:4312` → the address without its port.
fn address(requested_by: &str) -> Option<String> {
    let s = requested_by.trim();
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').map(|(a, _)| a.to_owned());
    }
    match s.rsplit_once(':') {
        Some((a, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !a.contains(':') => {
            Some(a.to_owned())
        }
        _ if s.is_empty() => None,
        _ => Some(s.to_owned()),
    }
}

impl Decoder for Opa {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has(Key::DecisionId) && (p.has(Key::Path) || p.has(Key::Query))
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let v: Value = parse(Source::Opa, text)?;
        let entry: Entry = parse_value(Source::Opa, &v)?;
        let time = time_field(
            Source::Opa,
            "timestamp",
            Timestamp::parse_exported(&entry.timestamp),
        )?;
        let policy = entry
            .path
            .clone()
            .or_else(|| entry.query.clone())
            .unwrap_or_default();
        let mut e = base_event(
            Source::Opa,
            entry.decision_id.clone(),
            policy.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        let m = &self.mapping;
        let hidden: Vec<String> = entry.erased.iter().chain(&entry.masked).cloned().collect();
        e.category = Category::PolicyDecision;
        e.operation = format!("opa:{policy}");
        e.tenant = self.text(&v, &[format!("/labels/{}", m.tenant_label)], &[])?;
        e.src_ip = entry.requested_by.as_deref().and_then(address);
        e.trace.correlation_id = entry.req_id.as_ref().map(|r| match r {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });

        let agent_id = self.text(&v, &m.agent_id, &hidden)?;
        let instance = self.text(&v, &m.agent_instance, &hidden)?;
        let subject = self.text(&v, &m.subject, &hidden)?;
        e.agent.agent_id = agent_id.clone();
        e.agent.instance_id = instance.clone();
        let is_agent = agent_id.is_some() || instance.is_some();
        e.actor = Principal {
            id: subject
                .clone()
                .or_else(|| agent_id.clone())
                .or_else(|| instance.clone())
                .unwrap_or_else(|| "opa:unknown-subject".into()),
            name: None,
            vendor_type: Some("opa_input".into()),
        };
        (e.actor_kind, e.actor_kind_basis) = if is_agent {
            (ActorKind::Agent, "OPA input names an agent".into())
        } else {
            (ActorKind::Unknown, "OPA input names no agent".into())
        };
        if let Some(h) = self.text(&v, &m.on_behalf_of, &hidden)? {
            e.acts_for(e.actor.id.clone(), h);
        }
        let tool = self.text(&v, &m.tool, &hidden)?;
        let action = self.text(&v, &m.action, &hidden)?;
        if let Some(t) = &tool {
            e.tool = Some(ToolRef {
                name: t.clone(),
                ..ToolRef::default()
            });
        }
        if let Some(r) = self.text(&v, &m.resource, &hidden)? {
            push_resource(&mut e.resources, r, Some("opa_input_resource"), false);
        }
        if let Some(c) = self.text(&v, &m.credential, &hidden)? {
            e.use_credential(Credential::new(c, CredentialKind::OauthToken));
        }
        e.scopes = self.list(&v, &m.scopes, &hidden)?;

        let allowed = self.allowed(&v)?;
        let reasons = self.list(&v, &m.reasons, &hidden)?;
        e.outcome = match allowed {
            Some(true) => Outcome::Success,
            Some(false) => Outcome::Denied,
            None => Outcome::Unknown,
        };
        e.outcome_reason = if !reasons.is_empty() {
            Some(reasons.join("; "))
        } else if v.get("result").is_none() {
            Some("undefined decision".into())
        } else {
            None
        };
        let mut policies: Vec<String> = v
            .get("bundles")
            .and_then(Value::as_object)
            .map(|b| {
                b.iter()
                    .map(
                        |(name, x)| match x.get("revision").and_then(Value::as_str) {
                            Some(r) => format!("{name}@{r}"),
                            None => name.clone(),
                        },
                    )
                    .collect()
            })
            .unwrap_or_default();
        policies.sort();
        e.decision = Some(Box::new(PolicyDecision {
            decision_id: entry.decision_id,
            engine: PolicyEngine::Opa,
            policy,
            allowed,
            action: tool.or(action),
            policies,
        }));
        out.event(e)?;
        Ok(())
    }
}

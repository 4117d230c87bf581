//! MCP gateway logs in delegraph's documented JSON-lines shape
//! (`docs/formats/mcp-gateway.md`): one line per JSON-RPC exchange with the
//! request and, when it completed, the response, plus who made it.
//!
//! No vendor standard exists; this shape carries what the gateways agree on
//! (session, client, user, server, credential, decision) and keeps the
//! JSON-RPC messages verbatim, so an adapter from any gateway is a field map.

use delegraph_model::{
    ActorKind, Bind, Category, Credential, CredentialKind, Link, LinkHints, NormEvent, Origin,
    Outcome, Principal, Resolve, Source, Timestamp, ToolRef,
};
use serde::Deserialize;

use super::jsonrpc::{Request, Response};
use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::{Str, TextList, content_id};
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// The `schema` value that marks a delegraph MCP gateway line.
pub const MCP_SCHEMA: &str = "delegraph.mcp.v1";

/// The resource kind of the MCP server a call went through.
const SERVER_KIND: &str = "mcp_server";

/// Reads MCP gateway lines.
pub struct Mcp;

/// The MCP gateway line format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Mcp,
    decoder: || Box::new(Mcp),
    link,
    sigma: &[SigmaLogSource {
        products: &["ai_agent"],
        services: &["tool_calls", "mcp"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
struct Line<'a> {
    timestamp: String,
    session_id: String,
    #[serde(borrow)]
    request: Request<'a>,
    #[serde(default, borrow)]
    response: Option<Response<'a>>,
    #[serde(default)]
    client: Option<Client>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    server: Option<Server>,
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    decision: Str,
    #[serde(default)]
    tenant: Str,
}

#[derive(Deserialize, Default)]
struct Client {
    #[serde(default)]
    id: Str,
    #[serde(default)]
    name: Str,
    #[serde(default)]
    agent_id: Str,
    #[serde(default)]
    agent_instance: Str,
}

#[derive(Deserialize, Default)]
struct User {
    #[serde(default)]
    sub: Str,
    #[serde(default)]
    email: Str,
}

#[derive(Deserialize, Default)]
struct Server {
    #[serde(default)]
    name: Str,
    #[serde(default)]
    url: Str,
}

#[derive(Deserialize, Default)]
struct Auth {
    #[serde(default)]
    method: Str,
    #[serde(default)]
    credential_id: Str,
    #[serde(default)]
    scopes: TextList,
    #[serde(default)]
    act: Option<serde_json::Value>,
}

impl Decoder for Mcp {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.str(Key::Schema).as_deref() == Some(MCP_SCHEMA)
            || p.has_all(&[Key::SessionId, Key::Request])
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let l: Line = parse(Source::Mcp, text)?;
        let time = time_field(
            Source::Mcp,
            "timestamp",
            Timestamp::parse_rfc3339(&l.timestamp),
        )?;
        let rpc_id = l
            .request
            .id
            .owned()
            .unwrap_or_else(|| content_id(text.as_bytes()));
        let mut e = base_event(
            Source::Mcp,
            format!("{}:{rpc_id}", l.session_id),
            l.request.method.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.tenant = l.tenant.owned();
        e.trace.session_id = Some(l.session_id.clone());
        e.links.push(Link::SameTask {
            kind: crate::links::MCP_SESSION.into(),
            key: l.session_id.clone(),
        });
        let params = l.request.params.as_ref();
        let tool_name = params.and_then(|p| p.name.owned());
        e.operation = match &tool_name {
            Some(n) => format!("{}:{n}", l.request.method),
            None => l.request.method.clone(),
        };
        e.category = if l.request.method == "tools/call" {
            Category::ToolCall
        } else {
            Category::ApiCall
        };
        let meta = params.and_then(|p| p.meta.as_ref());
        e.trace.decision_id = meta.and_then(|m| m.decision_id.owned());
        if let Some(p) = params {
            p.trace_context_into(&mut e);
        }

        let client = l.client.unwrap_or_default();
        let agent_id = client.agent_id.owned().or_else(|| client.id.owned());
        e.agent.agent_id = agent_id.clone();
        e.agent.name = client.name.owned();
        e.agent.instance_id = client.agent_instance.owned();
        e.actor = Principal {
            id: agent_id.unwrap_or_else(|| format!("mcp-session:{}", l.session_id)),
            name: client.name.owned(),
            vendor_type: Some("mcp_client".into()),
        };
        e.actor_kind = ActorKind::Agent;
        e.actor_kind_basis = "MCP client making JSON-RPC calls".into();
        if let Some(u) = l
            .user
            .as_ref()
            .and_then(|u| u.email.owned().or_else(|| u.sub.owned()))
        {
            e.acts_for(e.actor.id.clone(), u);
        }
        let server = l.server.unwrap_or_default();
        if let Some(url) = server.url.get() {
            push_resource(&mut e.resources, url, Some(SERVER_KIND), false);
        }
        if let Some(uri) = params.and_then(|p| p.uri.get()) {
            push_resource(&mut e.resources, uri, Some("mcp_resource"), false);
        }
        if let Some(auth) = l.auth {
            e.scopes = auth.scopes.0;
            if let Some(act) = &auth.act {
                e.delegation_chain = super::okta::act_chain(act);
            }
            if let Some(cred) = auth.credential_id.owned() {
                let kind = match auth.method.get() {
                    Some("api_key") => CredentialKind::ApiKey,
                    Some("oauth2") => CredentialKind::OauthToken,
                    _ => CredentialKind::Other,
                };
                e.use_credential(Credential::new(cred, kind));
            }
        }

        let (outcome, reason, result) = outcome(l.response.as_ref(), l.decision.get());
        e.outcome = outcome;
        e.outcome_reason = reason;
        if let Some(name) = tool_name {
            e.tool = Some(ToolRef {
                name,
                call_id: l.request.id.owned(),
                server: server.name.owned().or_else(|| server.url.owned()),
                arguments: params.and_then(|p| p.arguments).map(|a| a.get().to_owned()),
                result,
            });
        }
        out.event(e)?;
        Ok(())
    }
}

/// A gateway's own refusal, else what the JSON-RPC response says.
fn outcome(
    response: Option<&Response<'_>>,
    decision: Option<&str>,
) -> (Outcome, Option<String>, Option<String>) {
    if matches!(decision, Some("deny" | "block" | "denied")) {
        return (
            Outcome::Denied,
            decision.map(|d| format!("gateway decision: {d}")),
            None,
        );
    }
    super::jsonrpc::outcome(response)
}

/// An MCP call as link hints: the trace context (`_meta.traceparent`) joins
/// it to the OTel span that made it; else its MCP session's instance; else
/// the client's instance id, else the session itself, starts one. The rest
/// of the session follows, and so do the credentials it presented.
fn link(e: &mut NormEvent) {
    let mut h = LinkHints {
        agent_runtime: true,
        ..LinkHints::default()
    };
    let session = crate::links::mcp_session_key(e.trace.session_id.as_deref().unwrap_or_default());
    if let (Some(t), Some(p)) = (&e.trace.trace_id, &e.trace.parent_span_id) {
        h.resolve.push(Resolve::ChildSpan {
            parent: format!("{t}:{p}"),
            basis: "traceparent of the calling span".into(),
        });
    }
    h.resolve.push(Resolve::Session {
        key: session.clone(),
        basis: "MCP session".into(),
    });
    h.resolve.push(Resolve::Instance {
        id: e
            .agent
            .instance_id
            .clone()
            .unwrap_or_else(|| session.clone()),
        human: e.on_behalf_of.clone(),
        aliases: Vec::new(),
        basis: "MCP client instance".into(),
    });
    h.bind.push(Bind::Session { key: session });
    // The gateway's server URL is how the call went, not what it touched.
    h.channels = e
        .resources
        .iter()
        .filter(|r| r.kind.as_deref() == Some(SERVER_KIND))
        .map(|r| r.id.clone())
        .collect();
    crate::links::bind_credentials(e, &mut h);
    e.hints = h;
}

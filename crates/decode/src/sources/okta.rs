//! Okta System Log `LogEvent`s (polling API and event hooks).
//!
//! Linking keys: token targets (`access_token`, `id_token`, `refresh_token`,
//! `id_jag`) carry `detailEntry.hash` and `expires`; a `User` target is the
//! human an agent (`WorkloadIdentityPrincipal`) acts for; a `detailEntry.actor`
//! holds an RFC 8693 `act` chain when the tenant logs it.

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, NormEvent, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, Promoted, RuleFields, SigmaLogSource};
use crate::json::{Str, TextList};
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// Reads Okta System Log events.
pub struct Okta;

/// The Okta System Log format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Okta,
    decoder: || Box::new(Okta),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["okta"],
        services: &["okta"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[("eventType", Promoted::EventType)],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    uuid: String,
    published: String,
    event_type: String,
    actor: Actor,
    #[serde(default)]
    client: Option<Client>,
    #[serde(default)]
    authentication_context: Option<AuthContext>,
    #[serde(default)]
    outcome: Option<OktaOutcome>,
    #[serde(default)]
    debug_context: Option<DebugContext>,
    #[serde(default)]
    transaction: Option<Transaction>,
    #[serde(default)]
    target: Option<Vec<Target>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Actor {
    id: String,
    #[serde(default, rename = "type")]
    kind: Str,
    #[serde(default)]
    alternate_id: Str,
    #[serde(default)]
    display_name: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Client {
    #[serde(default)]
    user_agent: Option<UserAgent>,
    #[serde(default)]
    ip_address: Str,
    #[serde(default)]
    id: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserAgent {
    #[serde(default)]
    raw_user_agent: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthContext {
    #[serde(default)]
    external_session_id: Str,
}

/// `outcome` is an object in real records and a bare string in some exports.
#[derive(Default)]
struct OktaOutcome {
    result: Option<String>,
    reason: Option<String>,
}

impl<'de> Deserialize<'de> for OktaOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Obj {
            #[serde(default)]
            result: Str,
            #[serde(default)]
            reason: Str,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Obj(Obj),
            Str(String),
        }
        Ok(match Option::<Either>::deserialize(d)? {
            Some(Either::Obj(o)) => OktaOutcome {
                result: o.result.owned(),
                reason: o.reason.owned(),
            },
            Some(Either::Str(s)) => OktaOutcome {
                result: Some(s),
                reason: None,
            },
            None => OktaOutcome::default(),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DebugContext {
    #[serde(default)]
    debug_data: Option<DebugData>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DebugData {
    #[serde(default)]
    grant_type: Str,
    #[serde(default)]
    requested_scopes: TextList,
    #[serde(default)]
    granted_scopes: TextList,
}

#[derive(Deserialize, Default)]
struct Transaction {
    #[serde(default)]
    id: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    id: Str,
    #[serde(default, rename = "type")]
    kind: Str,
    #[serde(default)]
    alternate_id: Str,
    #[serde(default)]
    detail_entry: Option<DetailEntry>,
}

#[derive(Deserialize, Default)]
struct DetailEntry {
    #[serde(default)]
    hash: Str,
    #[serde(default)]
    expires: Str,
    #[serde(default)]
    actor: Option<serde_json::Value>,
}

impl Decoder for Okta {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has_all(&[Key::Uuid, Key::EventType, Key::Published])
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let r: LogEvent = parse(Source::Okta, text)?;
        let time = time_field(
            Source::Okta,
            "published",
            Timestamp::parse_exported(&r.published),
        )?;
        let mut e = base_event(
            Source::Okta,
            r.uuid.clone(),
            r.event_type.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.operation = r.event_type.clone();
        e.category = category(&r.event_type);

        let a = &r.actor;
        let actor_id = a
            .alternate_id
            .get()
            .filter(|s| *s != "unknown")
            .unwrap_or(&a.id)
            .to_owned();
        let kind = a.kind.get().unwrap_or("");
        e.actor = Principal {
            id: actor_id,
            name: a.display_name.owned(),
            vendor_type: a.kind.owned(),
        };
        e.actor_kind = match kind {
            "User" => ActorKind::Human,
            "WorkloadIdentityPrincipal" | "WorkloadPrincipal" => ActorKind::Agent,
            "PublicClientApp" | "AppInstance" | "Client" | "ServiceClient" => {
                ActorKind::ServicePrincipal
            }
            "SystemPrincipal" => ActorKind::Service,
            _ => ActorKind::Unknown,
        };
        e.actor_kind_basis = format!("actor.type={kind}");

        if let Some(c) = &r.client {
            e.src_ip = c.ip_address.owned();
            e.user_agent = c.user_agent.as_ref().and_then(|u| u.raw_user_agent.owned());
            if let Some(client_id) = c.id.owned() {
                e.agent.agent_id = (e.actor_kind == ActorKind::Agent).then(|| client_id.clone());
                e.resources.push(delegraph_model::Resource {
                    id: client_id,
                    kind: Some("oauth_client".into()),
                    is_secret: false,
                });
            }
        }
        if e.actor_kind == ActorKind::Agent {
            e.agent.agent_id.get_or_insert_with(|| a.id.clone());
            e.agent.name = a.display_name.owned();
        }
        e.trace.session_id = r
            .authentication_context
            .as_ref()
            .and_then(|c| c.external_session_id.owned())
            .filter(|s| s != "unknown");
        e.trace.correlation_id = r.transaction.as_ref().and_then(|t| t.id.owned());

        if let Some(d) = r.debug_context.as_ref().and_then(|d| d.debug_data.as_ref()) {
            e.scopes = if d.granted_scopes.0.is_empty() {
                d.requested_scopes.0.clone()
            } else {
                d.granted_scopes.0.clone()
            };
            if let Some(g) = d.grant_type.get() {
                e.operation = format!("{}:{g}", r.event_type);
            }
        }

        targets(r.target.as_deref().unwrap_or_default(), time, &mut e);

        let (outcome, reason) = match &r.outcome {
            Some(o) => (o.result.as_deref(), o.reason.clone()),
            None => (None, None),
        };
        e.outcome = match outcome {
            Some("SUCCESS" | "ALLOW") => Outcome::Success,
            Some("FAILURE") => Outcome::Failure,
            Some("DENY") => Outcome::Denied,
            _ => Outcome::Unknown,
        };
        e.outcome_reason = reason;
        out.event(e)?;
        Ok(())
    }
}

const TOKEN_TYPES: [&str; 4] = ["access_token", "id_token", "refresh_token", "id_jag"];

fn targets(targets: &[Target], time: Timestamp, e: &mut NormEvent) {
    for t in targets {
        let kind = t.kind.get().unwrap_or("");
        let id = t.alternate_id.get().or(t.id.get()).unwrap_or("").to_owned();
        if kind == "User" && e.actor_kind != ActorKind::Human {
            if !id.is_empty() {
                e.acts_for(e.actor.id.clone(), id);
            }
        } else if TOKEN_TYPES.contains(&kind) {
            let detail = t.detail_entry.as_ref();
            let Some(token) = detail.and_then(|d| d.hash.owned()).or_else(|| t.id.owned()) else {
                continue;
            };
            let expires_at = detail
                .and_then(|d| d.expires.get())
                .and_then(|x| Timestamp::parse_exported(x).ok());
            if let Some(chain) = detail.and_then(|d| d.actor.as_ref()) {
                e.delegation_chain = act_chain(chain);
            }
            let credential = Credential {
                issued_at: Some(time),
                expires_at,
                ..Credential::new(token, CredentialKind::OauthToken)
            };
            e.issue_credential(credential, e.actor.id.clone());
        } else if !id.is_empty() {
            push_resource(
                &mut e.resources,
                id,
                Some(kind).filter(|k| !k.is_empty()),
                false,
            );
        }
    }
}

/// Unroll an RFC 8693 `act` claim into a chain, root (earliest actor) first:
/// the outermost `act` is the current actor, nested ones are prior actors.
pub(crate) fn act_chain(v: &serde_json::Value) -> Vec<String> {
    let mut chain = Vec::new();
    let mut cur = Some(v);
    while let Some(node) = cur {
        match node {
            serde_json::Value::String(s) => {
                chain.push(s.clone());
                cur = None;
            }
            serde_json::Value::Object(m) => {
                if let Some(sub) = m.get("sub").and_then(|s| s.as_str()) {
                    chain.push(sub.to_owned());
                }
                cur = m.get("act");
            }
            _ => cur = None,
        }
        if chain.len() > 32 {
            break;
        }
    }
    chain.reverse();
    chain
}

fn category(event_type: &str) -> Category {
    // Okta for AI Agents: an agent's own credentials (the event type
    // catalogue's `workload_principal.ai_agent.credential.*`).
    let agent_credential = event_type.starts_with("workload_principal.ai_agent.credential.");
    if event_type.contains(".token.grant")
        || event_type.contains(".as.authorize")
        || (agent_credential
            && (event_type.ends_with(".create") || event_type.ends_with(".activate")))
    {
        Category::CredentialIssue
    } else if event_type.contains(".token.revoke")
        || (agent_credential
            && (event_type.ends_with(".deactivate") || event_type.ends_with(".delete")))
    {
        Category::CredentialRevoke
    } else if event_type.starts_with("user.authentication")
        || event_type.starts_with("user.session.start")
    {
        Category::Authentication
    } else if event_type.contains("privilege.grant")
        || event_type.starts_with("group.user_membership.add")
        || event_type.starts_with("application.user_membership.add")
        || event_type.starts_with("iam.role")
        || event_type.starts_with("app.oauth2.as.scope")
        || event_type.starts_with("app.oauth2.scope")
        || event_type.starts_with("workload_principal.delegation_link.")
        || event_type == "resource.owner.update"
    {
        Category::PermissionChange
    } else {
        Category::ApiCall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_lifecycle_events_are_classified() {
        for (t, want) in [
            (
                "workload_principal.ai_agent.credential.create",
                Category::CredentialIssue,
            ),
            (
                "workload_principal.ai_agent.credential.activate",
                Category::CredentialIssue,
            ),
            (
                "workload_principal.ai_agent.credential.deactivate",
                Category::CredentialRevoke,
            ),
            (
                "workload_principal.ai_agent.credential.delete",
                Category::CredentialRevoke,
            ),
            ("app.oauth2.token.grant.id_jag", Category::CredentialIssue),
            (
                "workload_principal.delegation_link.create",
                Category::PermissionChange,
            ),
            ("resource.owner.update", Category::PermissionChange),
            ("workload_principal.ai_agent.update", Category::ApiCall),
        ] {
            assert_eq!(category(t), want, "{t}");
        }
    }

    #[test]
    fn act_chain_is_root_first() {
        let v = serde_json::json!({"sub":"service77","act":{"sub":"service16","act":{"sub":"service2"}}});
        assert_eq!(act_chain(&v), ["service2", "service16", "service77"]);
    }
}

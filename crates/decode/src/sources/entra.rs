//! Microsoft Entra sign-in logs: Graph `signIn` objects and the Azure Monitor
//! diagnostic shape (`{"category": "...SignInLogs", "properties": {...}}`).
//!
//! Linking keys: `uniqueTokenIdentifier` (the token's `uti`, equal to Graph
//! activity `SignInActivityId`); `servicePrincipalCredentialKeyId` (which
//! secret or certificate signed in); `agent.parentAppId` (an Agent ID's
//! blueprint); `userId` of a delegated agent sign-in (the human).

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, NormEvent, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::{Id, Str, TextList};
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// Reads Entra sign-in logs.
pub struct Entra;

/// The Entra sign-in log format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Entra,
    decoder: || Box::new(Entra),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["azure", "entra", "entra_id"],
        services: &["signinlogs", "signin", "sign_in"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &["properties"],
        aliases: &[],
    },
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Diagnostic {
    properties: SignIn,
    #[serde(default)]
    tenant_id: Str,
    #[serde(default)]
    category: Str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    id: String,
    created_date_time: String,
    #[serde(default)]
    app_id: Str,
    #[serde(default)]
    app_display_name: Str,
    #[serde(default)]
    service_principal_id: Str,
    #[serde(default)]
    service_principal_name: Str,
    #[serde(default)]
    service_principal_credential_key_id: Str,
    #[serde(default)]
    client_credential_type: Str,
    #[serde(default)]
    user_id: Str,
    #[serde(default)]
    user_principal_name: Str,
    #[serde(default)]
    user_display_name: Str,
    #[serde(default)]
    resource_id: Str,
    #[serde(default)]
    resource_display_name: Str,
    #[serde(default)]
    ip_address: Str,
    #[serde(default)]
    user_agent: Str,
    #[serde(default)]
    correlation_id: Str,
    #[serde(default)]
    session_id: Str,
    #[serde(default)]
    unique_token_identifier: Str,
    #[serde(default)]
    home_tenant_id: Str,
    #[serde(default)]
    resource_tenant_id: Str,
    #[serde(default)]
    sign_in_event_types: TextList,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    managed_service_identity: Option<ManagedIdentity>,
    #[serde(default)]
    agent: Option<AgentSignIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Status {
    /// An integer in Graph, a string in some exports.
    #[serde(default)]
    error_code: Id,
    #[serde(default)]
    failure_reason: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ManagedIdentity {
    #[serde(default)]
    msi_type: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AgentSignIn {
    #[serde(default)]
    agent_type: Str,
    #[serde(default)]
    parent_app_id: Str,
    #[serde(default)]
    agent_subject_type: Str,
}

/// Entra error codes where Conditional Access or policy refused the sign-in.
const DENIAL_CODES: [&str; 4] = ["53003", "53000", "530032", "50105"];

impl Decoder for Entra {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        let graph = p.has(Key::CreatedDateTime)
            && (p.has(Key::AppId)
                || p.has(Key::ServicePrincipalId)
                || p.has(Key::UserPrincipalName)
                || p.has(Key::SignInEventTypes));
        let diagnostic = p.has(Key::Properties)
            && p.str(Key::Category)
                .is_some_and(|c| c.ends_with("SignInLogs"));
        graph || diagnostic
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let (s, tenant, category) = if Probe::of(text)?.has(Key::Properties) {
            let d: Diagnostic = parse(Source::Entra, text)?;
            (d.properties, d.tenant_id.owned(), d.category.owned())
        } else {
            (parse::<SignIn>(Source::Entra, text)?, None, None)
        };
        let time = time_field(
            Source::Entra,
            "createdDateTime",
            Timestamp::parse_exported(&s.created_date_time),
        )?;
        let event_type = category
            .or_else(|| {
                s.sign_in_event_types
                    .0
                    .first()
                    .map(|t| format!("signIn:{t}"))
            })
            .unwrap_or_else(|| "signIn".into());
        let mut e = base_event(
            Source::Entra,
            s.id.clone(),
            event_type,
            time,
            origin,
            out.raw_text(text),
        );
        e.category = Category::Authentication;
        e.tenant = tenant
            .or_else(|| s.resource_tenant_id.owned())
            .or_else(|| s.home_tenant_id.owned());
        let resource = s
            .resource_display_name
            .owned()
            .or_else(|| s.resource_id.owned());
        e.operation = format!("signIn:{}", resource.as_deref().unwrap_or("unknown"));
        if let Some(r) = s.resource_id.get() {
            push_resource(&mut e.resources, r, Some("entra_resource"), false);
        }
        e.src_ip = s.ip_address.owned();
        e.user_agent = s.user_agent.owned();
        e.trace.correlation_id = s.correlation_id.owned();
        e.trace.session_id = s.session_id.owned();

        actor(&s, &mut e);

        if let Some(key) = s.service_principal_credential_key_id.owned() {
            e.use_credential(Credential::new(key, CredentialKind::ClientSecret));
        }
        if let Some(uti) = s.unique_token_identifier.owned() {
            let credential = Credential {
                issued_at: Some(time),
                ..Credential::new(uti, CredentialKind::SessionToken)
            };
            e.issue_credential(credential, e.actor.id.clone());
        }
        let code = s.status.as_ref().and_then(|st| st.error_code.owned());
        (e.outcome, e.outcome_reason) = match code.as_deref() {
            None => (Outcome::Unknown, None),
            Some("0") => (Outcome::Success, None),
            Some(c) => {
                let reason = s.status.as_ref().and_then(|st| st.failure_reason.owned());
                let text = Some(match reason {
                    Some(r) => format!("{c}: {r}"),
                    None => c.to_owned(),
                });
                if DENIAL_CODES.contains(&c) {
                    (Outcome::Denied, text)
                } else {
                    (Outcome::Failure, text)
                }
            }
        };
        out.event(e)?;
        Ok(())
    }
}

fn actor(s: &SignIn, e: &mut NormEvent) {
    let agent_type = s
        .agent
        .as_ref()
        .and_then(|a| a.agent_type.get().or(a.agent_subject_type.get()))
        .filter(|t| *t != "notAgentic");
    let is_sp = s.service_principal_id.get().is_some() || s.user_id.get().is_none();
    let app = s.app_id.owned();
    if let Some(agent_type) = agent_type {
        // An agent: with a user it signs in for that user (OBO), without one
        // it acts on its own.
        let id = s
            .service_principal_id
            .owned()
            .or_else(|| app.clone())
            .unwrap_or_else(|| "entra:agent:unknown".into());
        e.actor = Principal {
            id,
            name: s
                .service_principal_name
                .owned()
                .or_else(|| s.app_display_name.owned()),
            vendor_type: Some(agent_type.to_owned()),
        };
        e.actor_kind = ActorKind::Agent;
        e.actor_kind_basis = format!("agent.agentType={agent_type}");
        e.agent.agent_id = s
            .agent
            .as_ref()
            .and_then(|a| a.parent_app_id.owned())
            .or_else(|| app.clone());
        e.agent.name = e.actor.name.clone();
        if let Some(user) = s.user_principal_name.owned().or_else(|| s.user_id.owned()) {
            e.acts_for(e.actor.id.clone(), user);
        }
    } else if is_sp {
        let msi = s
            .managed_service_identity
            .as_ref()
            .and_then(|m| m.msi_type.get())
            .filter(|t| *t != "none");
        e.actor = Principal {
            id: s
                .service_principal_id
                .owned()
                .or_else(|| app.clone())
                .unwrap_or_else(|| "entra:sp:unknown".into()),
            name: s
                .service_principal_name
                .owned()
                .or_else(|| s.app_display_name.owned()),
            vendor_type: Some(
                if msi.is_some() {
                    "managedIdentity"
                } else {
                    "servicePrincipal"
                }
                .into(),
            ),
        };
        (e.actor_kind, e.actor_kind_basis) = match msi {
            Some(t) => (
                ActorKind::Workload,
                format!("managedServiceIdentity.msiType={t}"),
            ),
            None => (
                ActorKind::ServicePrincipal,
                "servicePrincipalId present, no user".into(),
            ),
        };
        e.agent.agent_id = app;
    } else {
        e.actor = Principal {
            id: s
                .user_principal_name
                .owned()
                .or_else(|| s.user_id.owned())
                .unwrap_or_default(),
            name: s.user_display_name.owned(),
            vendor_type: Some("user".into()),
        };
        e.actor_kind = ActorKind::Human;
        e.actor_kind_basis = "user sign-in without agent facet".into();
        if let Some(app) = s.app_display_name.owned().or(app) {
            push_resource(&mut e.resources, app, Some("entra_client_app"), false);
        }
    }
    if let Some(t) = s.client_credential_type.get().filter(|t| *t != "none") {
        e.scopes.push(format!("client_credential:{t}"));
    }
}

//! Google Workspace Reports API activities (`admin#reports#activity`).
//!
//! One activity can hold several `events[]`; each becomes an event. Linking
//! keys: the token `authorize` event's `client_id` is the OAuth app (often an
//! agent) the human granted scopes to; later activity by that app carries
//! `actor.applicationInfo.oauthClientId`.

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, NormEvent, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::{Id, OneOrMany, Str, TextList};
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// Reads Google Workspace Reports API activities.
pub struct GoogleWorkspace;

/// The Google Workspace activity format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::GoogleWorkspace,
    decoder: || Box::new(GoogleWorkspace),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["google_workspace", "gcp"],
        services: &["google_workspace*", "gworkspace"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity {
    id: ActivityId,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    ip_address: Str,
    events: OneOrMany<Event>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityId {
    time: String,
    unique_qualifier: Str,
    application_name: String,
    #[serde(default)]
    customer_id: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Actor {
    #[serde(default)]
    caller_type: Str,
    #[serde(default)]
    email: Str,
    #[serde(default)]
    profile_id: Id,
    #[serde(default)]
    key: Str,
    #[serde(default)]
    application_info: Option<ApplicationInfo>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ApplicationInfo {
    #[serde(default)]
    oauth_client_id: Str,
    #[serde(default)]
    application_name: Str,
    #[serde(default)]
    impersonation: Option<bool>,
}

#[derive(Deserialize)]
struct Event {
    name: String,
    #[serde(default, rename = "type")]
    kind: Str,
    #[serde(default)]
    parameters: Vec<Parameter>,
}

/// Parameters are typed: one of `value`, `intValue`, `boolValue`,
/// `multiValue`, `multiIntValue` (message values are not read).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameter {
    name: String,
    /// A string in the Reports API; a number in some exports.
    #[serde(default)]
    value: Id,
    #[serde(default)]
    int_value: Id,
    #[serde(default)]
    bool_value: Option<bool>,
    #[serde(default)]
    multi_value: TextList,
    #[serde(default)]
    multi_int_value: TextList,
}

impl Parameter {
    fn text(&self) -> Option<String> {
        self.value
            .owned()
            .or_else(|| self.int_value.owned())
            .or_else(|| self.bool_value.map(|b| b.to_string()))
    }
    fn list(&self) -> Vec<String> {
        let mut v = self.multi_value.0.clone();
        v.extend(self.multi_int_value.0.iter().cloned());
        v.extend(self.text());
        v
    }
}

/// Parameter names that name something touched (compared without case:
/// the admin application writes them upper-case).
const RESOURCE_PARAMS: [&str; 8] = [
    "doc_id",
    "target_user",
    "user_email",
    "group_email",
    "role_name",
    "calendar_id",
    "resource_name",
    "setting_name",
];

impl Decoder for GoogleWorkspace {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.str(Key::Kind).as_deref() == Some("admin#reports#activity")
            || p.has_all(&[Key::Id, Key::Events, Key::Actor]) && !p.has(Key::Action)
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let a: Activity = parse(Source::GoogleWorkspace, text)?;
        let time = time_field(
            Source::GoogleWorkspace,
            "id.time",
            Timestamp::parse_exported(&a.id.time),
        )?;
        let app = a.id.application_name.as_str();
        let qualifier =
            a.id.unique_qualifier
                .owned()
                .unwrap_or_else(|| a.id.time.clone());
        let many = a.events.0.len() > 1;
        for (i, ev) in a.events.0.iter().enumerate() {
            let id = if many {
                format!("{qualifier}#{i}")
            } else {
                qualifier.clone()
            };
            let mut e = base_event(
                Source::GoogleWorkspace,
                id,
                ev.name.clone(),
                time,
                origin,
                out.raw_text(text),
            );
            e.operation = format!("{app}:{}", ev.name);
            e.tenant = a.id.customer_id.owned();
            e.src_ip = a.ip_address.owned();
            e.outcome = Outcome::Success;
            actor(a.actor.as_ref(), &mut e);
            parameters(app, ev, time, &mut e);
            e.category = category(app, &ev.name, ev.kind.get());
            out.event(e)?;
        }
        Ok(())
    }
}

fn actor(a: Option<&Actor>, e: &mut NormEvent) {
    let Some(a) = a else {
        e.actor.id = "gws:unknown".into();
        e.actor_kind_basis = "no actor".into();
        return;
    };
    let email = a.email.owned().or_else(|| a.profile_id.owned());
    let client = a
        .application_info
        .as_ref()
        .and_then(|i| i.oauth_client_id.owned());
    if let Some(client) = client {
        let info = a.application_info.as_ref();
        e.actor = Principal {
            id: client.clone(),
            name: info.and_then(|i| i.application_name.owned()),
            vendor_type: Some("oauth_client".into()),
        };
        e.actor_kind = ActorKind::ServicePrincipal;
        e.actor_kind_basis = "actor.applicationInfo.oauthClientId present".into();
        e.agent.agent_id = Some(client.clone());
        e.agent.name = e.actor.name.clone();
        e.use_credential(Credential::new(client, CredentialKind::OauthToken));
        if let Some(user) = email {
            if info.and_then(|i| i.impersonation) == Some(true) {
                e.delegation_chain = vec![user.clone(), e.actor.id.clone()];
            }
            e.acts_for(e.actor.id.clone(), user);
        }
    } else if a.caller_type.get() == Some("KEY") {
        e.actor = Principal {
            id: a.key.owned().unwrap_or_else(|| "gws:key".into()),
            name: None,
            vendor_type: Some("KEY".into()),
        };
        e.actor_kind = ActorKind::ServicePrincipal;
        e.actor_kind_basis = "actor.callerType=KEY".into();
    } else {
        e.actor = Principal {
            id: email.unwrap_or_else(|| "gws:unknown".into()),
            name: None,
            vendor_type: a.caller_type.owned(),
        };
        e.actor_kind = ActorKind::Human;
        e.actor_kind_basis = "actor.callerType=USER".into();
    }
}

fn parameters(app: &str, ev: &Event, time: Timestamp, e: &mut NormEvent) {
    for p in &ev.parameters {
        match p.name.as_str() {
            "scope" => e.scopes.extend(p.list()),
            "client_id" if app == "token" => {
                let Some(client) = p.text() else { continue };
                if ev.name == "authorize" {
                    // A human granted this OAuth app the listed scopes.
                    let credential = Credential {
                        issued_at: Some(time),
                        ..Credential::new(client.clone(), CredentialKind::OauthToken)
                    };
                    e.issue_credential(credential, client.clone());
                    e.agent.agent_id = Some(client.clone());
                }
                push_resource(&mut e.resources, client, Some("oauth_client"), false);
            }
            name if RESOURCE_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(name)) => {
                let kind = name.to_ascii_lowercase();
                for v in p.list() {
                    push_resource(&mut e.resources, v, Some(&kind), false);
                }
            }
            _ => {}
        }
    }
}

fn category(app: &str, name: &str, kind: Option<&str>) -> Category {
    match (app, name) {
        ("token", "authorize") => Category::CredentialIssue,
        ("token", "revoke") => Category::CredentialRevoke,
        ("login", _) => Category::Authentication,
        ("admin", n)
            if n.contains("PRIVILEGE")
                || n.contains("ROLE")
                || n.starts_with("AUTHORIZE_API_CLIENT_ACCESS")
                || n.contains("ADMIN") =>
        {
            Category::PermissionChange
        }
        ("drive", n)
            if n.contains("acl") || n.contains("permission") || kind == Some("acl_change") =>
        {
            Category::PermissionChange
        }
        _ => Category::ApiCall,
    }
}

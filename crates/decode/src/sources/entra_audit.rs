//! Microsoft Entra ID audit logs: directory changes (applications,
//! service principals, roles, consent, users, devices), as Microsoft Graph
//! returns them (`directoryAudit`) or as an Azure Monitor diagnostic
//! setting delivers them (`category: "AuditLogs"`, the same fields under
//! `properties`).
//!
//! Identity knowledge: `initiatedBy` names a user or an application (its
//! service principal id is the one Entra sign-ins give it). Credentials
//! added to an application or service principal are issued to the target
//! (`KeyDescription`'s `KeyIdentifier`), so "credential outlives the task"
//! and the issuance links work for Entra applications and agents.
//!
//! Entra Agent ID: `agentType` on `initiatedBy.app`, `initiatedBy.user`,
//! `performedBy` and each target says which identity is an agent (a
//! blueprint `agenticApp`, its principal, an agent identity
//! `agenticAppInstance`, an agent's user account `agentIDuser`), and
//! `blueprintId` which blueprint it was made from. An agentic actor is an
//! agent whose logical agent is its blueprint, with the chain blueprint →
//! agent identity (→ its user account); a `performedBy` agent under a
//! human `initiatedBy.user` is the agent acting for that human.

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, NormEvent, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::Str;
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// Reads Entra ID audit log records.
pub struct EntraAudit;

/// The Entra ID audit log format: its decoder, link hints, Sigma log
/// sources and rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::EntraAudit,
    decoder: || Box::new(EntraAudit),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["azure", "entra", "entra_id"],
        services: &["auditlogs", "audit"],
        product_alone: false,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &["properties"],
        // SigmaHQ's names: Log Analytics' `AuditLogs` columns (capitalised)
        // and `properties.message` for the activity's display name.
        aliases: &[
            ("properties.message", "properties.activityDisplayName"),
            ("properties.message", "activityDisplayName"),
            ("OperationName", "properties.activityDisplayName"),
            ("OperationName", "activityDisplayName"),
            ("ActivityDisplayName", "properties.activityDisplayName"),
            ("Category", "properties.category"),
            ("Status", "properties.result"),
            ("Status", "result"),
            ("LoggedByService", "properties.loggedByService"),
            ("TargetResources", "properties.targetResources"),
            ("InitiatedBy", "properties.initiatedBy"),
        ],
    },
};

/// The diagnostic record around the audit.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Diagnostic {
    #[serde(default)]
    caller_ip_address: Str,
    #[serde(default)]
    tenant_id: Str,
    properties: Audit,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Audit {
    id: String,
    activity_date_time: String,
    activity_display_name: String,
    #[serde(default)]
    category: Str,
    #[serde(default)]
    result: Str,
    #[serde(default)]
    result_reason: Str,
    #[serde(default)]
    logged_by_service: Str,
    #[serde(default)]
    initiated_by: Option<InitiatedBy>,
    #[serde(default)]
    performed_by: Option<Performer>,
    #[serde(default)]
    target_resources: Vec<Target>,
}

/// `auditActivityPerformer`: the agent that carried out the activity.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Performer {
    #[serde(default)]
    agent_type: Str,
    #[serde(default)]
    app_id: Str,
    #[serde(default)]
    blueprint_id: Str,
}

#[derive(Deserialize, Default)]
struct InitiatedBy {
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    app: Option<App>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct User {
    #[serde(default)]
    id: Str,
    #[serde(default)]
    user_principal_name: Str,
    #[serde(default)]
    display_name: Str,
    #[serde(default)]
    ip_address: Str,
    #[serde(default)]
    agent_type: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct App {
    #[serde(default)]
    app_id: Str,
    #[serde(default)]
    display_name: Str,
    #[serde(default)]
    service_principal_id: Str,
    #[serde(default)]
    agent_type: Str,
    #[serde(default)]
    blueprint_id: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    id: Str,
    /// `type`; the Graph documentation's example writes `Type`.
    #[serde(default, rename = "type", alias = "Type")]
    kind: Str,
    #[serde(default)]
    user_principal_name: Str,
    #[serde(default)]
    modified_properties: Vec<Modified>,
    #[serde(default)]
    agent_type: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Modified {
    #[serde(default)]
    display_name: Str,
    #[serde(default)]
    old_value: Str,
    #[serde(default)]
    new_value: Str,
}

impl Decoder for EntraAudit {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        let graph = p.has_all(&[Key::ActivityDisplayName, Key::ActivityDateTime]);
        let diagnostic =
            p.has(Key::Properties) && p.str(Key::Category).as_deref() == Some("AuditLogs");
        graph || diagnostic
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let delivered = super::azure_monitor::category(Source::EntraAudit, text)?;
        let (a, ip, tenant) = if delivered.as_deref() == Some("AuditLogs") {
            let d: Diagnostic = parse(Source::EntraAudit, text)?;
            (
                d.properties,
                d.caller_ip_address.owned(),
                d.tenant_id.owned(),
            )
        } else {
            (parse::<Audit>(Source::EntraAudit, text)?, None, None)
        };
        let time = time_field(
            Source::EntraAudit,
            "activityDateTime",
            Timestamp::parse_exported(&a.activity_date_time),
        )?;
        let mut e = base_event(
            Source::EntraAudit,
            a.id.clone(),
            a.activity_display_name.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.operation = format!(
            "{}:{}",
            a.logged_by_service.get().unwrap_or("entra"),
            a.activity_display_name
        );
        e.tenant = tenant;
        e.src_ip = ip;
        e.outcome = match a.result.get() {
            Some(r) if r.eq_ignore_ascii_case("success") => Outcome::Success,
            Some(r) if r.eq_ignore_ascii_case("failure") => Outcome::Failure,
            _ => Outcome::Unknown,
        };
        e.outcome_reason = a
            .result_reason
            .owned()
            .filter(|_| e.outcome == Outcome::Failure);
        actor(a.initiated_by.as_ref(), &mut e);
        if let Some(p) = a.performed_by.as_ref() {
            performer(p, &mut e);
        }
        for t in &a.target_resources {
            let id = t.user_principal_name.owned().or_else(|| t.id.owned());
            if let Some(id) = id {
                // An agent identity, blueprint or agent user is named so.
                let kind = agentic(&t.agent_type).or(t.kind.get());
                push_resource(&mut e.resources, id, kind, false);
            }
        }
        e.category = category(&a);
        if e.category == Category::CredentialIssue && e.outcome != Outcome::Failure {
            // "Certificates and secrets management" also logs removals:
            // only keys that appeared were issued.
            if issued_keys(&a, time, &mut e) == 0 && removed_keys(&a) {
                e.category = Category::CredentialRevoke;
            }
        }
        out.event(e)?;
        Ok(())
    }
}

fn actor(by: Option<&InitiatedBy>, e: &mut NormEvent) {
    let user = by.and_then(|b| b.user.as_ref());
    let app = by.and_then(|b| b.app.as_ref());
    if let Some(u) = user.filter(|u| u.user_principal_name.get().is_some() || u.id.get().is_some())
    {
        e.actor = Principal {
            id: u
                .user_principal_name
                .owned()
                .or_else(|| u.id.owned())
                .unwrap_or_default(),
            name: u.display_name.owned(),
            vendor_type: Some("user".into()),
        };
        (e.actor_kind, e.actor_kind_basis) = match agentic(&u.agent_type) {
            Some(t) => (ActorKind::Agent, format!("initiatedBy.user.agentType={t}")),
            None => (ActorKind::Human, "initiatedBy.user".into()),
        };
        e.src_ip = u.ip_address.owned().or(e.src_ip.take());
    } else if let Some(a) = app {
        e.actor = Principal {
            id: a
                .service_principal_id
                .owned()
                .or_else(|| a.app_id.owned())
                .or_else(|| a.display_name.owned())
                .unwrap_or_else(|| "entra:app:unknown".into()),
            name: a.display_name.owned(),
            vendor_type: Some("servicePrincipal".into()),
        };
        e.agent.agent_id = a.app_id.owned();
        match agentic(&a.agent_type) {
            Some(t) => {
                e.actor_kind = ActorKind::Agent;
                e.actor_kind_basis = format!("initiatedBy.app.agentType={t}");
                blueprint_chain(a.blueprint_id.owned(), e);
            }
            None => {
                e.actor_kind = ActorKind::ServicePrincipal;
                e.actor_kind_basis = "initiatedBy.app".into();
            }
        }
    } else {
        e.actor.id = "entra:unknown".into();
        e.actor_kind_basis = "no initiatedBy".into();
    }
}

/// An `agentType` that names an agent (anything but `notAgentic`).
fn agentic(agent_type: &Str) -> Option<&str> {
    agent_type.get().filter(|t| *t != "notAgentic")
}

/// The logical agent of an agentic actor is its blueprint, and its chain
/// runs from the blueprint to the actor.
pub(super) fn blueprint_chain(blueprint: Option<String>, e: &mut NormEvent) {
    if let Some(b) = blueprint {
        e.delegation_chain = vec![b.clone(), e.actor.id.clone()];
        e.agent.agent_id = Some(b);
    }
}

/// The agent that performed the activity: when a human initiated it, the
/// agent acted for them; when the initiator is the agent itself (or its
/// user account), the performer adds its blueprint.
fn performer(p: &Performer, e: &mut NormEvent) {
    let (Some(t), Some(app)) = (agentic(&p.agent_type), p.app_id.owned()) else {
        return;
    };
    if e.actor_kind == ActorKind::Human {
        let human = e.actor.id.clone();
        e.actor = Principal {
            id: app.clone(),
            name: None,
            vendor_type: Some(t.to_owned()),
        };
        e.actor_kind = ActorKind::Agent;
        e.actor_kind_basis = format!("performedBy.agentType={t}");
        e.agent.agent_id = Some(app.clone());
        e.delegation_chain = vec![app.clone()];
        e.acts_for(app, human);
    } else if e.actor_kind == ActorKind::Agent && e.delegation_chain.is_empty() {
        e.delegation_chain = vec![app, e.actor.id.clone()];
    }
    if let Some(b) = p.blueprint_id.owned() {
        e.agent.agent_id = Some(b.clone());
        if e.delegation_chain.first() != Some(&b) {
            e.delegation_chain.insert(0, b);
        }
    }
}

/// What kind of directory change the activity is, by its display name
/// and category.
fn category(a: &Audit) -> Category {
    let name = a.activity_display_name.to_ascii_lowercase();
    let credentials = name.contains("credentials") || name.contains("certificates and secrets");
    if credentials && name.starts_with("remove") {
        Category::CredentialRevoke
    } else if credentials {
        Category::CredentialIssue
    } else if a.category.get() == Some("RoleManagement")
        || ["role", "consent", "owner", "permission grant"]
            .iter()
            .any(|w| name.contains(w))
    {
        Category::PermissionChange
    } else {
        Category::ApiCall
    }
}

/// The `KeyDescription` changes of each target: (target id, old key
/// ids, new key ids).
fn key_changes(a: &Audit) -> impl Iterator<Item = (Option<String>, Vec<String>, Vec<String>)> {
    a.target_resources.iter().flat_map(|t| {
        t.modified_properties
            .iter()
            .filter(|m| m.display_name.get() == Some("KeyDescription"))
            .map(|m| {
                let ids = |v: &Str| v.get().map(key_identifiers).unwrap_or_default();
                (t.id.owned(), ids(&m.old_value), ids(&m.new_value))
            })
    })
}

/// Issue each key of a target's new `KeyDescription` that its old one
/// lacks to the target application or service principal; how many.
fn issued_keys(a: &Audit, time: Timestamp, e: &mut NormEvent) -> usize {
    let mut issued = 0;
    for (to, old, new) in key_changes(a) {
        let Some(to) = to else { continue };
        for key in new.into_iter().filter(|k| !old.contains(k)) {
            let c = Credential {
                issued_at: Some(time),
                ..Credential::new(key, CredentialKind::ClientSecret)
            };
            e.issue_credential(c, to.clone());
            issued += 1;
        }
    }
    issued
}

/// Whether some target's old `KeyDescription` has a key its new one lacks.
fn removed_keys(a: &Audit) -> bool {
    key_changes(a).any(|(_, old, new)| old.iter().any(|k| !new.contains(k)))
}

/// The `KeyIdentifier=…` values of a `KeyDescription` text.
fn key_identifiers(text: &str) -> Vec<String> {
    text.split("KeyIdentifier=")
        .skip(1)
        .filter_map(|rest| rest.split([',', ']']).next())
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

//! Microsoft 365 unified audit log records as the Office 365 Management
//! Activity API returns them (a content blob is a JSON array of records in
//! the API's common schema: `Id`, `CreationTime` in UTC without a zone,
//! `Operation`, `RecordType`, `Workload`, `UserId`, `UserType`, `ClientIP`,
//! `ResultStatus`, `ObjectId`, `OrganizationId`).
//!
//! Microsoft 365 Copilot interactions (`CopilotInteraction`, record type
//! 261) are agent turns: the user's Copilot (or the Copilot agent the
//! record names, `AgentId`) acted for the user in the thread `ThreadId`,
//! reading the resources in `AccessedResources` (those with a sensitivity
//! label are kept as labelled documents) through the plugins in `AISystemPlugin`.
//!
//! Linking keys: the thread of a Copilot interaction is its instance; other
//! records are their principal's (a user acts directly; an application or
//! service principal is its own instance).

use delegraph_model::{ActorKind, Category, Origin, Outcome, Principal, Source};
use serde::Deserialize;

use crate::format::{FormatInfo, Promoted, RuleFields, SigmaLogSource};
use crate::json::{Id, Str, non_empty};
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// Reads Microsoft 365 unified audit log records.
pub struct M365Audit;

/// The Microsoft 365 unified audit log format: its decoder, link hints,
/// Sigma log sources and rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::M365Audit,
    decoder: || Box::new(M365Audit),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["m365"],
        services: &["audit", "exchange", "threat_detection", "threat_management"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[("Operation", Promoted::EventType)],
        wrappers: &[],
        // SigmaHQ's exchange and threat rules name the workload, operation
        // and result as `eventSource`, `eventName` and `status`.
        aliases: &[
            ("eventSource", "Workload"),
            ("eventName", "Operation"),
            ("status", "ResultStatus"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    #[serde(deserialize_with = "non_empty")]
    id: String,
    creation_time: String,
    #[serde(deserialize_with = "non_empty")]
    operation: String,
    #[serde(default)]
    workload: Str,
    #[serde(default)]
    user_id: Str,
    #[serde(default)]
    user_key: Str,
    /// The API's `User Type` enumeration, a number (see [`actor_kind`]).
    #[serde(default)]
    user_type: Id,
    #[serde(default, rename = "ClientIP")]
    client_ip: Str,
    #[serde(default, rename = "ClientIPAddress")]
    client_ip_address: Str,
    #[serde(default)]
    actor_ip_address: Str,
    #[serde(default)]
    result_status: Str,
    #[serde(default)]
    object_id: Str,
    #[serde(default)]
    organization_id: Str,
    #[serde(default)]
    app_id: Str,
    #[serde(default)]
    client_app_id: Str,
    #[serde(default)]
    application_id: Str,
    #[serde(default)]
    user_agent: Str,
    #[serde(default)]
    copilot_event_data: Option<CopilotEventData>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CopilotEventData {
    #[serde(default)]
    app_host: Str,
    #[serde(default)]
    thread_id: Str,
    #[serde(default, alias = "AgentID")]
    agent_id: Str,
    #[serde(default)]
    agent_name: Str,
    #[serde(default)]
    accessed_resources: Vec<AccessedResource>,
    #[serde(default)]
    contexts: Vec<Context>,
    #[serde(default, rename = "AISystemPlugin")]
    plugins: Vec<Plugin>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessedResource {
    #[serde(default)]
    id: Str,
    #[serde(default)]
    site_url: Str,
    #[serde(default)]
    sensitivity_label_id: Str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Context {
    #[serde(default)]
    id: Str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Plugin {
    #[serde(default)]
    id: Str,
}

impl Decoder for M365Audit {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has_all(&[Key::CreationTime, Key::Operation])
            && (p.has(Key::RecordType) || p.has(Key::Workload))
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let r: Record = parse(Source::M365Audit, text)?;
        let time = time_field(
            Source::M365Audit,
            "CreationTime",
            delegraph_model::Timestamp::parse_exported(&r.creation_time),
        )?;
        let mut e = base_event(
            Source::M365Audit,
            r.id.clone(),
            r.operation.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.operation = match r.workload.get() {
            Some(w) => format!("{w}:{}", r.operation),
            None => r.operation.clone(),
        };
        e.tenant = r.organization_id.owned();
        e.src_ip = r
            .client_ip
            .owned()
            .or_else(|| r.client_ip_address.owned())
            .or_else(|| r.actor_ip_address.owned());
        e.user_agent = r.user_agent.owned();
        e.category = category(&r.operation);
        e.outcome = match r
            .result_status
            .get()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("success" | "succeeded" | "partiallysucceeded" | "true") => Outcome::Success,
            Some("failed" | "failure" | "false") => Outcome::Failure,
            _ => Outcome::Unknown,
        };
        let user = r.user_id.owned().or_else(|| r.user_key.owned());
        let app = r
            .app_id
            .owned()
            .or_else(|| r.client_app_id.owned())
            .or_else(|| r.application_id.owned());
        let (kind, basis) = actor_kind(r.user_type.get());
        e.actor = Principal {
            id: user.clone().unwrap_or_else(|| "m365:unknown".into()),
            name: None,
            vendor_type: r.user_type.owned().map(|t| format!("UserType {t}")),
        };
        (e.actor_kind, e.actor_kind_basis) = (kind, basis.into());
        if kind != ActorKind::Human {
            e.agent.agent_id = app.clone();
        }
        if let Some(o) = r.object_id.owned() {
            push_resource(&mut e.resources, o, Some("m365_object"), false);
        }
        if let Some(c) = &r.copilot_event_data {
            copilot(c, user, &mut e);
        } else if let (ActorKind::Human, Some(app)) = (kind, app) {
            push_resource(&mut e.resources, app, Some("m365_client_app"), false);
        }
        out.event(e)?;
        Ok(())
    }
}

/// The actor's kind by the API's `UserType`: people (regular, reserved,
/// admin, datacenter admin, partner technician, guest), applications and
/// service principals, and Microsoft's own system and policy accounts.
fn actor_kind(user_type: Option<&str>) -> (ActorKind, &'static str) {
    match user_type {
        Some("0" | "1" | "2" | "3" | "9" | "10") => (ActorKind::Human, "UserType is a person"),
        Some("5") => (ActorKind::ServicePrincipal, "UserType 5 (Application)"),
        Some("6") => (ActorKind::ServicePrincipal, "UserType 6 (ServicePrincipal)"),
        Some("4" | "7" | "8") => (ActorKind::Service, "UserType is a system or policy account"),
        Some(_) => (ActorKind::Unknown, "UserType not in the API's enumeration"),
        None => (ActorKind::Unknown, "UserType absent"),
    }
}

fn category(operation: &str) -> Category {
    let op = operation.trim_end_matches('.');
    match op {
        "CopilotInteraction" => Category::AgentInvoke,
        "UserLoggedIn" | "UserLoginFailed" => Category::Authentication,
        _ if op.starts_with("PasswordLogon") => Category::Authentication,
        "Add service principal credentials" | "Add application credentials" => {
            Category::CredentialIssue
        }
        "Remove service principal credentials" => Category::CredentialRevoke,
        "Add member to role"
        | "Add app role assignment to service principal"
        | "Add delegated permission grant"
        | "Consent to application"
        | "Add-MailboxPermission"
        | "Add-RecipientPermission" => Category::PermissionChange,
        _ => Category::ApiCall,
    }
}

/// A Copilot interaction: the Copilot agent acting for the user in its
/// thread, with what it read.
fn copilot(c: &CopilotEventData, user: Option<String>, e: &mut delegraph_model::NormEvent) {
    let host = c.app_host.get().unwrap_or("Microsoft 365");
    let agent = c
        .agent_id
        .owned()
        .unwrap_or_else(|| format!("m365-copilot:{host}"));
    e.actor = Principal {
        id: agent.clone(),
        name: c
            .agent_name
            .owned()
            .or_else(|| Some(format!("Microsoft 365 Copilot in {host}"))),
        vendor_type: Some("copilot".into()),
    };
    e.actor_kind = ActorKind::Agent;
    e.actor_kind_basis = "CopilotInteraction record".into();
    e.agent.agent_id = Some(agent.clone());
    e.agent.name = e.actor.name.clone();
    e.agent.instance_id = c.thread_id.owned();
    e.operation = format!("CopilotInteraction:{host}");
    if let Some(user) = user {
        e.acts_for(agent, user);
    }
    for r in &c.accessed_resources {
        if let Some(id) = r.site_url.owned().or_else(|| r.id.owned()) {
            // A sensitivity label says the document was classified, not
            // that it holds a secret: kept as its own kind.
            let kind = match r.sensitivity_label_id.get() {
                Some(_) => "m365_labelled_document",
                None => "m365_document",
            };
            push_resource(&mut e.resources, id, Some(kind), false);
        }
    }
    for x in &c.contexts {
        if let Some(id) = x.id.owned() {
            push_resource(&mut e.resources, id, Some("m365_context"), false);
        }
    }
    for p in &c.plugins {
        if let Some(id) = p.id.owned() {
            push_resource(&mut e.resources, id, Some("copilot_plugin"), false);
        }
    }
}

//! Microsoft Entra ID Protection: risk detections and risky identities,
//! for users (`riskDetection`, `riskyUser`), workload identities
//! (`servicePrincipalRiskDetection`) and agents (`agentRiskDetection`,
//! Entra Agent ID), as Microsoft Graph returns them or as an Azure Monitor
//! diagnostic setting delivers them (`category` `UserRiskEvents`,
//! `RiskyUsers`, `ServicePrincipalRiskEvents`, `RiskyServicePrincipals`;
//! the same fields under `properties`).
//!
//! The identity at risk is the event's actor, so the verdict lands where
//! that identity acts: an agent identity's detection joins the traced
//! instance running as it (as its sign-ins do), a user's goes to the user;
//! a service principal's is that principal's own. The category is
//! `risk_signal`: a record about the
//! identity, not an act of it (no operation for the privilege baselines,
//! nothing an approval covers). A workload detection's `keyIds` (the
//! secrets or certificates concerned, as `servicePrincipalCredentialKeyId`
//! on sign-ins and `KeyIdentifier` in audit logs name them) are its
//! resources.

use delegraph_model::{ActorKind, Category, NormEvent, Origin, Principal, Source, Timestamp};
use serde::Deserialize;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::{Str, TextList};
use crate::probe::{Key, Probe};
use crate::{
    DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field,
};

/// Reads Entra ID Protection records.
pub struct EntraRisk;

/// The Entra ID Protection format: its decoder, link hints, Sigma log
/// sources and rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::EntraRisk,
    decoder: || Box::new(EntraRisk),
    link: crate::links::principal,
    // SigmaHQ's identity-protection rules name `azure/riskdetection` and
    // match `riskEventType`, a field of every detection shape.
    sigma: &[SigmaLogSource {
        products: &["azure", "entra", "entra_id"],
        services: &["riskdetection"],
        product_alone: false,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &["properties"],
        aliases: &[],
    },
};

/// The Azure Monitor diagnostic categories ID Protection exports.
const CATEGORIES: [&str; 4] = [
    "UserRiskEvents",
    "RiskyUsers",
    "ServicePrincipalRiskEvents",
    "RiskyServicePrincipals",
];

/// The diagnostic record around a detection or risky identity.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Diagnostic {
    #[serde(default)]
    tenant_id: Str,
    properties: Record,
}

/// Every shape's fields; which identity it is about follows from which
/// are present.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: String,
    #[serde(default)]
    risk_event_type: Str,
    #[serde(default)]
    activity_date_time: Str,
    /// Risky users and service principals: when their state last changed.
    #[serde(default)]
    risk_last_updated_date_time: Str,
    #[serde(default)]
    ip_address: Str,
    #[serde(default)]
    correlation_id: Str,
    #[serde(default)]
    home_tenant_id: Str,
    /// A JSON text of `{"Key", "Value"}` pairs (the user agent among them).
    #[serde(default)]
    additional_info: Str,
    #[serde(default)]
    user_id: Str,
    #[serde(default)]
    user_principal_name: Str,
    #[serde(default)]
    user_display_name: Str,
    #[serde(default)]
    service_principal_id: Str,
    #[serde(default)]
    service_principal_display_name: Str,
    #[serde(default)]
    app_id: Str,
    #[serde(default)]
    key_ids: TextList,
    /// Agents: `agentId` and `agentDisplayName`, renamed `identityId` and
    /// `displayName` (both pairs may be present while the old ones are
    /// deprecated).
    #[serde(default)]
    agent_id: Str,
    #[serde(default)]
    identity_id: Str,
    #[serde(default)]
    agent_display_name: Str,
    #[serde(default)]
    display_name: Str,
    #[serde(default)]
    blueprint_id: Str,
    #[serde(default)]
    identity_type: Str,
}

impl Decoder for EntraRisk {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        let graph = p.has(Key::RiskEventType) || p.has(Key::RiskLastUpdatedDateTime);
        let diagnostic = p.has(Key::Properties)
            && p.str(Key::Category)
                .is_some_and(|c| CATEGORIES.contains(&c.as_str()));
        graph || diagnostic
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let category = super::azure_monitor::category(Source::EntraRisk, text)?;
        let (r, tenant) = match category {
            Some(c) if CATEGORIES.contains(&c.as_str()) => {
                let d: Diagnostic = parse(Source::EntraRisk, text)?;
                (d.properties, d.tenant_id.owned())
            }
            _ => (parse::<Record>(Source::EntraRisk, text)?, None),
        };
        let (field, at) = match (
            r.activity_date_time.get(),
            r.risk_last_updated_date_time.get(),
        ) {
            (Some(t), _) => ("activityDateTime", t),
            (None, Some(t)) => ("riskLastUpdatedDateTime", t),
            (None, None) => {
                return Err(DecodeError::MissingField {
                    format: Source::EntraRisk,
                    detail: "missing field `activityDateTime` (or `riskLastUpdatedDateTime`)"
                        .into(),
                }
                .into());
            }
        };
        let time = time_field(Source::EntraRisk, field, Timestamp::parse_exported(at))?;
        // A risky identity's record (no detection) keeps its identity's
        // id: each state change is its own event.
        let event_id = match r.risk_event_type.get() {
            Some(_) => r.id.clone(),
            None => format!("{}@{}", r.id, time.to_rfc3339()),
        };
        let mut e = base_event(
            Source::EntraRisk,
            event_id,
            String::new(),
            time,
            origin,
            out.raw_text(text),
        );
        let identity = at_risk(&r, &mut e);
        // A detection is named by its risk event type; a risky identity's
        // state by Graph's name for its kind (`riskyUser`, …).
        e.source_event_type = r
            .risk_event_type
            .owned()
            .unwrap_or_else(|| format!("risky{identity}"));
        e.operation = format!("identityProtection:{}", e.source_event_type);
        e.category = Category::RiskSignal;
        e.tenant = tenant.or_else(|| r.home_tenant_id.owned());
        e.src_ip = r.ip_address.owned();
        e.user_agent = user_agent(&r.additional_info);
        e.trace.correlation_id = r.correlation_id.owned();
        out.event(e)?;
        Ok(())
    }
}

/// The identity the record is about, as the event's actor; returns its
/// kind as Graph names it (`Agent`, `ServicePrincipal`, `User`).
fn at_risk(r: &Record, e: &mut NormEvent) -> &'static str {
    let agent = r.identity_id.owned().or_else(|| r.agent_id.owned());
    if let Some(id) = agent {
        let kind = r.identity_type.owned().unwrap_or_else(|| "agent".into());
        e.actor = Principal {
            id: id.clone(),
            name: r
                .display_name
                .owned()
                .or_else(|| r.agent_display_name.owned()),
            vendor_type: Some(kind.clone()),
        };
        e.actor_kind = ActorKind::Agent;
        e.actor_kind_basis = format!("agent risk detection (identityType={kind})");
        e.agent.name = e.actor.name.clone();
        e.agent.agent_id = Some(id);
        // An agent identity's logical agent is its blueprint, as in the
        // audit logs.
        super::entra_audit::blueprint_chain(r.blueprint_id.owned(), e);
        "Agent"
    } else if let Some(sp) = r.service_principal_id.owned() {
        e.actor = Principal {
            id: sp,
            name: r.service_principal_display_name.owned(),
            vendor_type: Some("servicePrincipal".into()),
        };
        e.actor_kind = ActorKind::ServicePrincipal;
        e.actor_kind_basis = "servicePrincipalId".into();
        e.agent.agent_id = r.app_id.owned();
        for key in &r.key_ids.0 {
            push_resource(&mut e.resources, key.clone(), Some("entra_key"), false);
        }
        "ServicePrincipal"
    } else {
        // A user detection names the user; a risky user's own id is the
        // user's.
        let id = r
            .user_principal_name
            .owned()
            .or_else(|| r.user_id.owned())
            .unwrap_or_else(|| r.id.clone());
        e.actor = Principal {
            id,
            name: r.user_display_name.owned(),
            vendor_type: Some("user".into()),
        };
        e.actor_kind = ActorKind::Human;
        e.actor_kind_basis = "user risk".into();
        "User"
    }
}

/// The `userAgent` entry of `additionalInfo`, a JSON text of key-value
/// pairs; anything else in it stays in the raw record.
fn user_agent(info: &Str) -> Option<String> {
    #[derive(Deserialize)]
    struct Pair {
        #[serde(rename = "Key")]
        key: String,
        #[serde(rename = "Value", default)]
        value: Str,
    }
    let pairs: Vec<Pair> = serde_json::from_str(info.get()?).ok()?;
    pairs
        .into_iter()
        .find(|p| p.key == "userAgent")
        .and_then(|p| p.value.owned())
}

//! Azure Activity Log: the control plane of Azure subscriptions, as an
//! Azure Monitor diagnostic setting delivers it to Event Hubs or storage
//! (`records[]` of `time`, `resourceId`, `operationName`, `category`,
//! `resultType`, `identity.{authorization, claims}`, `properties`).
//!
//! Identity knowledge: the caller's token claims name a user (`upn`,
//! `name`) or an application (`appid`); the role assignment that allowed
//! the call (`identity.authorization.evidence`) says which kind of
//! principal it was and its object id, the id Entra sign-ins give a
//! service principal. Records carry no id of their own: an operation is
//! logged at its start and at its end under one `correlationId`, so the
//! event id joins that id, the resource, the operation, the result and
//! the time.

use delegraph_model::{
    ActorKind, Category, NormEvent, Origin, Outcome, Principal, Source, Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::Str;
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field};

/// Reads Azure Activity Log records.
pub struct AzureActivity;

/// The Azure Activity Log format: its decoder, link hints, Sigma log
/// sources and rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::AzureActivity,
    decoder: || Box::new(AzureActivity),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["azure"],
        services: &["activitylogs", "activitylog", "activity"],
        product_alone: false,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        // Rules written against Log Analytics' `AzureActivity` table.
        aliases: &[
            ("OperationNameValue", "operationName"),
            ("CategoryValue", "category"),
        ],
    },
};

/// The `category` values of Activity Log records (the event hub form, and
/// the older `Action`/`Write`/`Delete` of some deliveries).
const CATEGORIES: [&str; 11] = [
    "Administrative",
    "Action",
    "Write",
    "Delete",
    "Security",
    "ServiceHealth",
    "ResourceHealth",
    "Alert",
    "Recommendation",
    "Policy",
    "Autoscale",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    time: String,
    #[serde(default)]
    resource_id: Str,
    operation_name: String,
    #[serde(default)]
    result_type: Str,
    #[serde(default)]
    result_signature: Str,
    #[serde(default)]
    caller_ip_address: Str,
    #[serde(default)]
    correlation_id: Str,
    #[serde(default)]
    tenant_id: Str,
    #[serde(default)]
    identity: Option<Identity>,
}

#[derive(Deserialize, Default)]
struct Identity {
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    claims: Option<Claims>,
}

#[derive(Deserialize, Default)]
struct Authorization {
    #[serde(default)]
    action: Str,
    #[serde(default)]
    evidence: Option<Evidence>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Evidence {
    #[serde(default)]
    principal_id: Str,
    #[serde(default)]
    principal_type: Str,
    #[serde(default)]
    role: Str,
}

/// The caller's token claims that say who it was (JWT claim names; the
/// long ones are WS-Federation URIs).
#[derive(Deserialize, Default)]
struct Claims {
    #[serde(
        default,
        rename = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
    )]
    upn: Str,
    #[serde(
        default,
        rename = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
    )]
    name_uri: Str,
    #[serde(default)]
    name: Str,
    #[serde(default)]
    appid: Str,
    #[serde(
        default,
        rename = "http://schemas.microsoft.com/identity/claims/objectidentifier"
    )]
    object_id: Str,
    #[serde(
        default,
        rename = "http://schemas.microsoft.com/identity/claims/tenantid"
    )]
    tenant_id: Str,
}

impl Decoder for AzureActivity {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has_all(&[Key::ResourceId, Key::OperationName])
            && p.str(Key::Category)
                .is_some_and(|c| CATEGORIES.contains(&c.as_ref()))
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let r: Record = parse(Source::AzureActivity, text)?;
        let time = time_field(
            Source::AzureActivity,
            "time",
            Timestamp::parse_exported(&r.time),
        )?;
        let result = r.result_type.get().unwrap_or_default();
        // A deployment's child operations share its correlation id.
        let id = format!(
            "{}:{}:{}:{result}:{}",
            r.correlation_id.get().unwrap_or_default(),
            r.resource_id.get().unwrap_or_default(),
            r.operation_name,
            r.time
        );
        let mut e = base_event(
            Source::AzureActivity,
            id,
            r.operation_name.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        let identity = r.identity.as_ref();
        let claims = identity.and_then(|i| i.claims.as_ref());
        // The authorization's action is the operation in its own casing
        // (`Microsoft.Authorization/roleAssignments/write`), when it is the
        // same operation.
        let action = identity
            .and_then(|i| i.authorization.as_ref())
            .and_then(|a| a.action.owned())
            .filter(|a| a.eq_ignore_ascii_case(&r.operation_name))
            .unwrap_or_else(|| r.operation_name.clone());
        e.operation = format!("azure:{action}");
        e.tenant = r
            .tenant_id
            .owned()
            .or_else(|| claims.and_then(|c| c.tenant_id.owned()))
            .or_else(|| subscription(r.resource_id.get()?));
        e.src_ip = r.caller_ip_address.owned();
        (e.outcome, e.outcome_reason) = outcome(result, r.result_signature.get());
        actor(identity, &mut e);
        let lower = action.to_ascii_lowercase();
        // Only the record that ends an operation says what it did: its
        // start (`Start`, `Accept`) would count a listing twice.
        let ended = e.outcome != Outcome::Unknown;
        let secret = ended && SECRET_ACTIONS.iter().any(|s| lower.ends_with(s));
        if let Some(res) = r.resource_id.owned() {
            push_resource(&mut e.resources, res, Some("azure_resource"), secret);
        }
        e.category = if ended {
            category(&lower, secret)
        } else {
            Category::ApiCall
        };
        out.event(e)?;
        Ok(())
    }
}

/// Actions that hand out a resource's keys or signed URLs.
const SECRET_ACTIONS: [&str; 5] = [
    "/listkeys/action",
    "/listaccountsas/action",
    "/listservicesas/action",
    "/listconnectionstrings/action",
    "/config/list/action",
];

/// `/subscriptions/<id>/…` of a resource id.
fn subscription(resource: &str) -> Option<String> {
    let mut parts = resource.split('/').filter(|p| !p.is_empty());
    let first = parts.next()?;
    first
        .eq_ignore_ascii_case("subscriptions")
        .then(|| parts.next().map(str::to_owned))
        .flatten()
}

/// `Succeeded`/`Success` ended well, `Failed`/`Failure` did not (denied
/// when its signature says `Forbidden` or `AuthorizationFailed`); a
/// `Start` or `Accept` record says the operation began.
fn outcome(result: &str, signature: Option<&str>) -> (Outcome, Option<String>) {
    match result.to_ascii_lowercase().as_str() {
        "success" | "succeeded" => (Outcome::Success, None),
        "failure" | "failed" => {
            let reason = signature.unwrap_or(result);
            let denied = ["forbidden", "authorizationfailed"]
                .iter()
                .any(|d| reason.to_ascii_lowercase().contains(d));
            let kind = if denied {
                Outcome::Denied
            } else {
                Outcome::Failure
            };
            (kind, Some(reason.to_owned()))
        }
        _ => (Outcome::Unknown, None),
    }
}

/// Who called: the token's claims decide (a `upn` is a user; an
/// application token names its `appid`), under the caller's object id;
/// the role assignment's evidence, which may name a group the caller is
/// in, only when the record has no claims.
fn actor(identity: Option<&Identity>, e: &mut NormEvent) {
    let claims = identity.and_then(|i| i.claims.as_ref());
    let evidence = identity
        .and_then(|i| i.authorization.as_ref())
        .and_then(|a| a.evidence.as_ref());
    let display = claims
        .and_then(|c| c.name.owned())
        .map(|n| n.trim().to_owned());
    let user = claims.and_then(|c| {
        c.upn
            .owned()
            .or_else(|| c.name_uri.owned().filter(|n| n.contains('@')))
    });
    let object_id = claims.and_then(|c| c.object_id.owned());
    let app = claims.and_then(|c| c.appid.owned());
    let evidence_of = |kind: &str| {
        evidence
            .filter(|v| v.principal_type.get() == Some(kind))
            .and_then(|v| v.principal_id.owned())
    };
    let (id, kind, basis) = if let Some(u) = user {
        (Some(u), ActorKind::Human, "token claims name a user (upn)")
    } else if claims.is_some() && (object_id.is_some() || app.is_some()) {
        (
            object_id.or_else(|| app.clone()),
            ActorKind::ServicePrincipal,
            "application token (appid, no upn)",
        )
    } else if let Some(sp) = evidence_of("ServicePrincipal") {
        (
            Some(sp),
            ActorKind::ServicePrincipal,
            "authorization evidence principalType=ServicePrincipal",
        )
    } else if let Some(u) = evidence_of("User") {
        (
            Some(u),
            ActorKind::Human,
            "authorization evidence principalType=User",
        )
    } else {
        (None, ActorKind::Unknown, "no caller claims or evidence")
    };
    e.actor = Principal {
        id: id.unwrap_or_else(|| "azure:unknown".into()),
        name: display,
        vendor_type: evidence.and_then(|v| v.principal_type.owned()),
    };
    e.actor_kind = kind;
    e.actor_kind_basis = basis.into();
    if kind == ActorKind::ServicePrincipal {
        e.agent.agent_id = app;
    }
    if let Some(role) = evidence.and_then(|v| v.role.owned()) {
        e.scopes.push(format!("role:{role}"));
    }
}

/// Authorization resources whose writes, deletes and actions change who
/// may do what (policy evaluations, `policies/*/action`, do not).
const ACCESS_RESOURCES: [&str; 5] = [
    "microsoft.authorization/roleassignments/",
    "microsoft.authorization/roledefinitions/",
    "microsoft.authorization/policyassignments/",
    "microsoft.authorization/locks/",
    "microsoft.authorization/elevateaccess/",
];

fn category(action: &str, secret: bool) -> Category {
    if secret {
        Category::SecretRead
    } else if action.contains("/regeneratekey") {
        Category::CredentialIssue
    } else if ACCESS_RESOURCES.iter().any(|r| action.starts_with(r))
        && ["/write", "/delete", "/action"]
            .iter()
            .any(|v| action.ends_with(v))
    {
        Category::PermissionChange
    } else {
        Category::ApiCall
    }
}

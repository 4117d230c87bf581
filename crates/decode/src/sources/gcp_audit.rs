//! Google Cloud Audit Logs: Cloud Logging `LogEntry` records whose
//! `protoPayload` is a `google.cloud.audit.AuditLog` (Admin Activity,
//! Data Access, System Event and Policy Denied logs alike).
//!
//! Identity knowledge: `authenticationInfo.principalEmail` acted; when it
//! is a service account acting for someone who impersonated it,
//! `serviceAccountDelegationInfo` names who delegated, first caller
//! first. A service account key (`serviceAccountKeyName`) is the
//! credential used;
//! `CreateServiceAccountKey` and the IAM Credentials token calls
//! (`GenerateAccessToken`, `GenerateIdToken`, `SignJwt`, `SignBlob`) issue
//! one to the service account they name.

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, NormEvent, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;
use serde_json::Value;

use crate::format::{FormatInfo, RuleFields, SigmaLogSource};
use crate::json::Str;
use crate::probe::{Key, Probe};
use crate::{
    DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, parse_value, push_resource,
    time_field,
};

/// Reads Google Cloud audit log entries.
pub struct GcpAudit;

/// The Google Cloud audit log format: its decoder, link hints, Sigma log
/// sources and rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::GcpAudit,
    decoder: || Box::new(GcpAudit),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["gcp"],
        services: &["gcp.audit"],
        product_alone: false,
    }],
    fields: RuleFields {
        promoted: &[],
        wrappers: &[],
        // SigmaHQ's GCP rules name fields two ways: Elastic's
        // `gcp.audit.*` and the Pub/Sub export's `data.<LogEntry field>`.
        aliases: &[
            ("gcp.audit.method_name", "protoPayload.methodName"),
            ("gcp.audit.service_name", "protoPayload.serviceName"),
            ("gcp.audit.resource_name", "protoPayload.resourceName"),
            (
                "gcp.audit.authentication_info.principal_email",
                "protoPayload.authenticationInfo.principalEmail",
            ),
            ("data", ""),
        ],
    },
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    insert_id: String,
    #[serde(default)]
    log_name: Str,
    timestamp: String,
    #[serde(default)]
    resource: Option<MonitoredResource>,
    proto_payload: AuditLog,
}

#[derive(Deserialize, Default)]
struct MonitoredResource {
    #[serde(default, rename = "type")]
    kind: Str,
    #[serde(default)]
    labels: Labels,
}

#[derive(Deserialize, Default)]
struct Labels {
    #[serde(default)]
    project_id: Str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditLog {
    #[serde(default)]
    service_name: Str,
    #[serde(default)]
    method_name: Str,
    #[serde(default)]
    resource_name: Str,
    #[serde(default)]
    authentication_info: AuthenticationInfo,
    #[serde(default)]
    request_metadata: RequestMetadata,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    authorization_info: Vec<AuthorizationInfo>,
    /// Method-specific: read typed ([`Named`], [`Response`], [`Metadata`])
    /// only for the methods that issue credentials, so another method's
    /// shape never costs its record.
    #[serde(default)]
    request: Option<Value>,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// A request or response's resource `name` (every method names it so).
#[derive(Deserialize, Default)]
struct Named {
    #[serde(default)]
    name: Str,
}

/// What a credential-issuing method's response says about the credential.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    name: Str,
    #[serde(default)]
    expire_time: Str,
    /// RFC 3339 in the API's JSON; `{seconds}` in the IAM admin audit
    /// record's own (snake_case) form.
    #[serde(default, alias = "valid_before_time")]
    valid_before_time: Option<KeyTime>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyTime {
    Text(String),
    Seconds { seconds: f64 },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    /// IAM Credentials: the service accounts a token request went through.
    #[serde(default)]
    identity_delegation_chain: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthenticationInfo {
    #[serde(default)]
    principal_email: Str,
    #[serde(default)]
    principal_subject: Str,
    #[serde(default)]
    service_account_key_name: Str,
    #[serde(default)]
    service_account_delegation_info: Vec<DelegationHop>,
}

/// One identity a service account's authority came from.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DelegationHop {
    #[serde(default)]
    first_party_principal: Option<FirstParty>,
    #[serde(default)]
    third_party_principal: Option<ThirdParty>,
    #[serde(default)]
    principal_subject: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FirstParty {
    #[serde(default)]
    principal_email: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ThirdParty {
    #[serde(default)]
    third_party_claims: Option<Claims>,
}

#[derive(Deserialize, Default)]
struct Claims {
    #[serde(default)]
    sub: Str,
}

impl DelegationHop {
    /// The principal this hop names: a Google account, a third party's
    /// subject, or a principal identifier.
    fn principal(&self) -> Option<String> {
        self.first_party_principal
            .as_ref()
            .and_then(|f| f.principal_email.owned())
            .or_else(|| {
                let claims = self
                    .third_party_principal
                    .as_ref()?
                    .third_party_claims
                    .as_ref();
                claims?.sub.owned()
            })
            .or_else(|| self.principal_subject.owned())
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestMetadata {
    /// `callerIp`; `callerIP` in some lake exports.
    #[serde(default, alias = "callerIP")]
    caller_ip: Str,
    #[serde(default)]
    caller_supplied_user_agent: Str,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Str,
}

#[derive(Deserialize)]
struct AuthorizationInfo {
    #[serde(default)]
    granted: Option<bool>,
}

/// IAM Credentials methods that mint a short-lived credential for the
/// service account in `request.name`.
const TOKEN_METHODS: [&str; 4] = [
    "GenerateAccessToken",
    "GenerateIdToken",
    "SignJwt",
    "SignBlob",
];

impl Decoder for GcpAudit {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has_all(&[Key::ProtoPayload, Key::InsertId])
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let entry: Entry = parse(Source::GcpAudit, text)?;
        let time = time_field(
            Source::GcpAudit,
            "timestamp",
            Timestamp::parse_exported(&entry.timestamp),
        )?;
        let p = &entry.proto_payload;
        let method = p.method_name.owned().unwrap_or_default();
        let mut e = base_event(
            Source::GcpAudit,
            entry.insert_id.clone(),
            method.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.operation = format!("{}:{method}", p.service_name.get().unwrap_or_default());
        e.tenant = project(&entry);
        e.src_ip = p.request_metadata.caller_ip.owned();
        e.user_agent = p.request_metadata.caller_supplied_user_agent.owned();
        (e.outcome, e.outcome_reason) = outcome(p);
        actor(&p.authentication_info, &mut e);
        delegation(p, &mut e);
        if let Some(r) = p.resource_name.owned() {
            let kind = entry.resource.as_ref().and_then(|r| r.kind.get());
            let secret = p.service_name.get() == Some("secretmanager.googleapis.com")
                && method.ends_with("AccessSecretVersion");
            push_resource(&mut e.resources, r, kind, secret);
        }
        e.category = category(&method, &e);
        credentials(p, &method, time, &mut e)?;
        out.event(e)?;
        Ok(())
    }
}

/// The project: the monitored resource's `project_id`, else the
/// `projects/<id>/logs/…` of the log name.
fn project(entry: &Entry) -> Option<String> {
    entry
        .resource
        .as_ref()
        .and_then(|r| r.labels.project_id.owned())
        .or_else(|| {
            let rest = entry.log_name.get()?.strip_prefix("projects/")?;
            rest.split('/').next().map(str::to_owned)
        })
}

/// `PERMISSION_DENIED` (code 7), or a call every authorization check of
/// which was refused, was denied; any other non-zero `status.code` failed.
fn outcome(p: &AuditLog) -> (Outcome, Option<String>) {
    const PERMISSION_DENIED: i64 = 7;
    if let Some(s) = &p.status
        && let Some(code) = s.code.filter(|c| *c != 0)
    {
        let reason = s.message.owned().unwrap_or_else(|| format!("code {code}"));
        let kind = if code == PERMISSION_DENIED {
            Outcome::Denied
        } else {
            Outcome::Failure
        };
        return (kind, Some(reason));
    }
    let checks = &p.authorization_info;
    if !checks.is_empty() && checks.iter().all(|a| a.granted == Some(false)) {
        return (Outcome::Denied, Some("permission not granted".into()));
    }
    (Outcome::Success, None)
}

/// A key's resource name as an issuing call and a using call both write
/// it: `authenticationInfo.serviceAccountKeyName` adds the service's
/// `//iam.googleapis.com/` prefix that the key's own `name` lacks.
fn key_id(name: &str) -> String {
    name.trim_start_matches("//iam.googleapis.com/").to_owned()
}

fn actor(a: &AuthenticationInfo, e: &mut NormEvent) {
    let id = a
        .principal_email
        .owned()
        .or_else(|| a.principal_subject.owned())
        .unwrap_or_else(|| "gcp:unknown".into());
    let (kind, basis) = principal_kind(&id);
    e.actor = Principal {
        id,
        name: None,
        vendor_type: None,
    };
    e.actor_kind = kind;
    e.actor_kind_basis = basis.into();
    if let Some(key) = a.service_account_key_name.get() {
        e.use_credential(Credential::new(key_id(key), CredentialKind::ClientSecret));
    }
}

/// What kind of principal a Google Cloud principal name is.
fn principal_kind(id: &str) -> (ActorKind, &'static str) {
    if id.ends_with(".gserviceaccount.com") {
        (ActorKind::Workload, "principalEmail is a service account")
    } else if id.starts_with("system:serviceaccount:") {
        (
            ActorKind::Workload,
            "principalEmail is a Kubernetes service account",
        )
    } else if id.starts_with("principal://") || id.starts_with("principalSet://") {
        (
            ActorKind::Workload,
            "principalSubject is a federated workload identity",
        )
    } else if id.contains('@') && !id.starts_with("system:") {
        (ActorKind::Human, "principalEmail is a user account")
    } else {
        (
            ActorKind::Unknown,
            "principal not a user or service account",
        )
    }
}

/// Who delegated to the acting principal, first caller first: the
/// principals of `serviceAccountDelegationInfo`, ending with the actor.
fn delegation(p: &AuditLog, e: &mut NormEvent) {
    let mut chain: Vec<String> = p
        .authentication_info
        .service_account_delegation_info
        .iter()
        .filter_map(DelegationHop::principal)
        .collect();
    if chain.is_empty() {
        return;
    }
    if let Some(human) = chain
        .first()
        .filter(|c| principal_kind(c).0 == ActorKind::Human)
    {
        e.acts_for(e.actor.id.clone(), human.clone());
    }
    chain.push(e.actor.id.clone());
    chain.dedup();
    e.delegation_chain = chain;
}

/// The service account a resource name names
/// (`projects/-/serviceAccounts/X[/keys/K]`).
fn service_account(name: &str) -> Option<String> {
    let (_, rest) = name.rsplit_once("/serviceAccounts/")?;
    Some(rest.split('/').next().unwrap_or(rest).to_owned())
}

/// `v` read as `T` (absent: `T`'s default).
fn typed<T: serde::de::DeserializeOwned + Default>(v: Option<&Value>) -> Result<T, DecodeError> {
    v.map_or_else(|| Ok(T::default()), |v| parse_value(Source::GcpAudit, v))
}

fn credentials(
    p: &AuditLog,
    method: &str,
    time: Timestamp,
    e: &mut NormEvent,
) -> Result<(), DecodeError> {
    let short = method.rsplit('.').next().unwrap_or(method);
    let issues_key = short == "CreateServiceAccountKey";
    if e.outcome != Outcome::Success || !issues_key && !TOKEN_METHODS.contains(&short) {
        return Ok(());
    }
    let request: Named = typed(p.request.as_ref())?;
    let response: Response = typed(p.response.as_ref())?;
    // The new key's name holds the account's email; the request may name
    // it by its numeric id.
    let Some(sa) = [&response.name, &request.name]
        .into_iter()
        .find_map(|n| n.get().and_then(service_account))
    else {
        return Ok(());
    };
    if issues_key {
        // Without the key's name, the call itself stands for the key.
        let id = response
            .name
            .get()
            .map_or_else(|| format!("{sa}#{}", e.event_id), key_id);
        let c = Credential {
            issued_at: Some(time),
            expires_at: key_expiry(&response),
            ..Credential::new(id, CredentialKind::ClientSecret)
        };
        e.issue_credential(c, sa);
        return Ok(());
    }
    // The token itself is never logged: the credential is this call.
    let c = Credential {
        issued_at: Some(time),
        expires_at: response
            .expire_time
            .get()
            .and_then(|t| Timestamp::parse_exported(t).ok()),
        ..Credential::new(format!("{sa}#{}", e.event_id), CredentialKind::OauthToken)
    };
    e.issue_credential(c, sa);
    // The accounts a token request went through, when the caller stated
    // no delegation of its own: who the caller acted through to mint it.
    let metadata: Metadata = typed(p.metadata.as_ref())?;
    if e.delegation_chain.is_empty() {
        let mut through: Vec<String> = metadata
            .identity_delegation_chain
            .iter()
            .filter_map(|n| service_account(n))
            .collect();
        // The last is the account the token is for, not a delegate.
        through.pop();
        if !through.is_empty() {
            e.delegation_chain = std::iter::once(e.actor.id.clone()).chain(through).collect();
        }
    }
    Ok(())
}

/// A new key's expiry. Keys that never expire say year 9999, past what
/// a timestamp holds: no expiry.
fn key_expiry(response: &Response) -> Option<Timestamp> {
    match response.valid_before_time.as_ref()? {
        KeyTime::Text(t) => Timestamp::parse_exported(t).ok(),
        KeyTime::Seconds { seconds } if seconds.fract() == 0.0 => {
            Timestamp::from_secs(*seconds as i64)
        }
        KeyTime::Seconds { .. } => None,
    }
}

fn category(method: &str, e: &NormEvent) -> Category {
    let short = method.rsplit('.').next().unwrap_or(method);
    if e.resources.iter().any(|r| r.is_secret) {
        Category::SecretRead
    } else if short == "CreateServiceAccountKey" || TOKEN_METHODS.contains(&short) {
        Category::CredentialIssue
    } else if short == "DeleteServiceAccountKey" || short == "DisableServiceAccountKey" {
        Category::CredentialRevoke
    } else if short.eq_ignore_ascii_case("SetIamPolicy")
        || short.contains("ServiceAccount")
            && !short.starts_with("Get")
            && !short.starts_with("List")
        || short.contains("Role") && !short.starts_with("Get") && !short.starts_with("List")
    {
        Category::PermissionChange
    } else {
        Category::ApiCall
    }
}

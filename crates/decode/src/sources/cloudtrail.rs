//! AWS CloudTrail records (single, `Records` files and EventBridge are
//! opened by the envelope layer).
//!
//! Linking keys: `responseElements.credentials.accessKeyId` of an
//! `AssumeRole*` / `GetSessionToken` / `GetFederationToken` becomes
//! `userIdentity.accessKeyId` of later calls; `sourceIdentity` survives role
//! chaining; the role session name is the last segment of the session ARN.

use delegraph_model::{
    ActorKind, Credential, CredentialKind, Link, NormEvent, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, Promoted, RuleFields, SigmaLogSource};
use crate::json::{Str, Text, TextList, non_empty, object};
use crate::probe::{Key, Probe};
use crate::{DecodeFailure, Decoder, EventSink, base_event, parse, time_field};

mod agentcore;
mod classify;
mod links;

pub(crate) use links::role_of;

use classify::{category, resources};

/// Reads AWS CloudTrail records.
pub struct CloudTrail;

/// The AWS CloudTrail format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Cloudtrail,
    decoder: || Box::new(CloudTrail),
    link: links::link,
    sigma: &[SigmaLogSource {
        products: &["aws"],
        services: &["cloudtrail"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[
            ("eventName", Promoted::EventType),
            ("eventSource", Promoted::OperationPrefix),
        ],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(rename = "eventID", deserialize_with = "non_empty")]
    event_id: String,
    event_time: String,
    #[serde(deserialize_with = "non_empty")]
    event_source: String,
    #[serde(deserialize_with = "non_empty")]
    event_name: String,
    #[serde(deserialize_with = "object")]
    user_identity: UserIdentity,
    #[serde(default)]
    recipient_account_id: Str,
    #[serde(default, rename = "sourceIPAddress")]
    source_ip_address: Str,
    #[serde(default)]
    user_agent: Str,
    #[serde(default)]
    request_parameters: Option<RequestParameters>,
    #[serde(default)]
    response_elements: Option<ResponseElements>,
    #[serde(default, rename = "requestID")]
    request_id: Str,
    #[serde(default, rename = "sharedEventID")]
    shared_event_id: Str,
    #[serde(default)]
    error_code: Str,
    #[serde(default)]
    error_message: Str,
    #[serde(default)]
    resources: Option<Vec<CtResource>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(default, rename = "type")]
    kind: Str,
    #[serde(default)]
    principal_id: Str,
    #[serde(default)]
    arn: Str,
    #[serde(default)]
    account_id: Str,
    #[serde(default)]
    access_key_id: Str,
    #[serde(default)]
    user_name: Str,
    #[serde(default)]
    invoked_by: Str,
    #[serde(default)]
    identity_provider: Str,
    #[serde(default)]
    session_context: Option<SessionContext>,
    #[serde(default)]
    on_behalf_of: Option<OnBehalfOf>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionContext {
    #[serde(default)]
    attributes: Option<SessionAttributes>,
    #[serde(default)]
    session_issuer: Option<SessionIssuer>,
    #[serde(default)]
    source_identity: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    #[serde(default)]
    creation_date: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer {
    #[serde(default)]
    arn: Str,
    #[serde(default)]
    user_name: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OnBehalfOf {
    #[serde(default)]
    user_id: Str,
}

/// The request parameters we look at; every field is lenient because their
/// types differ between AWS services.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RequestParameters {
    #[serde(default)]
    role_arn: Text,
    #[serde(default)]
    source_identity: Text,
    #[serde(default)]
    secret_id: Text,
    #[serde(default)]
    secret_id_list: TextList,
    #[serde(default)]
    filters: Option<Vec<SecretFilter>>,
    #[serde(default)]
    name: Text,
    #[serde(default)]
    names: TextList,
    #[serde(default)]
    path: Text,
    #[serde(default)]
    with_decryption: Text,
    #[serde(default)]
    key_id: Text,
    #[serde(default)]
    user_name: Text,
    #[serde(default)]
    role_name: Text,
    #[serde(default)]
    policy_arn: Text,
    #[serde(default)]
    bucket_name: Text,
    #[serde(default)]
    function_name: Text,
    #[serde(default)]
    instance_id: Text,
}

#[derive(Deserialize, Default)]
struct SecretFilter {
    #[serde(default)]
    key: Text,
    #[serde(default)]
    values: TextList,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ResponseElements {
    #[serde(default)]
    credentials: Option<IssuedCredentials>,
    #[serde(default)]
    assumed_role_user: Option<AssumedRoleUser>,
    #[serde(default)]
    federated_user: Option<FederatedUser>,
    #[serde(default)]
    access_key: Option<AccessKey>,
    #[serde(default)]
    source_identity: Str,
    #[serde(default)]
    subject_from_web_identity_token: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IssuedCredentials {
    #[serde(default)]
    access_key_id: Str,
    #[serde(default)]
    expiration: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AssumedRoleUser {
    #[serde(default)]
    arn: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FederatedUser {
    #[serde(default)]
    arn: Str,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AccessKey {
    #[serde(default)]
    access_key_id: Str,
    #[serde(default)]
    user_name: Str,
    #[serde(default)]
    create_date: Str,
}

#[derive(Deserialize, Default)]
struct CtResource {
    #[serde(default, rename = "ARN")]
    arn: Str,
    #[serde(default, rename = "type")]
    kind: Str,
}

impl Decoder for CloudTrail {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has_all(&[Key::EventSource, Key::EventName])
            && (p.has(Key::UserIdentity) || p.has(Key::EventTime))
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let mut r: Record = parse(Source::Cloudtrail, text)?;
        let time = time_field(
            Source::Cloudtrail,
            "eventTime",
            Timestamp::parse_aws(&r.event_time),
        )?;
        let mut e = base_event(
            Source::Cloudtrail,
            std::mem::take(&mut r.event_id),
            r.event_name.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.operation = [r.event_source.as_str(), ":", r.event_name.as_str()].concat();
        // Fields read once are moved into the event rather than copied.
        e.tenant = r
            .recipient_account_id
            .take()
            .or_else(|| r.user_identity.account_id.owned());
        e.src_ip = r.source_ip_address.take();
        e.user_agent = r.user_agent.take();
        e.trace.correlation_id = r.request_id.owned().or_else(|| r.shared_event_id.take());

        actor(&mut r.user_identity, &mut e);
        used_credential(&mut r.user_identity, &mut e);
        let params = r.request_parameters.unwrap_or_default();
        let response = r.response_elements.unwrap_or_default();
        issued_credential(&params, &response, time, &mut e);

        e.category = category(&r.event_source, &r.event_name, &params);
        resources(
            &r.event_source,
            &r.event_name,
            &params,
            r.resources.as_deref(),
            &mut e,
        );

        if let Some(code) = r.error_code.get() {
            e.outcome = if is_denial(code) {
                Outcome::Denied
            } else {
                Outcome::Failure
            };
            e.outcome_reason = Some(match r.error_message.get() {
                Some(m) => format!("{code}: {m}"),
                None => code.to_owned(),
            });
        } else {
            e.outcome = Outcome::Success;
        }
        if agentcore::is_gateway_call(&r.event_source, &r.event_name) {
            agentcore::add_gateway_call(text, &mut e)?;
        }
        if super::verified_permissions::is_decision(&r.event_source, &r.event_name) {
            super::verified_permissions::add_decision(text, r.request_id.owned(), &mut e)?;
        }
        out.event(e)?;
        Ok(())
    }
}

/// The acting principal, from `u`'s fields (those it reads once are
/// moved out).
fn actor(u: &mut UserIdentity, e: &mut NormEvent) {
    let kind = u.kind.get().unwrap_or("");
    let id = u
        .arn
        .take()
        .or_else(|| u.principal_id.take())
        .or_else(|| u.invoked_by.take())
        .unwrap_or_else(|| {
            format!(
                "aws:{}:{}",
                kind.to_lowercase(),
                u.account_id.get().unwrap_or("?")
            )
        });
    let session = u.session_context.as_ref();
    let session_name = (kind == "AssumedRole")
        .then(|| id.rsplit('/').next().map(str::to_owned))
        .flatten();
    let name = u
        .user_name
        .take()
        .or_else(|| session_name.clone())
        .or_else(|| {
            session
                .and_then(|s| s.session_issuer.as_ref())
                .and_then(|i| i.user_name.owned())
        });
    e.actor = Principal {
        id,
        name,
        vendor_type: u.kind.owned(),
    };
    (e.actor_kind, e.actor_kind_basis) = match kind {
        "Root" | "IAMUser" | "SAMLUser" | "IdentityCenterUser" | "FederatedUser" => {
            (ActorKind::Human, ["userIdentity.type=", kind].concat())
        }
        "AssumedRole" | "WebIdentityUser" => {
            (ActorKind::Workload, ["userIdentity.type=", kind].concat())
        }
        "AWSService" => (
            ActorKind::Service,
            "userIdentity.type=AWSService".to_owned(),
        ),
        "" => (ActorKind::Unknown, "userIdentity.type absent".to_owned()),
        other => (ActorKind::Unknown, ["userIdentity.type=", other].concat()),
    };
    if let Some(issuer) = session
        .and_then(|s| s.session_issuer.as_ref())
        .and_then(|i| i.arn.owned())
    {
        e.delegation_chain = vec![issuer, e.actor.id.clone()];
    }
    e.trace.session_id = session_name;
    let human = session
        .and_then(|s| s.source_identity.owned())
        .or_else(|| u.on_behalf_of.as_ref().and_then(|o| o.user_id.owned()));
    if let Some(human) = human {
        e.acts_for(e.actor.id.clone(), human);
    }
    if e.actor_kind == ActorKind::Unknown
        && let Some(idp) = u.identity_provider.get()
    {
        e.actor_kind_basis = format!("identityProvider={idp}");
    }
}

fn key_kind(id: &str, temporary: bool) -> CredentialKind {
    if id.starts_with("ASIA") || (temporary && !id.starts_with("AKIA")) {
        CredentialKind::AwsSessionKey
    } else {
        CredentialKind::AwsAccessKey
    }
}

fn used_credential(u: &mut UserIdentity, e: &mut NormEvent) {
    let Some(key) = u.access_key_id.take() else {
        return;
    };
    let session = u.session_context.as_ref();
    let issued_at = session
        .and_then(|s| s.attributes.as_ref())
        .and_then(|a| a.creation_date.get())
        .and_then(|d| Timestamp::parse_aws(d).ok());
    let kind = key_kind(&key, session.is_some());
    e.use_credential(Credential {
        issued_at,
        ..Credential::new(key, kind)
    });
}

fn issued_credential(
    params: &RequestParameters,
    resp: &ResponseElements,
    time: Timestamp,
    e: &mut NormEvent,
) {
    if let Some(c) = resp.credentials.as_ref() {
        let Some(id) = c.access_key_id.owned() else {
            return;
        };
        let expires_at = c
            .expiration
            .get()
            .and_then(|x| Timestamp::parse_aws(x).ok());
        let to = resp
            .assumed_role_user
            .as_ref()
            .and_then(|a| a.arn.owned())
            .or_else(|| resp.federated_user.as_ref().and_then(|f| f.arn.owned()))
            .or_else(|| params.role_arn.owned())
            .unwrap_or_else(|| e.actor.id.clone());
        if let Some(parent) = e.credential_used.as_ref() {
            e.links.push(Link::DerivedCredential {
                parent: parent.id.clone(),
                child: id.clone(),
            });
        }
        let human = resp
            .source_identity
            .owned()
            .or_else(|| params.source_identity.owned());
        if let Some(human) = human {
            e.acts_for(to.clone(), human);
        }
        if let Some(sub) = resp.subject_from_web_identity_token.owned() {
            e.on_behalf_of.get_or_insert(sub);
        }
        let credential = Credential {
            issued_at: Some(time),
            expires_at,
            ..Credential::new(id.clone(), key_kind(&id, true))
        };
        e.issue_credential(credential, to);
    } else if let Some(k) = resp.access_key.as_ref() {
        // iam:CreateAccessKey mints a long-lived key for a user.
        let Some(id) = k.access_key_id.owned() else {
            return;
        };
        let to = k.user_name.owned().unwrap_or_else(|| e.actor.id.clone());
        let issued_at = k
            .create_date
            .get()
            .and_then(|d| Timestamp::parse_aws(d).ok())
            .or(Some(time));
        let credential = Credential {
            issued_at,
            ..Credential::new(id.clone(), key_kind(&id, false))
        };
        e.issue_credential(credential, to);
    }
}

/// AWS error codes that mean "a policy said no" rather than "it broke".
fn is_denial(code: &str) -> bool {
    code.contains("AccessDenied")
        || code.contains("Unauthorized")
        || code == "Client.UnauthorizedOperation"
        || code.contains("Forbidden")
}

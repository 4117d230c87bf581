//! GitHub enterprise and organisation audit log entries (REST, streaming).
//!
//! Linking keys: `hashed_token` / `token_id` (the credential, the same on
//! every event made with it); `agent_session_id` (an agent instance);
//! `user` on agentic events (`actor_is_agent`) is the human who started it.

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, Link, Origin, Outcome, Principal, Source,
    Timestamp,
};
use serde::Deserialize;

use crate::format::{FormatInfo, Promoted, RuleFields, SigmaLogSource};
use crate::json::{Id, Scalar, Str, TextList, content_id};
use crate::probe::{Key, Probe};
use crate::{
    DecodeError, DecodeFailure, Decoder, EventSink, base_event, parse, push_resource, time_field,
};

/// Reads GitHub audit log entries.
pub struct Github;

/// How a GitHub App's id is written as a logical agent id (`github-app:42`).
pub(crate) const APP_PREFIX: &str = "github-app:";

/// The GitHub audit log format: its decoder, link hints, Sigma log sources and
/// rule fields.
pub static FORMAT: FormatInfo = FormatInfo {
    source: Source::Github,
    decoder: || Box::new(Github),
    link: crate::links::principal,
    sigma: &[SigmaLogSource {
        products: &["github"],
        services: &["audit"],
        product_alone: true,
    }],
    fields: RuleFields {
        promoted: &[("action", Promoted::EventType)],
        wrappers: &[],
        aliases: &[],
    },
};

#[derive(Deserialize)]
struct Entry {
    action: String,
    #[serde(default, rename = "@timestamp")]
    timestamp: Option<Scalar>,
    #[serde(default)]
    created_at: Option<Scalar>,
    #[serde(default, rename = "_document_id")]
    document_id: Str,
    #[serde(default)]
    actor: Str,
    #[serde(default)]
    actor_ip: Str,
    #[serde(default)]
    actor_is_bot: Option<bool>,
    #[serde(default)]
    actor_is_agent: Option<bool>,
    #[serde(default)]
    agent_session_id: Str,
    #[serde(default)]
    user: Str,
    #[serde(default)]
    org: Str,
    #[serde(default)]
    business: Str,
    #[serde(default)]
    repo: Str,
    #[serde(default)]
    repository: Str,
    #[serde(default)]
    team: Str,
    #[serde(default)]
    user_agent: Str,
    #[serde(default)]
    hashed_token: Str,
    #[serde(default)]
    token_id: Id,
    #[serde(default)]
    programmatic_access_type: Str,
    #[serde(default)]
    token_scopes: TextList,
    #[serde(default)]
    oauth_application_id: Id,
    #[serde(default)]
    integration: Str,
    #[serde(default)]
    request_id: Str,
    #[serde(default)]
    permission: Str,
}

impl Decoder for Github {
    fn format(&self) -> &'static FormatInfo {
        &FORMAT
    }

    fn claims(&self, p: &Probe<'_>) -> bool {
        p.has(Key::Action) && (p.has(Key::AtTimestamp) || p.has(Key::CreatedAt))
    }

    fn decode(
        &self,
        text: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure> {
        let r: Entry = parse(Source::Github, text)?;
        let time = time(&r)?;
        let id = r
            .document_id
            .owned()
            .unwrap_or_else(|| format!("gh-{}", content_id(text.as_bytes())));
        let mut e = base_event(
            Source::Github,
            id,
            r.action.clone(),
            time,
            origin,
            out.raw_text(text),
        );
        e.operation = r.action.clone();
        e.category = category(&r.action);
        e.tenant = r.business.owned().or_else(|| r.org.owned());
        e.src_ip = r.actor_ip.owned();
        e.user_agent = r.user_agent.owned();
        e.trace.correlation_id = r.request_id.owned();
        e.outcome = Outcome::Success;

        let login = r.actor.owned().unwrap_or_else(|| "github:unknown".into());
        let access = r.programmatic_access_type.get().unwrap_or("");
        (e.actor_kind, e.actor_kind_basis) = if r.actor_is_agent == Some(true) {
            (ActorKind::Agent, "actor_is_agent=true".into())
        } else if access.starts_with("GitHub App") && access.contains("server-to-server") {
            (
                ActorKind::ServicePrincipal,
                format!("programmatic_access_type={access}"),
            )
        } else if r.actor_is_bot == Some(true) || login.ends_with("[bot]") {
            (ActorKind::Workload, "actor is a bot".into())
        } else {
            (
                ActorKind::Human,
                "user account, no agent or bot marker".into(),
            )
        };
        e.actor = Principal {
            id: login.clone(),
            name: None,
            vendor_type: None,
        };
        if e.actor_kind == ActorKind::Agent {
            e.agent.agent_id = Some(login.clone());
            e.agent.name = Some(login.clone());
            e.agent.instance_id = r.agent_session_id.owned();
            if let Some(s) = r.agent_session_id.owned() {
                e.links.push(Link::SameTask {
                    kind: "agent_session".into(),
                    key: s.clone(),
                });
                e.trace.session_id = Some(s);
            }
            if let Some(human) = r.user.owned() {
                e.acts_for(login, human);
            }
        } else if let Some(target) = r.user.get() {
            push_resource(
                &mut e.resources,
                format!("user:{target}"),
                Some("user"),
                false,
            );
        }

        let token = r
            .hashed_token
            .owned()
            .or_else(|| r.token_id.get().map(|t| format!("github-token:{t}")));
        if let Some(token) = token {
            e.use_credential(Credential::new(token, CredentialKind::GithubToken));
        }
        e.scopes = r.token_scopes.0.clone();
        if let Some(app) = r.oauth_application_id.get().or(r.integration.get()) {
            e.agent
                .agent_id
                .get_or_insert_with(|| format!("{APP_PREFIX}{app}"));
        }
        let res = &mut e.resources;
        if let Some(repo) = r.repo.get().or(r.repository.get()) {
            push_resource(res, repo, Some("repo"), false);
        }
        if let Some(team) = r.team.get() {
            push_resource(res, team, Some("team"), false);
        }
        if let Some(org) = r.org.get() {
            push_resource(res, format!("org:{org}"), Some("org"), false);
        }
        if let Some(p) = r.permission.get() {
            e.scopes.push(format!("permission:{p}"));
        }
        out.event(e)?;
        Ok(())
    }
}

/// `@timestamp` and `created_at` are epoch milliseconds, `created_at` is an
/// ISO string in some exports.
fn time(r: &Entry) -> Result<Timestamp, DecodeError> {
    let bad = |value: String| DecodeError::BadTimestamp {
        format: Source::Github,
        field: "@timestamp",
        error: delegraph_model::TimestampError {
            value,
            expected: "epoch milliseconds or RFC 3339",
        },
    };
    let Some(v) = r.timestamp.as_ref().or(r.created_at.as_ref()) else {
        return Err(DecodeError::MissingField {
            format: Source::Github,
            detail: "missing field `@timestamp` (or `created_at`)".into(),
        });
    };
    match v {
        Scalar::Str(s) if s.contains('-') => {
            time_field(Source::Github, "created_at", Timestamp::parse_exported(s))
        }
        other => other
            .as_i64()
            .and_then(Timestamp::from_millis)
            .ok_or_else(|| bad(other.to_string())),
    }
}

fn category(action: &str) -> Category {
    const PERMISSION: [&str; 16] = [
        "org.add_member",
        "org.update_member",
        "org.add_outside_collaborator",
        "org.update_default_repository_permission",
        "org.add_billing_manager",
        "team.add_member",
        "team.add_repository",
        "team.update_repository_permission",
        "repo.add_member",
        "repo.update_member",
        "repo.access",
        "business.add_admin",
        "protected_branch.destroy",
        "protected_branch.policy_override",
        "org_credential_authorization.grant",
        "role.",
    ];
    if action.starts_with("personal_access_token.")
        && (action.ends_with("create") || action.ends_with("request_created"))
        || action.starts_with("oauth_access.create")
        || action.starts_with("oauth_authorization.create")
        || action == "public_key.create"
        || action == "deploy_key.create"
    {
        Category::CredentialIssue
    } else if action.ends_with(".destroy")
        && (action.starts_with("oauth_access") || action.starts_with("personal_access_token"))
    {
        Category::CredentialRevoke
    } else if PERMISSION.iter().any(|p| action.starts_with(p)) {
        Category::PermissionChange
    } else {
        Category::ApiCall
    }
}

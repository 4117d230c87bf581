//! What detectors read off one event: its service, operation, privilege
//! class, tenant and whether it changes permissions or is sensitive.

use delegraph_model::{Category, CredentialKind, NormEvent, Source};

/// Dimensions of per-instance item sets (baseline keys).
pub mod dim {
    /// Tools called.
    pub const TOOL: &str = "tool";
    /// Consecutive tool pairs.
    pub const TRANSITION: &str = "transition";
    /// Consecutive tool triples.
    pub const TRIGRAM: &str = "trigram";
    /// Sub-agents invoked (by agent name).
    pub const SUB_AGENT: &str = "sub_agent";
    /// Services (`s3.amazonaws.com`, `github`, MCP server).
    pub const SERVICE: &str = "service";
    /// Operations.
    pub const OPERATION: &str = "operation";
    /// OAuth scopes used or granted.
    pub const SCOPE: &str = "scope";
    /// `read`, `write`, `admin`.
    pub const PRIVILEGE: &str = "privilege_class";
    /// Accounts, orgs, tenants, projects.
    pub const TENANT: &str = "tenant";
    /// Permission-changing operations.
    pub const PERMISSION_CHANGE: &str = "permission_change";
    /// Identifiers (addresses, URLs, ids) the agent used in tool calls
    /// without its request naming them. Learned from detectors, not kept in
    /// the behaviour record (so not in [`ALL`]).
    pub const VALUE_CHOSEN: &str = "value_chosen";
    /// Identifiers the agent used in tool calls.
    pub const VALUE_USED: &str = "value_used";
    /// Identifiers in the requests humans gave the agent.
    pub const VALUE_ASKED: &str = "value_asked";
    /// Identifiers in tool results of trusted runs (the environment the
    /// agent works in: its inbox, contacts, documents).
    pub const VALUE_READ: &str = "value_read";

    /// Every dimension, in a fixed order (profiles store the index).
    pub const ALL: [&str; 10] = [
        TOOL,
        TRANSITION,
        TRIGRAM,
        SUB_AGENT,
        SERVICE,
        OPERATION,
        SCOPE,
        PRIVILEGE,
        TENANT,
        PERMISSION_CHANGE,
    ];

    /// Index of `d` in [`ALL`] (an unknown name maps past the end).
    pub fn index(d: &str) -> u8 {
        ALL.iter().position(|x| *x == d).unwrap_or(ALL.len()) as u8
    }
}

/// Per-instance counts (baseline metrics).
pub mod metric {
    /// Secret reads.
    pub const SECRET_READS: &str = "secret_reads";
    /// Distinct secrets read.
    pub const DISTINCT_SECRETS: &str = "distinct_secrets";
    /// Distinct operations.
    pub const OPERATIONS: &str = "operations";
    /// Sub-agent instances started under a root instance.
    pub const SUB_AGENTS: &str = "sub_agents";
    /// Deepest delegation below a root instance.
    pub const DEPTH: &str = "depth";
    /// Rare or new tools, transitions, triples and sub-agents of a closed
    /// instance, against the baseline it was scored with.
    pub const RARE_CHAIN: &str = "rare_chain_items";
    /// Minutes the instance's own credential stayed valid after its task
    /// ended.
    pub const CREDENTIAL_SLACK: &str = "credential_slack_minutes";
}

/// Per-instance flags (baseline rates).
pub mod flag {
    /// Used a credential after its task ended.
    pub const AFTER_TASK_END: &str = "after_task_end";
    /// Used a long-lived static key.
    pub const STATIC_KEY: &str = "static_key";
    /// Ran under an approval (a task envelope or policy decisions).
    pub const APPROVED: &str = "approved";
}

/// The service an event acted on.
pub fn service(e: &NormEvent) -> Option<String> {
    match e.source {
        Source::Cloudtrail => e.operation.split_once(':').map(|(s, _)| s.to_owned()),
        Source::Otlp | Source::Mcp => None,
        other => Some(other.as_str().to_owned()),
    }
}

/// Operations worth a privilege class: cloud and SaaS API calls, not tool
/// calls or agent turns (their tool name is the behaviour).
pub fn api_operation(e: &NormEvent) -> Option<&str> {
    match (e.source, e.category) {
        (Source::Otlp | Source::Mcp, _) => None,
        (_, Category::AgentInvoke | Category::ToolCall) => None,
        (_, c) if c.is_observation() => None,
        _ => Some(e.operation.as_str()),
    }
}

/// `read`, `write` or `admin`, from the category and the verb.
pub fn privilege_class(e: &NormEvent) -> Option<&'static str> {
    let op = api_operation(e)?;
    if matches!(e.category, Category::PermissionChange) || is_long_lived_issue(e) {
        return Some("admin");
    }
    let verb = op.rsplit([':', '.']).next().unwrap_or(op);
    const READ: [&str; 10] = [
        "Get", "List", "Describe", "Head", "Search", "Query", "Lookup", "Scan", "Select",
        "BatchGet",
    ];
    if READ.iter().any(|p| verb.starts_with(p)) || e.category == Category::SecretRead {
        Some("read")
    } else if e.category == Category::Authentication {
        None
    } else {
        Some("write")
    }
}

/// A credential issuance that creates something long-lived (an IAM user
/// key, an app secret, a personal access token, a deploy key).
pub fn is_long_lived_issue(e: &NormEvent) -> bool {
    e.category == Category::CredentialIssue
        && e.credential_issued.as_ref().is_some_and(|c| {
            matches!(
                c.kind,
                CredentialKind::AwsAccessKey
                    | CredentialKind::ClientSecret
                    | CredentialKind::ApiKey
            )
        })
        || e.operation.ends_with(":CreateAccessKey")
        || e.operation.ends_with(":CreateLoginProfile")
        || e.source_event_type.starts_with("personal_access_token.")
        || e.source_event_type == "deploy_key.create"
}

/// A change to who may do what, made through an API.
pub fn is_permission_change(e: &NormEvent) -> bool {
    e.category == Category::PermissionChange || is_long_lived_issue(e)
}

/// The account / org / tenant, namespaced by source.
pub fn tenant(e: &NormEvent) -> Option<String> {
    e.tenant
        .as_ref()
        .map(|t| format!("{}:{t}", e.source.as_str()))
}

/// `cloudtrail:123456789012` → `AWS account 123456789012`, for sentences.
pub fn tenant_label(item: &str) -> String {
    let Some((source, id)) = item.split_once(':') else {
        return item.to_owned();
    };
    let kind = match source {
        "cloudtrail" => "AWS account",
        "github" => "GitHub org",
        "okta" => "Okta org",
        "entra" => "Entra tenant",
        "google_workspace" => "Google Workspace customer",
        "gcp_audit" => "Google Cloud project",
        "azure_activity" => "Azure tenant or subscription",
        "entra_audit" | "entra_risk" => "Entra tenant",
        "m365_audit" => "Microsoft 365 tenant",
        other => other,
    };
    format!("{kind} {id}")
}

/// A long-lived static key: an IAM user key, typed so by the decoder or
/// recognisable by its id (`AKIA` + 16 characters) wherever it shows up,
/// e.g. passed to a tool through a gateway.
pub fn uses_static_key(e: &NormEvent) -> bool {
    e.credential_used.as_ref().is_some_and(|c| {
        c.kind == CredentialKind::AwsAccessKey
            || (c.id.len() == 20
                && c.id.starts_with("AKIA")
                && c.id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
    })
}

/// The name of the tool called, for tool-call events.
pub fn tool_name(e: &NormEvent) -> Option<&str> {
    (e.category == Category::ToolCall)
        .then_some(e.tool.as_ref())
        .flatten()
        .map(|t| t.name.as_str())
}

/// Secrets an event read.
pub fn secrets_read(e: &NormEvent) -> impl Iterator<Item = &str> {
    e.resources
        .iter()
        .filter(|r| r.is_secret)
        .map(|r| r.id.as_str())
}

/// The static name of a known flag (baseline keys are static).
pub fn flag_name(f: &str) -> Option<&'static str> {
    [flag::AFTER_TASK_END, flag::STATIC_KEY, flag::APPROVED]
        .into_iter()
        .find(|k| *k == f)
}

/// An action an agent takes (as opposed to being invoked, signing in, or
/// an approval record): what an approval should cover.
pub fn is_action(e: &NormEvent) -> bool {
    !e.is_approval_record()
        && !e.category.is_observation()
        && !matches!(
            e.category,
            Category::AgentInvoke | Category::Authentication | Category::Approval
        )
}

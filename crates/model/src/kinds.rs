//! The word-valued kinds an event is classified by: its source format,
//! actor kind, category, outcome and credential kind. Each has one stable
//! lower-case name used by tables, rules and the API.

use serde::{Deserialize, Serialize};

/// Which vendor format a record was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// AWS CloudTrail (single record, S3 `Records` file, EventBridge).
    Cloudtrail,
    /// Okta System Log (API or event hook).
    Okta,
    /// Microsoft Entra sign-in logs (Graph or Azure Monitor diagnostic).
    Entra,
    /// GitHub enterprise / organisation audit log.
    Github,
    /// Google Workspace Reports API activity.
    GoogleWorkspace,
    /// Google Cloud Audit Logs (`LogEntry` with an `AuditLog` payload).
    GcpAudit,
    /// Azure Activity Log (Azure Monitor diagnostic records).
    AzureActivity,
    /// Microsoft Entra ID audit logs (Graph `directoryAudit` or diagnostic).
    EntraAudit,
    /// Microsoft Entra ID Protection: risk detections for users, workload
    /// identities and agents, and risky-identity state (Graph or diagnostic).
    EntraRisk,
    /// Microsoft 365 unified audit log (Office 365 Management Activity API),
    /// Copilot interactions included.
    M365Audit,
    /// OpenTelemetry GenAI spans in OTLP/JSON.
    Otlp,
    /// MCP gateway JSON lines (delegraph's documented shape).
    Mcp,
    /// OPA decision logs.
    Opa,
    /// Task envelope events (delegraph's documented shape).
    TaskEnvelope,
}

impl Source {
    /// Every source, in a stable order (summaries, metrics labels).
    pub const ALL: [Source; 14] = [
        Source::Cloudtrail,
        Source::Okta,
        Source::Entra,
        Source::Github,
        Source::GoogleWorkspace,
        Source::GcpAudit,
        Source::AzureActivity,
        Source::EntraAudit,
        Source::EntraRisk,
        Source::M365Audit,
        Source::Otlp,
        Source::Mcp,
        Source::Opa,
        Source::TaskEnvelope,
    ];

    /// The name used on the command line (`--format`), in tables and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cloudtrail => "cloudtrail",
            Source::Okta => "okta",
            Source::Entra => "entra",
            Source::Github => "github",
            Source::GoogleWorkspace => "google_workspace",
            Source::GcpAudit => "gcp_audit",
            Source::AzureActivity => "azure_activity",
            Source::EntraAudit => "entra_audit",
            Source::EntraRisk => "entra_risk",
            Source::M365Audit => "m365_audit",
            Source::Otlp => "otlp",
            Source::Mcp => "mcp",
            Source::Opa => "opa",
            Source::TaskEnvelope => "task_envelope",
        }
    }

    /// Inverse of [`Source::as_str`]; also accepts the spec's `otlp-json`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "otlp-json" | "otlp_json" => Some(Source::Otlp),
            "google-workspace" | "gws" => Some(Source::GoogleWorkspace),
            "gcp-audit" | "gcp" => Some(Source::GcpAudit),
            "azure-activity" | "azure_activitylogs" => Some(Source::AzureActivity),
            "entra-audit" | "azure_auditlogs" => Some(Source::EntraAudit),
            "entra-risk" | "azure_riskdetection" => Some(Source::EntraRisk),
            "m365" | "m365-audit" | "o365" | "office365" => Some(Source::M365Audit),
            "task-envelope" | "envelope" => Some(Source::TaskEnvelope),
            _ => Self::ALL.into_iter().find(|x| x.as_str() == s),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of principal acted. Decided by the decoder from the record's own
/// evidence; the stitcher may refine it from the agent inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person.
    Human,
    /// An AI agent acting on its own or for a human.
    Agent,
    /// An agent invoked by another agent.
    SubAgent,
    /// A non-human workload (CI job, pod, role session of unknown purpose).
    Workload,
    /// An IdP application identity (Entra service principal, Okta client app).
    ServicePrincipal,
    /// A cloud provider's own service acting (`AWSService`).
    Service,
    /// Not decidable from this record alone.
    #[default]
    Unknown,
}

impl ActorKind {
    /// Stable lower-case name for tables and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Human => "human",
            ActorKind::Agent => "agent",
            ActorKind::SubAgent => "sub_agent",
            ActorKind::Workload => "workload",
            ActorKind::ServicePrincipal => "service_principal",
            ActorKind::Service => "service",
            ActorKind::Unknown => "unknown",
        }
    }
}

/// Coarse class of an event, used by detectors to pick what they look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A sign-in or authentication.
    Authentication,
    /// A credential or token was issued.
    CredentialIssue,
    /// A credential or token was revoked.
    CredentialRevoke,
    /// A secret's value was read.
    SecretRead,
    /// Permissions, roles, keys or policies changed.
    PermissionChange,
    /// An agent was invoked (agent turn, sub-agent call).
    AgentInvoke,
    /// A tool was called by an agent.
    ToolCall,
    /// A policy engine decided whether a request may proceed.
    PolicyDecision,
    /// A human approved, amended, revoked or completed a task envelope.
    Approval,
    /// A vendor's verdict about an identity (an Entra ID Protection risk
    /// detection, a change of its risk state): a record about the actor,
    /// not an act of it.
    RiskSignal,
    /// Any other API call.
    #[default]
    ApiCall,
}

impl Category {
    /// Stable lower-case name for tables and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Authentication => "authentication",
            Category::CredentialIssue => "credential_issue",
            Category::CredentialRevoke => "credential_revoke",
            Category::SecretRead => "secret_read",
            Category::PermissionChange => "permission_change",
            Category::AgentInvoke => "agent_invoke",
            Category::ToolCall => "tool_call",
            Category::PolicyDecision => "policy_decision",
            Category::Approval => "approval",
            Category::RiskSignal => "risk_signal",
            Category::ApiCall => "api_call",
        }
    }

    /// A record about an identity rather than an act of it: no operation
    /// the identity performed, nothing an approval covers.
    pub fn is_observation(self) -> bool {
        self == Category::RiskSignal
    }
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and failed.
    Failure,
    /// A policy refused it (access denied, no matching policy).
    Denied,
    /// The record does not say.
    #[default]
    Unknown,
}

impl Outcome {
    /// Stable lower-case name for tables and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Unknown => "unknown",
        }
    }
}

/// What kind of secret material a credential is; drives lifetime checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// AWS long-lived IAM user key (`AKIA…`).
    AwsAccessKey,
    /// AWS temporary STS key (`ASIA…`).
    AwsSessionKey,
    /// OAuth access / refresh / ID-JAG token (by hash or id).
    OauthToken,
    /// An application secret or certificate (Entra key id, client secret).
    ClientSecret,
    /// A GitHub token (PAT, app token, OAuth token).
    GithubToken,
    /// An IdP sign-in session or token (Entra `uniqueTokenIdentifier`).
    SessionToken,
    /// An API key (Google `callerType=KEY`, MCP gateway API key).
    ApiKey,
    /// Something else.
    Other,
}

impl CredentialKind {
    /// Stable lower-case name for tables and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::AwsAccessKey => "aws_access_key",
            CredentialKind::AwsSessionKey => "aws_session_key",
            CredentialKind::OauthToken => "oauth_token",
            CredentialKind::ClientSecret => "client_secret",
            CredentialKind::GithubToken => "github_token",
            CredentialKind::SessionToken => "session_token",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Other => "other",
        }
    }
}

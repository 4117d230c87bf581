//! What a human approved and what a policy engine decided: the "under what
//! approval" part of an audit trail.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Which policy engine made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyEngine {
    /// Open Policy Agent (decision-log plugin).
    Opa,
    /// Amazon Verified Permissions (Cedar), seen through CloudTrail.
    VerifiedPermissions,
    /// A guardrail in the agent runtime (OpenTelemetry `run_guardrail` /
    /// `apply_guardrail` spans).
    Guardrail,
}

impl PolicyEngine {
    /// Stable lower-case name for tables and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyEngine::Opa => "opa",
            PolicyEngine::VerifiedPermissions => "verified_permissions",
            PolicyEngine::Guardrail => "guardrail",
        }
    }
}

/// One access decision a policy engine made at request time. Carried by the
/// decision's own record; the actions it allowed refer to it by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// The engine's id for the decision (OPA `decision_id`, CloudTrail
    /// `requestID` for Verified Permissions).
    pub decision_id: String,
    /// Which engine decided.
    pub engine: PolicyEngine,
    /// The policy asked: OPA's query path, the Verified Permissions policy
    /// store id.
    pub policy: String,
    /// Allowed or denied; `None` when the result is not a yes/no answer
    /// (an OPA query for data rather than a decision).
    pub allowed: Option<bool>,
    /// The action asked about (tool name, Cedar action id, HTTP method).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    /// Policies that decided (Cedar determining policies) or the bundle
    /// revisions in force (OPA), so "which policy version said yes" is kept.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub policies: Vec<String>,
}

/// What happened to a task envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeChange {
    /// A human approved the task: the envelope starts to apply.
    Approved,
    /// The approval was changed; this record replaces the envelope.
    Amended,
    /// The approval was withdrawn: nothing is approved from now on.
    Revoked,
    /// The task finished: nothing is approved from now on.
    Completed,
}

impl EnvelopeChange {
    /// Stable lower-case name for tables and rules.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvelopeChange::Approved => "approved",
            EnvelopeChange::Amended => "amended",
            EnvelopeChange::Revoked => "revoked",
            EnvelopeChange::Completed => "completed",
        }
    }
}

/// What a human approved an agent instance to do
/// (`docs/formats/task-envelope.md`). Lists that are empty do not restrict.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskEnvelope {
    /// The platform's id for the envelope; amendments reuse it.
    pub envelope_id: String,
    /// The task the envelope approves.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub task_id: Option<String>,
    /// The task's purpose in the approver's words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purpose: Option<String>,
    /// The human who approved (email, else subject id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approved_by: Option<String>,
    /// How approval was given (`interactive`, `ticket`, `policy`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approval_method: Option<String>,
    /// The ticket or request that records the approval.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approval_reference: Option<String>,
    /// The policy decision that admitted the task, when one did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision_id: Option<String>,
    /// Approved tool names (`*` matches any run of characters).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tools: Vec<String>,
    /// Approved cloud and SaaS operations (`s3.amazonaws.com:GetObject`,
    /// `*` patterns), for actions that are API calls rather than tool calls.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub operations: Vec<String>,
    /// Approved resources (ids or `*` patterns).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resources: Vec<String>,
    /// Approved scopes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub scopes: Vec<String>,
    /// Not approved before this time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_before: Option<Timestamp>,
    /// Not approved after this time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<Timestamp>,
    /// Most tool calls approved.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_calls: Option<u64>,
}

/// A task envelope record: the envelope and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeEvent {
    /// Approved, amended, revoked or completed.
    pub change: EnvelopeChange,
    /// The envelope as this record states it.
    pub envelope: TaskEnvelope,
}

/// The approval an action ran under, resolved by the stitcher: the
/// decision that allowed it, the envelope it ran in, and whether it stayed
/// inside that envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Approval {
    /// The policy decision bound to this action (by propagated id, by
    /// instance + tool within the window, else the envelope's decision).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision_id: Option<String>,
    /// That decision's result, when its record was seen.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision_allowed: Option<bool>,
    /// How the decision was bound (`propagated decision id`, …).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision_basis: Option<String>,
    /// The instance had a decision record within the lookback, even if
    /// none binds to this action.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub recent_decision: bool,
    /// The envelope the action ran under.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub envelope_id: Option<String>,
    /// The envelope's task.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub task_id: Option<String>,
    /// The human who approved the envelope.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approved_by: Option<String>,
    /// The envelope's purpose, quoted in findings.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purpose: Option<String>,
    /// Why the action is outside its envelope; empty when inside (or when
    /// there is no envelope).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub breaches: Vec<Breach>,
}

/// One way an action left its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// `tool`, `operation`, `resource`, `scope`, `not_started`, `expired`,
    /// `ended`, `max_calls`: stable, for rules and finding ids.
    pub kind: String,
    /// What was outside (the tool, resource, scope, or the time).
    pub item: String,
    /// The sentence, quoting what the envelope allows.
    pub detail: String,
}

impl Approval {
    /// Inside its envelope: `None` without an envelope.
    pub fn inside_envelope(&self) -> Option<bool> {
        self.envelope_id.as_ref().map(|_| self.breaches.is_empty())
    }

    /// Backed by a record delegraph saw: an envelope, or a decision whose
    /// log entry was read. A decision id the runtime propagated alone is a
    /// claim, not evidence (the decision log may be missing or the id
    /// forged), so it does not make an action approved.
    pub fn is_evidenced(&self) -> bool {
        self.envelope_id.is_some() || self.decision_allowed.is_some() || self.recent_decision
    }
}

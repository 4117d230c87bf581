//! Labelled misbehaviour injected into some instances.

use serde::Serialize;

/// A kind of misbehaviour a simulated instance can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Tool transitions this kind of agent never makes.
    UnusualToolChain,
    /// Many more AWS services and operations than the agent's kind uses.
    ScopeGrowth,
    /// The instance's key used half an hour after its task ended.
    CredentialAfterTaskEnd,
    /// A long-lived IAM user key (`AKIA…`) used by the agent.
    LongLivedKey,
    /// The instance acts with another instance's credential.
    SharedCredential,
    /// A burst of reads of many distinct secrets.
    SecretReadBurst,
    /// A role chain into another AWS account.
    CrossAccount,
    /// Far more sub-agents than usual.
    SubagentFanout,
    /// IAM permission changes made by the agent.
    PrivilegeEscalation,
    /// An instruction injected in a tool result sends data to an address
    /// the human never gave.
    DataFlow,
    /// A tool, resource or time outside the task envelope the human approved.
    OutsideEnvelope,
    /// Denied decisions in a burst, or a denied action done another way.
    PolicyProbe,
    /// An agent whose tasks are approved acting with no approval at all.
    Unapproved,
}

impl Scenario {
    /// Every scenario, in a stable order.
    pub const ALL: [Scenario; 13] = [
        Scenario::UnusualToolChain,
        Scenario::ScopeGrowth,
        Scenario::CredentialAfterTaskEnd,
        Scenario::LongLivedKey,
        Scenario::SharedCredential,
        Scenario::SecretReadBurst,
        Scenario::CrossAccount,
        Scenario::SubagentFanout,
        Scenario::PrivilegeEscalation,
        Scenario::DataFlow,
        Scenario::OutsideEnvelope,
        Scenario::PolicyProbe,
        Scenario::Unapproved,
    ];

    /// Scenarios about approvals, which only agents whose platform records
    /// approvals can show.
    pub fn needs_approvals(self) -> bool {
        matches!(
            self,
            Scenario::OutsideEnvelope | Scenario::PolicyProbe | Scenario::Unapproved
        )
    }

    /// The detectors meant to catch it (the hijack scenario: value
    /// provenance, or its fixed-list stand-in while the agent's history is
    /// too short for it).
    pub fn detectors(self) -> &'static [&'static str] {
        match self {
            Scenario::UnusualToolChain => &["tool_chain"],
            Scenario::ScopeGrowth => &["scope_growth"],
            Scenario::CredentialAfterTaskEnd | Scenario::LongLivedKey => &["credential_lifetime"],
            Scenario::SharedCredential => &["shared_identity"],
            Scenario::SecretReadBurst => &["secret_access"],
            Scenario::CrossAccount => &["cross_environment"],
            Scenario::SubagentFanout => &["delegation"],
            Scenario::PrivilegeEscalation => &["privilege_escalation"],
            Scenario::DataFlow => &["value_provenance", "data_flow"],
            Scenario::OutsideEnvelope => &["envelope"],
            Scenario::PolicyProbe => &["policy_probe"],
            Scenario::Unapproved => &["unapproved"],
        }
    }

    /// Its snake_case name (as in `scenarios.jsonl`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::UnusualToolChain => "unusual_tool_chain",
            Scenario::ScopeGrowth => "scope_growth",
            Scenario::CredentialAfterTaskEnd => "credential_after_task_end",
            Scenario::LongLivedKey => "long_lived_key",
            Scenario::SharedCredential => "shared_credential",
            Scenario::SecretReadBurst => "secret_read_burst",
            Scenario::CrossAccount => "cross_account",
            Scenario::SubagentFanout => "subagent_fanout",
            Scenario::PrivilegeEscalation => "privilege_escalation",
            Scenario::DataFlow => "data_flow",
            Scenario::OutsideEnvelope => "outside_envelope",
            Scenario::PolicyProbe => "policy_probe",
            Scenario::Unapproved => "unapproved",
        }
    }

    /// Inverse of [`Scenario::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

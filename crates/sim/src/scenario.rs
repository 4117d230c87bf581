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
}

impl Scenario {
    /// Every scenario, in a stable order.
    pub const ALL: [Scenario; 9] = [
        Scenario::UnusualToolChain,
        Scenario::ScopeGrowth,
        Scenario::CredentialAfterTaskEnd,
        Scenario::LongLivedKey,
        Scenario::SharedCredential,
        Scenario::SecretReadBurst,
        Scenario::CrossAccount,
        Scenario::SubagentFanout,
        Scenario::PrivilegeEscalation,
    ];
}

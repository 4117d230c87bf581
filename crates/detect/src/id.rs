//! Detectors are told apart by a typed id, never by strings: the id names
//! a finding's `detector` column, the settings table of `detectors.toml`,
//! and the "already raised for this instance" mark.

use serde::{Deserialize, Serialize};

/// One built-in detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DetectorId {
    /// Rare or new tools, transitions and sub-agent calls.
    ToolChain,
    /// Rare services, operations, scopes and privilege classes.
    ScopeGrowth,
    /// Credentials used past their task or expiry, static keys, slack.
    CredentialLifetime,
    /// One credential used by several chains or by a person.
    SharedIdentity,
    /// More secret reads than the agent's usual.
    SecretAccess,
    /// Tenants and accounts outside the agent's usual.
    CrossEnvironment,
    /// More sub-agents or a deeper chain than usual.
    Delegation,
    /// Permission changes.
    PrivilegeEscalation,
    /// Destinations taken from tool output rather than the request.
    DataFlow,
    /// Actions outside the approved task envelope.
    Envelope,
    /// Denied-decision bursts and ways around a denial.
    PolicyProbe,
    /// Governed agents acting without approval.
    Unapproved,
    /// Identifiers a consequential call took from tool output that are new
    /// to the agent (opt-in).
    ValueProvenance,
}

impl DetectorId {
    /// Every built-in detector, in report order.
    pub const ALL: [DetectorId; 13] = [
        DetectorId::ToolChain,
        DetectorId::ScopeGrowth,
        DetectorId::CredentialLifetime,
        DetectorId::SharedIdentity,
        DetectorId::SecretAccess,
        DetectorId::CrossEnvironment,
        DetectorId::Delegation,
        DetectorId::PrivilegeEscalation,
        DetectorId::DataFlow,
        DetectorId::Envelope,
        DetectorId::PolicyProbe,
        DetectorId::Unapproved,
        DetectorId::ValueProvenance,
    ];

    /// The name findings and `detectors.toml` use.
    pub const fn name(self) -> &'static str {
        match self {
            DetectorId::ToolChain => "tool_chain",
            DetectorId::ScopeGrowth => "scope_growth",
            DetectorId::CredentialLifetime => "credential_lifetime",
            DetectorId::SharedIdentity => "shared_identity",
            DetectorId::SecretAccess => "secret_access",
            DetectorId::CrossEnvironment => "cross_environment",
            DetectorId::Delegation => "delegation",
            DetectorId::PrivilegeEscalation => "privilege_escalation",
            DetectorId::DataFlow => "data_flow",
            DetectorId::Envelope => "envelope",
            DetectorId::PolicyProbe => "policy_probe",
            DetectorId::Unapproved => "unapproved",
            DetectorId::ValueProvenance => "value_provenance",
        }
    }
}

impl std::fmt::Display for DetectorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let names: std::collections::BTreeSet<_> =
            DetectorId::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), DetectorId::ALL.len());
    }
}

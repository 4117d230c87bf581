//! The agent inventory a SOC maintains: which identities are which agents.
//!
//! Logs alone cannot always tell an agent's role session from a CI job's.
//! The inventory maps identities (IAM role ARNs, OAuth client ids, GitHub
//! App ids, Entra app ids, SPIFFE ids, OTel `gen_ai.agent.id`s, role session
//! name conventions) to logical agents with an owner and an environment.
//! Patterns may use `*` for any run of characters.

use delegraph_model::{ActorKind, NormEvent};
use serde::Deserialize;

/// One logical agent and the identities that are it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InventoryAgent {
    /// The logical agent id findings and baselines use.
    pub id: String,
    /// Who answers for it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Where it runs (`prod`, `staging`, …).
    #[serde(default)]
    pub environment: Option<String>,
    /// IAM role ARN patterns its sessions assume.
    #[serde(default)]
    pub iam_roles: Vec<String>,
    /// Role session name patterns (a naming convention).
    #[serde(default)]
    pub session_names: Vec<String>,
    /// OAuth client ids (Okta, Google Workspace, MCP clients).
    #[serde(default)]
    pub oauth_clients: Vec<String>,
    /// GitHub App ids.
    #[serde(default)]
    pub github_apps: Vec<String>,
    /// Entra application (client) or service principal ids.
    #[serde(default)]
    pub entra_apps: Vec<String>,
    /// SPIFFE id patterns.
    #[serde(default)]
    pub spiffe_ids: Vec<String>,
    /// OTel `gen_ai.agent.id` / `gen_ai.agent.name` values.
    #[serde(default)]
    pub otel_agent_ids: Vec<String>,
}

/// The whole inventory file (`agents.toml`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The agents, first match wins.
    #[serde(default, rename = "agent")]
    pub agents: Vec<InventoryAgent>,
}

/// `*` matches any run of characters (including none); everything else
/// matches itself.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, p) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn any(patterns: &[String], value: Option<&str>) -> bool {
    value.is_some_and(|v| patterns.iter().any(|p| wildcard(p, v)))
}

impl Inventory {
    /// Parse `agents.toml`; errors name the line.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The inventory agent this event's actor is, if any.
    pub fn classify(&self, e: &NormEvent) -> Option<&InventoryAgent> {
        let agent_id = e.agent.agent_id.as_deref();
        let spiffe = [Some(e.actor.id.as_str()), e.on_behalf_of.as_deref()]
            .into_iter()
            .flatten()
            .find(|s| s.starts_with("spiffe://"));
        self.agents.iter().find(|a| {
            any(&a.iam_roles, e.hints.role.as_deref())
                || any(&a.session_names, e.trace.session_id.as_deref())
                || any(&a.oauth_clients, agent_id)
                || any(&a.oauth_clients, Some(e.actor.id.as_str()))
                || any(&a.github_apps, e.hints.app.as_deref())
                || any(&a.entra_apps, agent_id)
                || any(&a.entra_apps, Some(e.actor.id.as_str()))
                || any(&a.spiffe_ids, spiffe)
                || any(&a.otel_agent_ids, agent_id)
                || any(&a.otel_agent_ids, e.agent.name.as_deref())
        })
    }

    /// Mark the event as the inventory's agent: logical agent id, and the
    /// actor kind with how it was decided.
    pub fn apply(&self, e: &mut NormEvent) {
        let Some(a) = self.classify(e) else { return };
        if matches!(
            e.actor_kind,
            ActorKind::Workload | ActorKind::ServicePrincipal | ActorKind::Unknown
        ) {
            e.actor_kind = ActorKind::Agent;
        }
        e.actor_kind_basis = format!("agent inventory: {} ({})", a.id, e.actor_kind_basis);
        e.agent.agent_id = Some(a.id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard(
            "arn:aws:iam::*:role/support-*",
            "arn:aws:iam::123:role/support-agent"
        ));
        assert!(wildcard("*", ""));
        assert!(wildcard("a*b*c", "a-x-b-y-c"));
        assert!(!wildcard("a*b*c", "a-x-c-y-b"));
        assert!(!wildcard("exact", "exactly"));
        assert!(wildcard("exact", "exact"));
    }
}

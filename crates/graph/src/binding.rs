//! What a key resolves to, and what resolving a record gives.

use std::sync::Arc;

use delegraph_model::HintText;
use serde::{Deserialize, Serialize};

/// The instance a key belongs to, with its root, logical agent, human and
/// delegation chain. Shared (`Arc`) between the keys of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Binding {
    pub instance: String,
    pub root: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub human: Option<String>,
    pub chain: Vec<String>,
    pub depth: u32,
    /// A long-lived session whose start was not seen (an agent runtime or
    /// platform): sessions it issues start new instances rather than extend
    /// its own chain.
    pub spawns: bool,
    /// One binding for every event of a principal that names no instance
    /// (an Okta agent identity): the human each record names wins.
    pub per_principal: bool,
}

/// How one record resolved, with the explanation its attribution keeps.
pub(crate) enum Resolved {
    /// An agent instance (or workload session).
    Instance(Arc<Binding>, HintText),
    /// A human acting directly: the human, and why.
    Human(String, String),
    /// No one: why not.
    Unattributed(HintText),
}

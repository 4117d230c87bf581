//! What a key resolves to, and what resolving a record gives.

use std::sync::Arc;

use delegraph_model::HintText;
use serde::{Deserialize, Serialize};

/// The instance a key belongs to, with its root, logical agent, human and
/// delegation chain. Shared (`Arc`) between the keys of one session. Its
/// ids are shared too (`Arc<str>`): a root instance's id is its `root`
/// and the end of its `chain`, its human the chain's start, and a
/// sub-agent's chain repeats its parent's; one copy each is what an idle
/// instance's binding costs (saved as strings, so checkpoints are the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Binding {
    pub instance: Arc<str>,
    pub root: Arc<str>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub human: Option<Arc<str>>,
    pub chain: Vec<Arc<str>>,
    pub depth: u32,
    /// A long-lived session whose start was not seen (an agent runtime or
    /// platform): sessions it issues start new instances rather than extend
    /// its own chain.
    pub spawns: bool,
    /// One binding for every event of a principal that names no instance
    /// (an Okta agent identity): the human each record names wins.
    pub per_principal: bool,
}

impl Binding {
    /// Restored from a checkpoint (ids read one copy each): its root,
    /// human and chain share the instance's, root's and human's ids again
    /// (within the binding; a sub-agent's chain no longer shares its
    /// parent's copies after a restart).
    pub(crate) fn shared(mut self) -> Arc<Self> {
        let same = |id: &mut Arc<str>, as_: &Arc<str>| {
            if **id == **as_ {
                *id = as_.clone();
            }
        };
        same(&mut self.root, &self.instance);
        for link in &mut self.chain {
            same(link, &self.instance);
            same(link, &self.root);
            if let Some(h) = &self.human {
                same(link, h);
            }
        }
        Arc::new(self)
    }
}

/// The human a record names, else `parent`'s (one copy when the same).
pub(crate) fn human_or(named: Option<&String>, parent: &Option<Arc<str>>) -> Option<Arc<str>> {
    match named {
        Some(h) if parent.as_deref() != Some(h.as_str()) => Some(h.as_str().into()),
        _ => parent.clone(),
    }
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

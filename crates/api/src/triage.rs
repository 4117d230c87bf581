//! The triage book: each finding's current state in memory, rebuilt from
//! the store's `finding_activity` log when the server first needs it, and
//! every change appended to that log before it counts.
//!
//! One mutex orders all changes of a server, so two analysts acting on the
//! same finding at once both land, one after the other: the second is
//! checked against the state the first left (and refused with a reason if
//! it no longer applies, e.g. acknowledging what was just closed). A server
//! is the only writer of its data directory's triage log.

use std::collections::HashMap;
use std::path::Path;

use delegraph_model::{ActivityEntry, TriageChange, TriageError, TriageState, TriageTarget};

use crate::ApiError;

/// Findings one bulk change may touch.
pub const MAX_BULK: usize = 10_000;

/// The current state of every triaged finding, and the next sequence number.
pub(crate) struct TriageBook {
    states: HashMap<String, TriageState>,
    next_seq: u64,
}

/// What one batch of changes did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// The entries appended, in order.
    pub entries: Vec<ActivityEntry>,
    /// Findings the change did not apply to, with why.
    pub skipped: Vec<(String, TriageError)>,
}

impl TriageBook {
    /// Rebuild from the log.
    pub(crate) fn load(data_dir: &Path) -> Result<Self, ApiError> {
        let entries = delegraph_store::read_activity(data_dir)?;
        let next_seq = entries.last().map_or(1, |e| e.seq + 1);
        let mut states = HashMap::new();
        for e in entries {
            states.insert(e.finding_id, e.state);
        }
        Ok(Self { states, next_seq })
    }

    /// A finding's state now.
    pub(crate) fn state(&self, finding_id: &str) -> TriageState {
        self.states.get(finding_id).cloned().unwrap_or_default()
    }

    /// Apply `change` to each finding it applies to, as `actor`, and append
    /// the entries as one commit; memory changes only once that is stored.
    pub(crate) fn apply(
        &mut self,
        data_dir: &Path,
        targets: &[TriageTarget],
        change: &TriageChange,
        actor: &str,
        via: &str,
    ) -> Result<Applied, ApiError> {
        change
            .check()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        // The log keeps microseconds: what is answered now reads back the
        // same later.
        let at = crate::now_ns() / 1_000 * 1_000;
        let mut out = Applied::default();
        let mut seq = self.next_seq;
        for target in targets {
            let id = &target.finding_id;
            let before = self.state(id);
            match change.transition(&before) {
                Ok(state) => {
                    out.entries.push(ActivityEntry {
                        seq,
                        finding_id: id.clone(),
                        at,
                        actor: actor.to_owned(),
                        action: change.action(&before).to_owned(),
                        state,
                        note: change.note.clone(),
                        via: via.to_owned(),
                        agent_instance: target.agent_instance.clone(),
                    });
                    seq += 1;
                }
                Err(e) => out.skipped.push((id.clone(), e)),
            }
        }
        delegraph_store::append_activity(data_dir, &out.entries)?;
        self.next_seq = seq;
        for e in &out.entries {
            self.states.insert(e.finding_id.clone(), e.state.clone());
        }
        Ok(out)
    }
}

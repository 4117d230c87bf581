//! Analysts' verdicts reaching the baselines.
//!
//! An instance whose own findings were too risky to learn is quarantined:
//! its agent's baseline does not take it in, so a hijacked session cannot
//! teach the detectors that hijacking is normal. An analyst who closes one
//! of its findings as benign says otherwise, so the engine holds back what
//! the baseline would have learned from each quarantined instance (bounded,
//! oldest dropped first) and learns it when such a verdict comes; a
//! true-positive close drops it for good. A verdict on an instance still
//! open (or waiting for its agent's baseline to be seeded) is kept until it
//! closes and decides then, whatever the instance's risk.
//!
//! Saved as its own part of the engine's state, so checkpoints written
//! before verdicts existed load unchanged (with nothing held back).

use delegraph_model::{Bounded, Disposition, Verdict};
use serde::{Deserialize, Serialize};

use super::Detectors;
use crate::baseline::Observation;
use crate::instance::Instance;

/// Most quarantined instances held back for a verdict.
const MAX_HELD_BACK: usize = 4_096;
/// Most verdicts waiting for their instance to close.
const MAX_PENDING: usize = 4_096;

/// The key the verdict state is saved under among the detectors' parts.
pub(super) const VERDICTS_PART: &str = "engine.verdicts";

/// What a quarantined instance would have taught its agent's baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    agent: String,
    observation: Observation<String>,
}

/// Held-back instances, verdicts waiting for their instance, and counters.
#[derive(Serialize, Deserialize)]
pub(super) struct Verdicts {
    held: Bounded<Held>,
    pending: Bounded<Disposition>,
    /// The last verdict applied (verdicts come again after a restart).
    through: u64,
    /// Instances learned because an analyst called them benign.
    pub(super) learned_benign: u64,
    /// Held-back instances dropped on a true-positive verdict.
    pub(super) dropped_true_positive: u64,
}

impl Default for Verdicts {
    fn default() -> Self {
        Self {
            held: Bounded::new(MAX_HELD_BACK),
            pending: Bounded::new(MAX_PENDING),
            through: 0,
            learned_benign: 0,
            dropped_true_positive: 0,
        }
    }
}

impl Verdicts {
    /// Instances held back now.
    pub(super) fn held_back(&self) -> usize {
        self.held.len()
    }
}

impl Detectors {
    /// Apply an analyst's verdict (each once, in order).
    pub fn apply_verdict(&mut self, v: &Verdict) {
        if v.seq <= self.verdicts.through {
            return;
        }
        self.verdicts.through = v.seq;
        let instance = v.agent_instance.as_str();
        let held = self.verdicts.held.pop(instance);
        match (v.disposition, held) {
            (Disposition::BenignPositive, Some(h)) => {
                self.learn_observation(&h.agent, &h.observation, 1.0);
                self.verdicts.learned_benign += 1;
            }
            (Disposition::TruePositive, Some(_)) => self.verdicts.dropped_true_positive += 1,
            (d, None) if self.not_yet_judged(instance) => {
                self.verdicts.pending.put(instance.to_owned(), d);
            }
            _ => {}
        }
    }

    /// Whether `instance` is open or closed and waiting for its agent's
    /// baseline to be seeded: a verdict on it decides when it is learned.
    fn not_yet_judged(&self, instance: &str) -> bool {
        self.s.open.contains(instance)
            || self
                .s
                .warming
                .values()
                .flatten()
                .any(|p| p.instance == instance)
    }

    /// The weight closed instance `p` is learned with, given an analyst's
    /// verdict on it, if one came while it was open: 1 when benign, none
    /// (`Some(None)`) after a true positive; `None` when there was none.
    pub(super) fn verdict_weight(&mut self, p: &Instance) -> Option<Option<f64>> {
        match self.verdicts.pending.pop(&p.instance)? {
            Disposition::BenignPositive => {
                self.verdicts.learned_benign += 1;
                Some(Some(1.0))
            }
            _ => Some(None),
        }
    }

    /// Keep what quarantined instance `p` would have taught `agent`.
    pub(super) fn hold_back(&mut self, agent: &str, p: &Instance) {
        let observation = self.observation(p).owned();
        self.verdicts.held.put(
            p.instance.clone(),
            Held {
                agent: agent.to_owned(),
                observation,
            },
        );
    }
}

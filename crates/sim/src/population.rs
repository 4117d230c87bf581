//! Who starts tasks: the humans, the agent kind each picks, when, and which
//! tasks misbehave. Everything here is drawn before a task writes anything.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::Scenario;
use crate::agents::{AgentKind, KINDS};
use crate::approvals::GOVERNED;
use crate::credentials::Lender;
use crate::world::{Sim, SimConfig};

/// The humans and the window tasks start in.
pub(crate) struct Population {
    /// One human per ten instances (at least three), so humans run several
    /// tasks each.
    humans: Vec<String>,
    /// Sum of the agent kinds' weights.
    total_weight: u32,
    /// Length of the window in seconds.
    window: f64,
    scenario_rate: f64,
}

/// One task as drawn: who, with which agent, when, and how it misbehaves.
pub(crate) struct Plan<'p> {
    /// The task's position in the run (picks scenario variants).
    pub(crate) index: usize,
    pub(crate) kind: &'static AgentKind,
    pub(crate) human: &'p str,
    pub(crate) scenario: Option<Scenario>,
    /// When the task starts.
    pub(crate) start: f64,
    /// The earlier task whose credential a shared-credential task uses.
    pub(crate) lender: Option<Lender>,
}

impl Population {
    /// The population a configuration asks for.
    pub(crate) fn new(cfg: &SimConfig) -> Self {
        Self {
            humans: (0..cfg.instances.div_ceil(10).max(3))
                .map(|i| format!("user{i:03}@example.com"))
                .collect(),
            total_weight: KINDS.iter().map(|k| k.weight).sum(),
            window: cfg.hours * 3600.0,
            scenario_rate: cfg.scenario_rate,
        }
    }

    /// Draw task `index`, counting its scenario into `counts`.
    pub(crate) fn plan(
        &self,
        sim: &mut Sim,
        index: usize,
        counts: &mut BTreeMap<Scenario, usize>,
    ) -> Plan<'_> {
        let rng = &mut sim.rng;
        let kind = self.pick_kind(rng);
        let human = self.humans[rng.random_range(0..self.humans.len())].as_str();
        let scenario = self.pick_scenario(rng, counts);
        let kind = able_to_show(kind, scenario);
        let mut start = sim.start + rng.random_range(0.0..(self.window - 1800.0).max(60.0));
        let lender = match scenario {
            Some(Scenario::SharedCredential) => sim.lenders.get(kind.name).cloned(),
            _ => None,
        };
        if let Some(lender) = &lender {
            // The borrowed credential was obtained by an earlier task.
            start = lender.started + sim.rng.random_range(120.0..900.0);
        }
        Plan {
            index,
            kind,
            human,
            scenario,
            start,
            lender,
        }
    }

    /// An agent kind, by weight.
    fn pick_kind(&self, rng: &mut ChaCha8Rng) -> &'static AgentKind {
        let mut pick = rng.random_range(0..self.total_weight);
        KINDS
            .iter()
            .find(|k| {
                if pick < k.weight {
                    true
                } else {
                    pick -= k.weight;
                    false
                }
            })
            .unwrap_or(&KINDS[0])
    }

    /// Whether the task misbehaves; scenarios are dealt in turn so every
    /// one shows up even in small runs.
    fn pick_scenario(
        &self,
        rng: &mut ChaCha8Rng,
        counts: &mut BTreeMap<Scenario, usize>,
    ) -> Option<Scenario> {
        let scenario = rng
            .random_bool(self.scenario_rate)
            .then(|| Scenario::ALL[counts.values().sum::<usize>() % Scenario::ALL.len()]);
        if let Some(s) = scenario {
            *counts.entry(s).or_default() += 1;
        }
        scenario
    }
}

/// Approval scenarios happen where approvals are recorded: a task drawn
/// for one on an ungoverned kind runs the first (governed) kind instead.
fn able_to_show(kind: &'static AgentKind, scenario: Option<Scenario>) -> &'static AgentKind {
    if scenario.is_some_and(Scenario::needs_approvals) && !GOVERNED.contains(&kind.name) {
        &KINDS[0]
    } else {
        kind
    }
}

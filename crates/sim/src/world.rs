//! The simulated organisation and the run that writes its logs.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::credentials::Lender;
use crate::ids::Ids;
use crate::logs::Logs;
use crate::population::Population;
use crate::{Scenario, SimError};

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// Seed; the same seed writes the same files.
    pub seed: u64,
    /// Agent instances (tasks) to run.
    pub instances: usize,
    /// Length of the simulated window.
    pub hours: f64,
    /// Share of instances that misbehave (each in one labelled way).
    pub scenario_rate: f64,
    /// When the window starts, in seconds since the Unix epoch: runs that
    /// follow one another in time (a store built up period by period)
    /// start where the previous window ended.
    pub start: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            instances: 200,
            hours: 4.0,
            scenario_rate: 0.1,
            start: DEFAULT_START,
        }
    }
}

/// What a run wrote.
#[derive(Debug, Default, Clone)]
pub struct SimSummary {
    /// Records written per source file.
    pub records: BTreeMap<&'static str, usize>,
    /// Instances simulated.
    pub instances: usize,
    /// Instances per scenario.
    pub scenarios: BTreeMap<Scenario, usize>,
}

/// 2026-03-02T00:00:00Z: where the simulated window starts unless told.
pub const DEFAULT_START: f64 = 1_772_409_600.0;
/// The organisation's own AWS account.
pub(crate) const ACCOUNT: &str = "123456789012";

/// A run in progress: its random streams, everything written so far, and
/// the credentials earlier tasks leave for later ones to borrow.
pub(crate) struct Sim {
    /// When the window starts (seconds since the Unix epoch).
    pub(crate) start: f64,
    /// Behaviour: who starts what, when, which tools, how many.
    pub(crate) rng: ChaCha8Rng,
    /// Identifiers, from a stream of their own.
    pub(crate) ids: Ids,
    /// Everything written, before sorting into files.
    pub(crate) logs: Logs,
    /// Per agent kind, the last task that assumed its role: what a
    /// shared-credential task of that kind borrows.
    pub(crate) lenders: BTreeMap<&'static str, Lender>,
}

impl Sim {
    fn new(seed: u64, start: f64) -> Self {
        Self {
            start,
            rng: ChaCha8Rng::seed_from_u64(seed),
            ids: Ids::new(seed),
            logs: Logs::default(),
            lenders: BTreeMap::new(),
        }
    }
}

/// Write a simulated dataset into `out`: one JSON-lines file per source,
/// `truth.jsonl` (true instance and human of every event) and
/// `scenarios.jsonl` (which instances misbehave, and how).
pub fn simulate(cfg: SimConfig, out: &Path) -> Result<SimSummary, SimError> {
    let mut sim = Sim::new(cfg.seed, cfg.start);
    let population = Population::new(&cfg);
    let mut summary = SimSummary {
        instances: cfg.instances,
        ..SimSummary::default()
    };
    for index in 0..cfg.instances {
        let plan = population.plan(&mut sim, index, &mut summary.scenarios);
        sim.run_task(plan);
    }
    sim.logs.write(out, &mut summary.records)?;
    Ok(summary)
}

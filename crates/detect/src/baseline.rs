//! What a logical agent's instances usually do, learned online.
//!
//! Every closed instance adds one observation: for each dimension (tools,
//! transitions, services, accounts, …) the *set* of items it touched, its
//! counts (secret reads, sub-agents, …) and flags. Sets, not frequencies,
//! so one instance hammering an operation counts once. Older instances
//! decay geometrically (half-life in instances), so the baseline follows
//! real change but a single instance moves it by at most 1/n.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::counted::entry_of;
use crate::intent::{IntentModel, IntentSample};

/// Weighted first and second moments of a count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    weight: f64,
    sum: f64,
    sum_sq: f64,
}

impl Moments {
    fn decay(&mut self, d: f64) {
        self.weight *= d;
        self.sum *= d;
        self.sum_sq *= d;
    }

    fn add(&mut self, x: f64, weight: f64) {
        self.weight += weight;
        self.sum += weight * x;
        self.sum_sq += weight * x * x;
    }

    /// Mean and variance; a zero-weight history has mean 0.
    pub fn mean_var(&self) -> (f64, f64) {
        if self.weight <= 0.0 {
            return (0.0, 0.0);
        }
        let mean = self.sum / self.weight;
        let var = (self.sum_sq / self.weight - mean * mean).max(0.0);
        (mean, var)
    }
}

/// One closed instance, as the baseline learns it. Detectors name
/// dimensions, metrics, flags and clues with constants (`K` =
/// `&'static str`); an observation kept in saved state, waiting for an
/// analyst's verdict, owns its names ([`Observation::owned`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation<K: Ord = &'static str> {
    /// Distinct items per dimension.
    pub items: BTreeMap<K, BTreeSet<String>>,
    /// Counts per metric.
    pub counts: BTreeMap<K, u64>,
    /// Flags raised by the instance (used a static key, …).
    pub flags: BTreeSet<K>,
    /// Clues a detector judged the instance on, and whether each was
    /// raised (learned as rates: see [`AgentBaseline::clue`]).
    pub clues: BTreeMap<K, bool>,
    /// Its request and the tools it called, for the intent model.
    pub intent: Option<IntentSample>,
}

impl Observation {
    /// The same observation with owned names, to be saved.
    pub fn owned(&self) -> Observation<String> {
        let name = |k: &&'static str| (*k).to_owned();
        Observation {
            items: self
                .items
                .iter()
                .map(|(k, v)| (name(k), v.clone()))
                .collect(),
            counts: self.counts.iter().map(|(k, v)| (name(k), *v)).collect(),
            flags: self.flags.iter().map(name).collect(),
            clues: self.clues.iter().map(|(k, v)| (name(k), *v)).collect(),
            intent: self.intent.clone(),
        }
    }
}

/// An agent's baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentBaseline {
    /// Decayed number of instances learned.
    pub instances: f64,
    /// Instances learned, without decay (for "from how much history").
    pub learned: u64,
    /// Per dimension: decayed number of instances that touched each item.
    items: BTreeMap<String, BTreeMap<String, f64>>,
    counts: BTreeMap<String, Moments>,
    flags: BTreeMap<String, f64>,
    /// Per clue: decayed (instances that raised it, instances judged on it).
    clues: BTreeMap<String, (f64, f64)>,
    /// How its requests account for the tools its sessions call.
    intent: IntentModel,
}

/// Items whose decayed weight falls below this are forgotten.
const FORGET: f64 = 0.05;
/// Half-life, in instances, of counts named `rare_*` (rare items an
/// instance had against the baseline of its day): they describe the
/// baseline's own maturity, high while it is young, so they are remembered
/// briefly.
const SHORT_MEMORY: f64 = 50.0;
/// Instances learned before robust learning (capped new items, winsorised
/// counts) applies.
const WARM_UP: u64 = 5;
/// New items one instance may teach per dimension once warm.
const MAX_NEW_ITEMS: usize = 3;
/// The same for the values an agent reads and uses (`value_*`
/// dimensions): every session brings its own ids and addresses, so a cap
/// of three would leave the agent's world unlearned; still bounded.
const MAX_NEW_VALUES: usize = 64;
/// Most items kept per dimension (the least common are forgotten first).
const MAX_ITEMS: usize = 4096;

impl AgentBaseline {
    /// Learn one instance; `decay` is the per-instance retention factor,
    /// `weight` how much the instance counts (1, or less when forgiven).
    pub fn learn<K: Ord + Borrow<str>>(&mut self, obs: &Observation<K>, decay: f64, weight: f64) {
        self.instances = self.instances * decay + weight;
        self.learned += 1;
        for table in self.items.values_mut() {
            table.retain(|_, w| {
                *w *= decay;
                *w >= FORGET
            });
        }
        let fast = 0.5f64.powf(1.0 / SHORT_MEMORY);
        for (name, m) in self.counts.iter_mut() {
            m.decay(if name.starts_with("rare_") {
                fast
            } else {
                decay
            });
        }
        for w in self.flags.values_mut() {
            *w *= decay;
        }
        let warm = self.learned > WARM_UP;
        for (dim, set) in &obs.items {
            let dim: &str = dim.borrow();
            let table = entry_of(&mut self.items, dim);
            let cap = if dim.starts_with("value_") {
                MAX_NEW_VALUES
            } else {
                MAX_NEW_ITEMS
            };
            let mut new_items = 0;
            for item in set {
                match table.get_mut(item) {
                    Some(w) => *w += weight,
                    // One instance teaches only a few new items at a time:
                    // real change is learned over several instances, a
                    // single odd one cannot make itself look normal.
                    None if warm && new_items >= cap => {}
                    None => {
                        new_items += 1;
                        table.insert(item.clone(), weight);
                    }
                }
            }
            if table.len() > MAX_ITEMS {
                let mut weights: Vec<f64> = table.values().copied().collect();
                weights.sort_by(f64::total_cmp);
                let cut = weights[table.len() - MAX_ITEMS];
                table.retain(|_, w| *w > cut);
            }
        }
        // Every metric known or counted now learns this instance's count
        // (0 when it has none); each metric on its own, so in any order.
        for metric in obs.counts.keys() {
            entry_of(&mut self.counts, metric.borrow());
        }
        for (metric, m) in self.counts.iter_mut() {
            let x = obs.counts.get(metric.as_str()).copied().unwrap_or(0);
            m.add(winsorised(m, x, warm), weight);
        }
        for flag in &obs.flags {
            *entry_of(&mut self.flags, flag.borrow()) += weight;
        }
        self.count_clues(&obs.clues, decay, weight);
        // Counted, not weighed: a forgiven instance does not teach it.
        if let Some(sample) = obs.intent.as_ref().filter(|_| weight >= 1.0) {
            self.intent.learn(sample);
        }
    }

    /// How its requests account for the tools its sessions call.
    pub fn intent(&self) -> &IntentModel {
        &self.intent
    }

    /// Decayed number of instances that touched `item`.
    pub fn item_weight(&self, dim: &str, item: &str) -> f64 {
        self.items
            .get(dim)
            .and_then(|t| t.get(item))
            .copied()
            .unwrap_or(0.0)
    }

    /// True when `item` is rare for this agent: seen in less than
    /// `rare_share` of its instances, or in at most one (a singleton is rare
    /// however small the history, as in Good–Turing).
    pub fn is_rare(&self, dim: &str, item: &str, rare_share: f64) -> bool {
        let w = self.item_weight(dim, item);
        w < 1.5 || w / self.instances.max(1.0) < rare_share
    }

    /// Share of instances that touched `item` (0 when never seen).
    pub fn share(&self, dim: &str, item: &str) -> f64 {
        if self.instances <= 0.0 {
            return 0.0;
        }
        self.item_weight(dim, item) / self.instances
    }

    /// Expected number of rare-or-new items a new instance touches in
    /// `dim`: the summed share of the rare items already known, plus the
    /// Good–Turing estimate of the chance of a new one (items seen in only
    /// one instance, add-one smoothed, over instances).
    pub fn rare_rate(&self, dim: &str, rare_share: f64) -> f64 {
        let n = self.instances;
        let Some(table) = self.items.get(dim) else {
            return 1.0 / (n + 1.0);
        };
        let singletons = table.values().filter(|w| **w < 1.5).count() as f64;
        let rare_mass: f64 = table
            .values()
            .map(|w| w / n.max(1.0))
            .filter(|s| *s < rare_share)
            .sum();
        rare_mass + (singletons + 1.0) / (n + 1.0)
    }

    /// The most common items of a dimension (share at least `min_share`),
    /// most common first, at most five: "what is normal" in explanations.
    pub fn common_items(&self, dim: &str, min_share: f64) -> Vec<String> {
        let Some(table) = self.items.get(dim) else {
            return Vec::new();
        };
        let mut v: Vec<(&String, f64)> = table
            .iter()
            .filter(|(_, w)| **w / self.instances.max(1.0) >= min_share)
            .map(|(k, w)| (k, *w))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(5).map(|(k, _)| k.clone()).collect()
    }

    /// Mean and variance of a per-instance count.
    pub fn count(&self, metric: &str) -> (f64, f64) {
        self.counts
            .get(metric)
            .map(Moments::mean_var)
            .unwrap_or((0.0, 0.0))
    }

    /// Decayed number of instances that raised `flag`.
    pub fn flag(&self, flag: &str) -> f64 {
        self.flags.get(flag).copied().unwrap_or(0.0)
    }

    /// Count a learned instance's clues at its weight (1, or less when
    /// forgiven): how often the agent's trusted sessions show each clue.
    /// Flagged instances count only as far as they are forgiven, so a
    /// benign habit's clues grow common over time while a hijack's do not.
    fn count_clues<K: Ord + Borrow<str>>(
        &mut self,
        clues: &BTreeMap<K, bool>,
        decay: f64,
        weight: f64,
    ) {
        for (clue, raised) in clues {
            let (hits, judged) = entry_of(&mut self.clues, clue.borrow());
            *hits = *hits * decay + if *raised { weight } else { 0.0 };
            *judged = *judged * decay + weight;
        }
    }

    /// Decayed (instances that raised `clue`, instances judged on it).
    pub fn clue(&self, clue: &str) -> (f64, f64) {
        self.clues.get(clue).copied().unwrap_or((0.0, 0.0))
    }
}

/// Winsorised: once warm, a count far above the usual is learned as
/// (mean + 3 sd + 1), so outliers cannot inflate the spread.
fn winsorised(m: &Moments, x: u64, warm: bool) -> f64 {
    let x = x as f64;
    if warm {
        let (mean, var) = m.mean_var();
        x.min(mean + 3.0 * var.sqrt() + 1.0)
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(tools: &[&str], secrets: u64) -> Observation {
        let mut o = Observation::default();
        o.items
            .insert("tool", tools.iter().map(|s| (*s).to_owned()).collect());
        o.counts.insert("secret_reads", secrets);
        o
    }

    #[test]
    fn shares_moments_and_good_turing() {
        let mut b = AgentBaseline::default();
        for i in 0..100 {
            let tools: &[&str] = if i == 0 {
                &["a", "b", "odd"]
            } else {
                &["a", "b"]
            };
            b.learn(&obs(tools, i % 3), 1.0, 1.0);
        }
        assert_eq!(b.learned, 100);
        assert!((b.share("tool", "a") - 1.0).abs() < 1e-12);
        assert!((b.share("tool", "odd") - 0.01).abs() < 1e-12);
        // one singleton: 0.01 rare mass + (1 + 1) / 101
        let rate = b.rare_rate("tool", 0.02);
        assert!((rate - (0.01 + 2.0 / 101.0)).abs() < 1e-9, "{rate}");
        let (mean, var) = b.count("secret_reads");
        assert!((mean - 0.99).abs() < 1e-9 && var > 0.5, "{mean} {var}");
    }

    #[test]
    fn decay_forgets_old_items_and_bounds_one_instance() {
        let mut b = AgentBaseline::default();
        b.learn(&obs(&["old"], 0), 0.5, 1.0);
        for _ in 0..10 {
            b.learn(&obs(&["new"], 0), 0.5, 1.0);
        }
        assert_eq!(b.item_weight("tool", "old"), 0.0, "forgotten");
        assert!(b.instances < 2.0 + 1e-9);
    }

    #[test]
    fn a_forgiven_instance_teaches_at_its_weight() {
        let mut b = AgentBaseline::default();
        for _ in 0..10 {
            b.learn(&obs(&["read"], 1), 1.0, 1.0);
        }
        // A flagged habit learned at a quarter weight: four such instances
        // teach what one clean instance does, and its clues count alike.
        let mut habit = obs(&["send"], 1);
        habit.clues.insert("clue", true);
        for _ in 0..4 {
            b.learn(&habit, 1.0, 0.25);
        }
        assert!((b.item_weight("tool", "send") - 1.0).abs() < 1e-9);
        assert!((b.instances - 11.0).abs() < 1e-9);
        assert_eq!(b.clue("clue"), (1.0, 1.0));
    }
}

//! When instances close, how an agent's first instances seed its baseline,
//! and what a closed instance teaches it.

use delegraph_model::Finding;

use super::{Closed, Detectors, MAX_AGENTS};
use crate::baseline::{AgentBaseline, Observation};
use crate::config::secs_to_ns;
use crate::detector::{CloseCx, Signal};
use crate::instance::Instance;

impl Detectors {
    fn deadline(&self, p: &Instance) -> i64 {
        match p.task_end {
            Some(end) => end
                .max(p.last_seen)
                .saturating_add(secs_to_ns(self.cfg.close_after_secs)),
            None => p
                .last_seen
                .saturating_add(secs_to_ns(self.cfg.idle_close_secs)),
        }
    }

    /// Set when `p` closes: after its task ended, or when it went idle.
    pub(super) fn reschedule(&mut self, p: &mut Instance) {
        let d = self.deadline(p);
        let old = p.deadline.replace(d);
        if old == Some(d) {
            return;
        }
        // The old entry's copy of the id moves to the new one.
        let id = old
            .and_then(|old| self.take_scheduled(old, p))
            .unwrap_or_else(|| p.instance.clone());
        self.s.deadlines.insert((d, id));
    }

    /// Remove `p`'s entry due at `at`; its copy of the id, if it was there.
    fn take_scheduled(&mut self, at: i64, p: &mut Instance) -> Option<String> {
        let key = (at, std::mem::take(&mut p.instance));
        let taken = self.s.deadlines.take(&key);
        p.instance = key.1;
        taken.map(|(_, id)| id)
    }

    /// `p` no longer closes on time (it was evicted for room).
    pub(super) fn unschedule(&mut self, p: &mut Instance) {
        if let Some(d) = p.deadline {
            self.take_scheduled(d, p);
        }
    }

    /// Close every instance whose deadline the watermark has passed.
    pub(super) fn close_due(&mut self, out: &mut Vec<Finding>) {
        while let Some((d, _)) = self.s.deadlines.first()
            && *d <= self.s.watermark
        {
            let Some((_, id)) = self.s.deadlines.pop_first() else {
                break;
            };
            let Some(p) = self.s.open.pop(&id) else {
                continue;
            };
            self.close(p, out);
        }
    }

    /// Judge a closed instance as a whole and learn it into its agent's
    /// baseline unless its own findings were risky; an agent's first
    /// instances wait until there are enough to seed the baseline.
    fn close(&mut self, mut p: Instance, out: &mut Vec<Finding>) {
        let agent = p.agent_key();
        self.s.closed.put(
            p.instance.clone(),
            Closed {
                task_end: p.task_end,
                agent_id: p.agent_id.clone(),
            },
        );
        if self.history(&agent) < self.cfg.min_history {
            let warming = self.s.warming.entry(agent.clone()).or_default();
            warming.push(p);
            if warming.len() as u64 > self.cfg.min_history {
                self.seed(&agent, out);
            }
            return;
        }
        self.settle(&p, &agent);
        for sig in self.closing_signals(&p, None, &agent) {
            self.emit(sig, &mut p, &agent, None, None, out);
        }
        self.learn(&agent, &p);
        self.forget(p.slot);
    }

    /// The agent's first instances, held until there are enough of them,
    /// are each judged against a baseline of the others (leave one out),
    /// then the unremarkable ones become the baseline.
    fn seed(&mut self, agent: &str, out: &mut Vec<Finding>) {
        let mut held = self.s.warming.remove(agent).unwrap_or_default();
        for p in &held {
            self.settle(p, agent);
        }
        let decay = self.decay();
        for i in 0..held.len() {
            let mut others = AgentBaseline::default();
            for (j, q) in held.iter().enumerate() {
                if j != i {
                    others.learn(&self.observation(q), decay, 1.0);
                }
            }
            for sig in self.closing_signals(&held[i], Some(&others), agent) {
                self.emit(sig, &mut held[i], agent, None, None, out);
            }
        }
        for p in &held {
            self.learn(agent, p);
            self.forget(p.slot);
        }
    }

    fn close_cx<'a>(
        &'a self,
        p: &'a Instance,
        baseline: Option<&'a AgentBaseline>,
        agent: &'a str,
    ) -> CloseCx<'a> {
        CloseCx {
            cfg: &self.cfg,
            instance: p,
            agent,
            baseline,
            credentials: &self.s.credentials,
        }
    }

    /// Every detector fixes what the closed instance is judged on.
    fn settle(&mut self, p: &Instance, agent: &str) {
        let mut detectors = std::mem::take(&mut self.detectors);
        let cx = self.close_cx(p, self.s.baselines.get(agent), agent);
        for d in &mut detectors {
            d.settle(&cx);
        }
        self.detectors = detectors;
    }

    /// Every detector's verdict on the closed instance, in registry order,
    /// against `others` (seeding) or else the agent's baseline.
    fn closing_signals(
        &mut self,
        p: &Instance,
        others: Option<&AgentBaseline>,
        agent: &str,
    ) -> Vec<Signal> {
        let mut detectors = std::mem::take(&mut self.detectors);
        let baseline = others.or_else(|| self.s.baselines.get(agent));
        let cx = self.close_cx(p, baseline, agent);
        let mut signals = Vec::new();
        for d in &mut detectors {
            d.close(&cx, &mut signals);
        }
        self.detectors = detectors;
        signals
    }

    /// What the baseline learns from a closed instance: its behaviour
    /// record and each detector's measurements.
    pub(super) fn observation(&self, p: &Instance) -> Observation {
        let mut obs = p.observation();
        for d in &self.detectors {
            d.learn(p, &mut obs);
        }
        obs
    }

    fn decay(&self) -> f64 {
        0.5f64.powf(1.0 / self.cfg.baseline_half_life.max(1.0))
    }

    /// Learn a closed instance unless its own findings were too risky; one
    /// with only moderate findings is learned at a lower weight (forgiven).
    /// An analyst's verdict that came while it was open decides instead;
    /// a quarantined one is held back for a later verdict.
    fn learn(&mut self, agent: &str, p: &Instance) {
        let weight = match self.verdict_weight(p) {
            Some(Some(w)) => w,
            Some(None) => {
                self.s.stats.quarantined += 1;
                return;
            }
            None if self.cfg.trusted || p.max_risk < self.cfg.learn_below_risk => 1.0,
            None if p.max_risk < self.cfg.forgive_below_risk => {
                self.s.stats.forgiven += 1;
                self.cfg.forgiven_weight.clamp(0.0, 1.0)
            }
            None => {
                self.s.stats.quarantined += 1;
                self.hold_back(agent, p);
                return;
            }
        };
        let obs = self.observation(p);
        self.learn_observation(agent, &obs, weight);
    }

    /// Add one observation to `agent`'s baseline (while there is room for
    /// another agent).
    pub(super) fn learn_observation<K: Ord + std::borrow::Borrow<str>>(
        &mut self,
        agent: &str,
        obs: &Observation<K>,
        weight: f64,
    ) {
        if self.s.baselines.len() < MAX_AGENTS || self.s.baselines.contains_key(agent) {
            let decay = self.decay();
            self.s
                .baselines
                .entry(agent.to_owned())
                .or_default()
                .learn(obs, decay, weight);
            self.s.stats.learned += 1;
        }
    }
}

//! The detector engine: what detectors share — the instance lifecycle
//! (`lifecycle`), behaviour records, baselines, credential facts, dedup and
//! risk (`emit`) — with every detector called through one contract
//! ([`crate::detector::Detector`]). All state is bounded and saveable.

mod emit;
mod lifecycle;
#[cfg(test)]
mod tests;
mod verdicts;

use std::collections::{BTreeMap, BTreeSet};

use delegraph_model::{
    Analyzer, AnalyzerId, AnalyzerStateError, AnalyzerStats, AttributedEvent, Attribution, Bounded,
    EventSignals, Finding, NormEvent, Verdict,
};
use serde::{Deserialize, Serialize};

use crate::baseline::AgentBaseline;
use crate::config::secs_to_ns;
use crate::credentials::{CredentialBook, CredentialFacts, Owner};
use crate::detector::{Detector, EventCx, Shared, Signal, SlotId, SlotPool, UnattributedCx};
use crate::instance::{Changed, Instance, UNIDENTIFIED_AGENT};
use crate::risk::RiskBook;
use crate::{DetectConfig, DetectError, DetectorTiming};
/// The open instances' behaviour records, least recently active first to
/// go, packed while idle as the detectors' own state is
/// ([`crate::per_instance`]).
pub(crate) type OpenInstances = delegraph_model::PackedBounded<Instance>;
use verdicts::{VERDICTS_PART, Verdicts};

/// Most closed instances remembered (for late events).
const MAX_CLOSED: usize = 200_000;
/// Most finding ids remembered for dedup.
const MAX_EMITTED: usize = 500_000;
/// Most agents with a baseline.
const MAX_AGENTS: usize = 10_000;

/// Event time between sweeps of idle credentials.
const SWEEP_EVERY_NS: i64 = 3_600_000_000_000;

/// The id the detector engine's state is stored under in the checkpoint.
pub const DETECTORS_ANALYZER: AnalyzerId = AnalyzerId("detectors");

/// Counters for summaries and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectStats {
    /// Findings raised, by detector.
    pub findings: BTreeMap<String, u64>,
    /// Findings suppressed as duplicates within the dedup window.
    pub duplicates: u64,
    /// Instances learned into baselines.
    pub learned: u64,
    /// Instances not learned because their own findings were too risky.
    pub quarantined: u64,
    /// Instances learned at a lower weight because their findings were
    /// moderate (see `forgive_below_risk`).
    pub forgiven: u64,
    /// Open profiles dropped for capacity before they closed.
    pub evicted_open: u64,
}

/// An instance that closed: what late events still need.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Closed {
    task_end: Option<i64>,
    agent_id: Option<String>,
}

/// What the engine itself keeps (each detector saves its own).
#[derive(Serialize, Deserialize)]
struct State {
    baselines: BTreeMap<String, AgentBaseline>,
    open: OpenInstances,
    /// (deadline, instance): when each open instance closes.
    deadlines: BTreeSet<(i64, String)>,
    closed: Bounded<Closed>,
    /// Per agent, closed instances held until the baseline can be seeded.
    warming: BTreeMap<String, Vec<Instance>>,
    /// Slots of instances detectors hold state for (open or warming).
    slots: SlotPool,
    credentials: CredentialBook,
    emitted: Bounded<i64>,
    risk: RiskBook,
    watermark: i64,
    stats: DetectStats,
}

/// One event of an instance as the engine took it in: what each detector
/// is shown of it besides the instance itself and the engine's shared
/// view (see [`EventCx`]).
struct Seen<'a> {
    event: &'a NormEvent,
    attribution: &'a Attribution,
    agent: &'a str,
    is_open: bool,
    changed: Changed,
    credential: Option<&'a CredentialFacts>,
}

/// Runs every detector over attributed events, in event-time order.
pub struct Detectors {
    cfg: DetectConfig,
    s: State,
    detectors: Vec<Box<dyn Detector>>,
    verdicts: Verdicts,
}

impl Detectors {
    /// Fresh state.
    pub fn new(cfg: DetectConfig) -> Self {
        let s = State {
            baselines: BTreeMap::new(),
            open: OpenInstances::new(cfg.max_open_instances),
            deadlines: BTreeSet::new(),
            closed: Bounded::new(MAX_CLOSED),
            warming: BTreeMap::new(),
            slots: SlotPool::default(),
            credentials: CredentialBook::default(),
            emitted: Bounded::new(MAX_EMITTED),
            risk: RiskBook::new(cfg.risk_half_life_secs),
            watermark: i64::MIN,
            stats: DetectStats::default(),
        };
        Self {
            cfg,
            s,
            detectors: crate::detectors::registry(),
            verdicts: Verdicts::default(),
        }
    }

    /// Time every call to each detector from now on, for
    /// [`Detectors::detector_timings`] (see [`crate::timing`]); what the
    /// detectors find is unchanged.
    pub fn time_detectors(&mut self) {
        let detectors = std::mem::take(&mut self.detectors);
        self.detectors = detectors
            .into_iter()
            .map(|d| Box::new(crate::timing::Timed::new(d)) as Box<dyn Detector>)
            .collect();
    }

    /// Each timed detector's time so far, in registry order; empty unless
    /// [`Detectors::time_detectors`] was called.
    pub fn detector_timings(&self) -> Vec<DetectorTiming> {
        self.detectors.iter().filter_map(|d| d.timing()).collect()
    }

    /// State saved by [`Detectors::save`], with (possibly new) settings.
    pub fn restore(cfg: DetectConfig, saved: &[u8]) -> Result<Self, DetectError> {
        let mut d = Self::new(cfg);
        d.load(saved)?;
        Ok(d)
    }

    /// Replace the state with `saved`.
    fn load(&mut self, saved: &[u8]) -> Result<(), DetectError> {
        let bad = |e: postcard::Error| DetectError::State(e.to_string());
        let (s, parts): (State, BTreeMap<String, serde_bytes::ByteBuf>) =
            postcard::from_bytes(saved).map_err(bad)?;
        self.s = s;
        self.verdicts = match parts.get(VERDICTS_PART) {
            Some(bytes) => postcard::from_bytes(bytes)
                .map_err(|e| DetectError::State(format!("{VERDICTS_PART}: {e}")))?,
            None => Verdicts::default(),
        };
        for d in &mut self.detectors {
            if let Some(bytes) = parts.get(d.state_key()) {
                d.restore(bytes)
                    .map_err(|e| DetectError::State(format!("detector {}: {e}", d.state_key())))?;
            }
        }
        Ok(())
    }

    /// Everything needed to continue exactly where this left off: the
    /// engine's state and each detector's, by its key (deterministic bytes).
    pub fn save(&self) -> Result<Vec<u8>, DetectError> {
        let mut parts = BTreeMap::new();
        for d in &self.detectors {
            let bytes = d
                .save()
                .map_err(|e| DetectError::State(format!("detector {}: {e}", d.state_key())))?;
            parts.insert(d.state_key(), serde_bytes::ByteBuf::from(bytes));
        }
        let verdicts = postcard::to_stdvec(&self.verdicts)
            .map_err(|e| DetectError::State(format!("{VERDICTS_PART}: {e}")))?;
        // Parts written whole, not a byte at a time (the same bytes).
        parts.insert(VERDICTS_PART, serde_bytes::ByteBuf::from(verdicts));
        postcard::to_stdvec(&(&self.s, parts)).map_err(|e| DetectError::State(e.to_string()))
    }

    /// Instances open now (not closed, learned or evicted).
    pub fn open_instances(&self) -> usize {
        self.s.open.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> DetectStats {
        let mut st = self.s.stats.clone();
        st.evicted_open = self.s.open.evicted();
        st
    }

    /// Open instances and known agents (state sizes for metrics).
    pub fn sizes(&self) -> (usize, usize) {
        (self.s.open.len(), self.s.baselines.len())
    }

    /// Instances learned for `agent` so far.
    pub fn history(&self, agent: &str) -> u64 {
        self.s.baselines.get(agent).map_or(0, |b| b.learned)
    }

    /// Move the detectors' event-time clock to `now` and close every
    /// instance whose deadline it passed.
    pub fn expire(&mut self, now: i64, out: &mut Vec<Finding>) {
        if now > self.s.watermark {
            let new_hour =
                now.div_euclid(SWEEP_EVERY_NS) != self.s.watermark.div_euclid(SWEEP_EVERY_NS);
            let pack = secs_to_ns(self.cfg.pack_idle_secs);
            let new_round = pack > 0 && now.div_euclid(pack) != self.s.watermark.div_euclid(pack);
            self.s.watermark = now;
            self.close_due(out);
            if new_round {
                self.s.open.pack_idle();
                self.s.credentials.pack_idle();
                for d in &mut self.detectors {
                    d.pack_idle();
                }
            }
            if new_hour {
                let idle = secs_to_ns(self.cfg.credential_idle_secs);
                self.s.credentials.sweep(now.saturating_sub(idle));
                // Ids raised before the dedup window suppress nothing.
                let window = secs_to_ns(self.cfg.dedup_window_secs);
                self.s
                    .emitted
                    .pop_lru_while(|then| *then <= now.saturating_sub(window));
            }
        }
    }

    /// Look at one attributed event; findings go to `out`.
    pub fn observe(&mut self, e: &NormEvent, out: &mut Vec<Finding>) {
        self.observe_with_signals(e, &mut EventSignals::default(), out);
    }

    /// Look at one attributed event; findings go to `out`, and what the
    /// detectors worked out about it (a tool call's value provenance, its
    /// fit with the request) to `signals`.
    pub fn observe_with_signals(
        &mut self,
        e: &NormEvent,
        event_signals: &mut EventSignals,
        out: &mut Vec<Finding>,
    ) {
        let t = e.event_time.nanos();
        self.expire(t, out);
        self.s.credentials.note_issue(e);
        let Some(a) = e.attribution.as_ref() else {
            return;
        };
        let Some(instance) = a.instance.clone() else {
            if let (Some(h), Some(c)) = (&a.initiator, &e.credential_used) {
                self.unattributed(h, &c.id, e, out);
            }
            return;
        };
        let agent = a
            .agent_id
            .clone()
            .unwrap_or_else(|| UNIDENTIFIED_AGENT.to_owned());
        let closed = self.s.closed.peek(&instance).cloned();
        let is_open = closed.is_none();
        let mut p = match closed {
            // A late event of a closed instance is looked at alone.
            Some(c) => Instance {
                task_end: c.task_end,
                agent_id: c.agent_id,
                ..Instance::new(&instance, a, t)
            },
            None => match self.s.open.pop(&instance) {
                Some(p) => p,
                None => Instance {
                    slot: self.s.slots.take(),
                    ..Instance::new(&instance, a, t)
                },
            },
        };
        let record = e.is_approval_record();
        let (changed, facts) = if record {
            Default::default()
        } else {
            let changed = p.fold(e, t);
            (changed, self.s.credentials.observe_use(e, &p.root))
        };
        let seen = Seen {
            event: e,
            attribution: a,
            agent: &agent,
            is_open,
            changed,
            credential: facts.as_ref(),
        };
        let signals = self.each_detector(&seen, &p, |d, cx, out| {
            if record {
                d.observe_approval_record(cx, out);
            } else {
                d.observe(cx, out);
            }
        });
        self.emit_all(signals, &mut p, &agent, a, e, out);
        if !record && is_open {
            for d in &self.detectors {
                d.describe(p.slot, event_signals);
            }
        }
        if !record {
            let follow = self.each_detector(&seen, &p, |d, cx, out| d.follow_up(cx, out));
            self.emit_all(follow, &mut p, &agent, a, e, out);
            if is_open {
                self.roll_up(&p, a, e);
            }
        }
        if is_open {
            self.reschedule(&mut p);
            self.put_open(instance, p);
        }
    }

    /// Call `f` on every detector, in registry order, with the event's
    /// context; returns their signals.
    fn each_detector(
        &mut self,
        seen: &Seen<'_>,
        instance: &Instance,
        f: impl Fn(&mut Box<dyn Detector>, &EventCx<'_>, &mut Vec<Signal>),
    ) -> Vec<Signal> {
        let cx = EventCx {
            cfg: &self.cfg,
            event: seen.event,
            attribution: seen.attribution,
            instance,
            agent: seen.agent,
            is_open: seen.is_open,
            changed: seen.changed,
            credential: seen.credential,
            shared: Shared {
                baselines: &self.s.baselines,
                open: &self.s.open,
            },
        };
        let mut out = Vec::new();
        for d in &mut self.detectors {
            f(d, &cx, &mut out);
        }
        out
    }

    /// An event naming a human and a credential but no instance.
    fn unattributed(&mut self, human: &str, cred: &str, e: &NormEvent, out: &mut Vec<Finding>) {
        let owner = Owner::Human(human.to_owned());
        let Some(other_owner) = self.s.credentials.claim(cred, owner, e) else {
            return;
        };
        let facts = CredentialFacts {
            other_owner: Some(other_owner),
            ..CredentialFacts::default()
        };
        let cx = UnattributedCx {
            cfg: &self.cfg,
            event: e,
            human,
            credential: &facts,
            shared: Shared {
                baselines: &self.s.baselines,
                open: &self.s.open,
            },
        };
        let mut signals = Vec::new();
        for d in &mut self.detectors {
            d.observe_unattributed(&cx, &mut signals);
        }
        for sig in signals {
            self.emit_elsewhere(sig, None, e, out);
        }
    }

    /// A sub-agent's event: its name joins its root's behaviour record.
    fn roll_up(&mut self, p: &Instance, a: &Attribution, e: &NormEvent) {
        if a.depth == 0 || p.is_root() {
            return;
        }
        if let Some(mut root) = self.s.open.pop(&p.root) {
            root.add_sub_agent(e);
            self.put_open(root.instance.clone(), root);
        }
    }

    /// Hold an open instance; one evicted for room is forgotten by every
    /// detector too.
    fn put_open(&mut self, id: String, p: Instance) {
        if let Some((_, mut gone)) = self.s.open.put(id, p) {
            self.unschedule(&mut gone);
            self.forget(gone.slot);
        }
    }

    /// Every detector drops its state of the instance in `slot`, which is
    /// then free for another.
    fn forget(&mut self, slot: SlotId) {
        for d in &mut self.detectors {
            d.forget(slot);
        }
        self.s.slots.give(slot);
    }
}

impl Analyzer for Detectors {
    fn id(&self) -> AnalyzerId {
        DETECTORS_ANALYZER
    }

    fn observe(
        &mut self,
        ev: &AttributedEvent<'_>,
        signals: &mut EventSignals,
        _clock: i64,
        out: &mut Vec<Finding>,
    ) {
        self.observe_with_signals(ev.event, signals, out);
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Finding>) {
        Detectors::expire(self, now, out);
    }

    fn save(&self) -> Result<Vec<u8>, AnalyzerStateError> {
        Detectors::save(self).map_err(|e| state_error(&e))
    }

    fn restore(&mut self, saved: &[u8]) -> Result<(), AnalyzerStateError> {
        self.load(saved).map_err(|e| state_error(&e))
    }

    fn stats(&self) -> AnalyzerStats {
        let st = Detectors::stats(self);
        let mut m = AnalyzerStats::from([
            ("duplicates".to_owned(), st.duplicates),
            ("learned".to_owned(), st.learned),
            ("quarantined".to_owned(), st.quarantined),
            ("forgiven".to_owned(), st.forgiven),
            ("evicted_open".to_owned(), st.evicted_open),
            ("held_back".to_owned(), self.verdicts.held_back() as u64),
            ("learned_benign".to_owned(), self.verdicts.learned_benign),
            (
                "dropped_true_positive".to_owned(),
                self.verdicts.dropped_true_positive,
            ),
        ]);
        for (detector, n) in st.findings {
            m.insert(format!("findings.{detector}"), n);
        }
        m
    }

    fn verdict(&mut self, verdict: &Verdict) {
        self.apply_verdict(verdict);
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn state_error(e: &DetectError) -> AnalyzerStateError {
    AnalyzerStateError {
        analyzer: DETECTORS_ANALYZER,
        message: e.to_string(),
    }
}

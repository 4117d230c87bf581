//! The contract every detector implements, and what it is shown.
//!
//! The engine ([`crate::Detectors`]) keeps only what detectors share: the
//! instance lifecycle (open, close, seed, learn), each instance's behaviour
//! record, per-agent baselines, credential facts, dedup and risk. A
//! detector keeps its own state (per instance in a [`PerInstance`] map, or
//! global) and answers with [`Signal`]s; the engine turns those into
//! findings. The engine calls every detector, in registry order
//! ([`crate::detectors::registry`]), at each of these moments:
//!
//! 1. `observe`: an event of an instance, after the behaviour record took it;
//! 2. `follow_up`: the same event, once every detector has observed it
//!    (signals about *other* instances: a borrowed credential, a root's
//!    delegation);
//! 3. `observe_approval_record`: a policy decision or envelope record;
//! 4. `observe_unattributed`: an event with no instance (a human acting
//!    directly);
//! 5. `settle`, then `close`: the instance closed and is judged as a whole;
//! 6. `learn`: what it adds to the agent's baseline, then `forget`.

use delegraph_model::{Attribution, EventSignals, Evidence, NormEvent};
use serde::{Deserialize, Serialize};

use crate::baseline::{AgentBaseline, Observation};
use crate::credentials::{CredentialBook, CredentialFacts};
use crate::detectors::Ctx;
use crate::instance::{Changed, Instance};
use crate::{DetectConfig, DetectorId};

pub(crate) use crate::per_instance::{PerInstance, Seen};

/// Saved state of a detector that could not be encoded or decoded.
pub(crate) type StateResult<T> = Result<T, postcard::Error>;

/// One detector.
pub(crate) trait Detector: Send {
    /// The detector whose findings it raises and settings it reads.
    fn id(&self) -> DetectorId;

    /// The name its state is saved under (unique in the registry; a
    /// detector registered as two checks gives each its own).
    fn state_key(&self) -> &'static str {
        self.id().name()
    }

    /// An event of an instance.
    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let _ = (cx, out);
    }

    /// The same event, after every detector observed it.
    fn follow_up(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let _ = (cx, out);
    }

    /// What it worked out about the event it just observed for the
    /// instance in `slot`, for the analyzers after the engine (rules).
    fn describe(&self, slot: SlotId, signals: &mut EventSignals) {
        let _ = (slot, signals);
    }

    /// A policy decision or task-envelope record of an instance: approval
    /// context, not behaviour.
    fn observe_approval_record(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let _ = (cx, out);
    }

    /// An event that names a human and a credential but no instance.
    fn observe_unattributed(&mut self, cx: &UnattributedCx<'_>, out: &mut Vec<Signal>) {
        let _ = (cx, out);
    }

    /// The instance closed: fix what it will be judged and learned on.
    fn settle(&mut self, cx: &CloseCx<'_>) {
        let _ = cx;
    }

    /// The closed instance, judged as a whole against `cx.baseline`.
    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        let _ = (cx, out);
    }

    /// What the baseline learns from this detector's view of the instance.
    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        let _ = (instance, obs);
    }

    /// The instance in `slot` is gone (learned, quarantined or evicted);
    /// the slot will be handed to another instance.
    fn forget(&mut self, slot: SlotId) {
        let _ = slot;
    }

    /// Pack the per-instance state its instances left unused since the
    /// last call (see [`PerInstance::pack_idle`]).
    fn pack_idle(&mut self) {}

    /// Its state, as deterministic bytes.
    fn save(&self) -> StateResult<Vec<u8>>;

    /// Continue from [`save`](Detector::save)'s bytes.
    fn restore(&mut self, saved: &[u8]) -> StateResult<()>;

    /// The time it took so far, when it is timed ([`crate::timing`]).
    fn timing(&self) -> Option<crate::timing::DetectorTiming> {
        None
    }
}

/// Save and restore for a detector whose state is one serde value.
macro_rules! state_codec {
    ($field:ident) => {
        fn save(&self) -> $crate::detector::StateResult<Vec<u8>> {
            postcard::to_stdvec(&self.$field)
        }

        fn restore(&mut self, saved: &[u8]) -> $crate::detector::StateResult<()> {
            self.$field = postcard::from_bytes(saved)?;
            Ok(())
        }
    };
    () => {
        fn save(&self) -> $crate::detector::StateResult<Vec<u8>> {
            Ok(Vec::new())
        }

        fn restore(&mut self, _saved: &[u8]) -> $crate::detector::StateResult<()> {
            Ok(())
        }
    };
}
pub(crate) use state_codec;

/// `forget`, `pack_idle`, save and restore for a detector whose state is
/// one [`PerInstance`] map.
macro_rules! per_instance_state {
    ($field:ident) => {
        fn forget(&mut self, slot: $crate::detector::SlotId) {
            self.$field.remove(slot);
        }

        fn pack_idle(&mut self) {
            self.$field.pack_idle();
        }

        $crate::detector::state_codec!($field);
    };
}
pub(crate) use per_instance_state;

/// Where a signal's finding goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The instance the event (or the close) is about, reported under the
    /// event's agent.
    This,
    /// The same instance, reported under the agent on its own record (which
    /// a late-identified event may not share).
    ThisByRecord,
    /// Another open instance; `event_chain` gives the finding the event's
    /// delegation chain rather than the instance's own.
    Other {
        /// Its id.
        instance: String,
        /// Use the event's chain.
        event_chain: bool,
    },
}

/// A detector's verdict before it becomes a finding.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    pub detector: DetectorId,
    /// What the finding is about, for its id (a credential, a tool call);
    /// empty for the one per-instance finding of a detector.
    pub subject: String,
    pub p: Option<f64>,
    pub risk: u8,
    /// Clause for the summary: "called 5 tools never seen …".
    pub what: String,
    pub expected: String,
    pub observed: String,
    pub evidence: Vec<Evidence>,
    pub tags: &'static [&'static str],
    pub credential: Option<String>,
    pub target: Target,
}

impl Signal {
    pub(crate) fn new(detector: DetectorId, p: Option<f64>, risk: u8) -> Self {
        Self {
            detector,
            subject: String::new(),
            p,
            risk,
            what: String::new(),
            expected: String::new(),
            observed: String::new(),
            evidence: Vec::new(),
            tags: &[],
            credential: None,
            target: Target::This,
        }
    }
}

/// What a detector sees of one event of an instance.
pub(crate) struct EventCx<'a> {
    pub cfg: &'a DetectConfig,
    pub event: &'a NormEvent,
    pub attribution: &'a Attribution,
    /// The event's instance, its behaviour record already updated.
    pub instance: &'a Instance,
    /// Its logical agent (baseline key).
    pub agent: &'a str,
    /// False for a late event of an instance that already closed: its
    /// detectors' state is gone, so they look at the event alone.
    pub is_open: bool,
    /// What the event changed in the behaviour record.
    pub changed: Changed,
    /// Facts about the credential the event used.
    pub credential: Option<&'a CredentialFacts>,
    pub(crate) shared: Shared<'a>,
}

/// What every context reads from the engine.
#[derive(Clone, Copy)]
pub(crate) struct Shared<'a> {
    pub baselines: &'a std::collections::BTreeMap<String, AgentBaseline>,
    /// Other open instances (the event's own is not among them).
    pub open: &'a crate::engine::OpenInstances,
}

impl<'a> Shared<'a> {
    /// An open instance, with its agent key and baseline.
    pub fn other(
        &self,
        id: &str,
    ) -> Option<(Seen<'a, Instance>, String, Option<&'a AgentBaseline>)> {
        let i = self.open.peek(id)?;
        let agent = i.agent_key();
        let baseline = self.baselines.get(&agent);
        Some((i, agent, baseline))
    }

    /// The signal context of `instance` under `agent`'s baseline, for `event`.
    pub fn ctx<'b>(
        &self,
        cfg: &'b DetectConfig,
        event: &'b NormEvent,
        instance: &'b Instance,
        agent: &'b str,
    ) -> Ctx<'b>
    where
        'a: 'b,
    {
        Ctx {
            cfg,
            event: Some(event),
            profile: instance,
            baseline: self.baselines.get(agent),
            agent,
        }
    }
}

impl<'a> EventCx<'a> {
    /// The signal context of the event's own instance.
    pub fn ctx(&self) -> Ctx<'a> {
        self.shared
            .ctx(self.cfg, self.event, self.instance, self.agent)
    }

    /// The signal context of another open instance, for the same event.
    pub fn ctx_of<'b>(&'b self, instance: &'b Instance, agent: &'b str) -> Ctx<'b> {
        self.shared.ctx(self.cfg, self.event, instance, agent)
    }

    /// Another open instance.
    pub fn other(
        &self,
        id: &str,
    ) -> Option<(Seen<'a, Instance>, String, Option<&'a AgentBaseline>)> {
        self.shared.other(id)
    }

    /// Whether the event's instance already raised `d`'s one finding.
    pub fn raised(&self, d: DetectorId) -> bool {
        self.instance.raised.contains(&d)
    }
}

/// What a detector sees of an event with no instance.
pub(crate) struct UnattributedCx<'a> {
    pub cfg: &'a DetectConfig,
    pub event: &'a NormEvent,
    /// The human acting.
    pub human: &'a str,
    /// Facts about the credential, claimed for the human.
    pub credential: &'a CredentialFacts,
    pub(crate) shared: Shared<'a>,
}

impl<'a> UnattributedCx<'a> {
    /// The signal context of an open instance, for this event.
    pub fn ctx_of<'b>(&'b self, instance: &'b Instance, agent: &'b str) -> Ctx<'b> {
        self.shared.ctx(self.cfg, self.event, instance, agent)
    }

    /// Another open instance.
    pub fn other(
        &self,
        id: &str,
    ) -> Option<(Seen<'a, Instance>, String, Option<&'a AgentBaseline>)> {
        self.shared.other(id)
    }
}

/// What a detector sees of an instance that closed.
pub(crate) struct CloseCx<'a> {
    pub cfg: &'a DetectConfig,
    pub instance: &'a Instance,
    pub agent: &'a str,
    /// The baseline it is judged against (while an agent's first instances
    /// seed it, a baseline of the others).
    pub baseline: Option<&'a AgentBaseline>,
    pub credentials: &'a CredentialBook,
}

impl<'a> CloseCx<'a> {
    /// The signal context (no event).
    pub fn ctx(&self) -> Ctx<'a> {
        Ctx {
            cfg: self.cfg,
            event: None,
            profile: self.instance,
            baseline: self.baseline,
            agent: self.agent,
        }
    }

    /// Whether the instance already raised `d`'s one finding.
    pub fn raised(&self, d: DetectorId) -> bool {
        self.instance.raised.contains(&d)
    }
}

/// Where an instance's detector state lives: a small number the engine
/// hands out when the instance opens and takes back once every detector
/// forgot it (after it was learned, quarantined or evicted). Detectors index
/// their per-instance state by it instead of hashing the instance's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotId(u32);

impl SlotId {
    /// No slot: a late event's throw-away instance.
    pub const NONE: SlotId = SlotId(u32::MAX);

    pub(crate) fn index(self) -> Option<usize> {
        (self != Self::NONE).then_some(self.0 as usize)
    }
}

impl Default for SlotId {
    fn default() -> Self {
        Self::NONE
    }
}

/// The engine's slots: freed ones are reused, newest first, so the same
/// history always hands out the same numbers.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SlotPool {
    free: Vec<u32>,
    next: u32,
}

impl SlotPool {
    /// A slot no instance holds.
    pub fn take(&mut self) -> SlotId {
        match self.free.pop() {
            Some(n) => SlotId(n),
            None => {
                self.next += 1;
                SlotId(self.next - 1)
            }
        }
    }

    /// `slot` is free again.
    pub fn give(&mut self, slot: SlotId) {
        if slot != SlotId::NONE {
            self.free.push(slot.0);
        }
    }
}

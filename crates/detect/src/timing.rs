//! Where the detectors' time goes: an opt-in wrapper that times every call
//! the engine makes to one detector, so `delegraph bench` can say which
//! detector an event's cost comes from (a profiler's flat list spreads it
//! over shared helpers and allocator frames).
//!
//! Off by default: the engine then calls its detectors directly, without a
//! clock read. Timing adds two clock reads to every call (about 50 ns on a
//! cloud VM, a quarter of detection on the simulated fleet; the bench
//! prints it), so the figures are for comparing detectors, not for adding
//! up to the untimed cost.

use std::cell::Cell;
use std::time::{Duration, Instant};

use delegraph_model::EventSignals;

use crate::DetectorId;
use crate::baseline::Observation;
use crate::detector::{CloseCx, Detector, EventCx, Signal, SlotId, StateResult, UnattributedCx};
use crate::instance::Instance;

/// Time one detector spent, by the moment the engine called it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorTiming {
    /// Its state key (a detector registered as two checks is two rows).
    pub name: &'static str,
    /// Looking at events: observe, follow-up, approval records, events
    /// without an instance, and what it tells the rules.
    pub events: Duration,
    /// Judging closed instances: settle and close.
    pub close: Duration,
    /// Teaching the baseline and forgetting closed instances.
    pub learn: Duration,
    /// Calls timed (each read the clock twice).
    pub calls: u64,
}

impl DetectorTiming {
    /// All of it.
    pub fn total(&self) -> Duration {
        self.events + self.close + self.learn
    }
}

/// A detector with a stopwatch. `Cell`s because `learn` and `describe`
/// are called through a shared reference.
pub(crate) struct Timed {
    inner: Box<dyn Detector>,
    events: Cell<Duration>,
    close: Cell<Duration>,
    learn: Cell<Duration>,
    calls: Cell<u64>,
}

impl Timed {
    pub(crate) fn new(inner: Box<dyn Detector>) -> Self {
        Self {
            inner,
            events: Cell::default(),
            close: Cell::default(),
            learn: Cell::default(),
            calls: Cell::default(),
        }
    }
}

/// Run `f`, adding its time to `into` and counting the call.
fn timed<T>(into: &Cell<Duration>, calls: &Cell<u64>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    into.set(into.get() + start.elapsed());
    calls.set(calls.get() + 1);
    out
}

impl Detector for Timed {
    fn id(&self) -> DetectorId {
        self.inner.id()
    }

    fn state_key(&self) -> &'static str {
        self.inner.state_key()
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        timed(&self.events, &self.calls, || self.inner.observe(cx, out));
    }

    fn follow_up(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        timed(&self.events, &self.calls, || self.inner.follow_up(cx, out));
    }

    fn describe(&self, slot: SlotId, signals: &mut EventSignals) {
        timed(&self.events, &self.calls, || {
            self.inner.describe(slot, signals)
        });
    }

    fn observe_approval_record(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        timed(&self.events, &self.calls, || {
            self.inner.observe_approval_record(cx, out)
        });
    }

    fn observe_unattributed(&mut self, cx: &UnattributedCx<'_>, out: &mut Vec<Signal>) {
        timed(&self.events, &self.calls, || {
            self.inner.observe_unattributed(cx, out)
        });
    }

    fn settle(&mut self, cx: &CloseCx<'_>) {
        timed(&self.close, &self.calls, || self.inner.settle(cx));
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        timed(&self.close, &self.calls, || self.inner.close(cx, out));
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        timed(&self.learn, &self.calls, || self.inner.learn(instance, obs));
    }

    fn forget(&mut self, slot: SlotId) {
        timed(&self.learn, &self.calls, || self.inner.forget(slot));
    }

    fn pack_idle(&mut self) {
        self.inner.pack_idle();
    }

    fn save(&self) -> StateResult<Vec<u8>> {
        self.inner.save()
    }

    fn restore(&mut self, saved: &[u8]) -> StateResult<()> {
        self.inner.restore(saved)
    }

    fn timing(&self) -> Option<DetectorTiming> {
        Some(DetectorTiming {
            name: self.inner.state_key(),
            events: self.events.get(),
            close: self.close.get(),
            learn: self.learn.get(),
            calls: self.calls.get(),
        })
    }
}

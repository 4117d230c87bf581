//! Signals become findings: routed to their instance, deduplicated within
//! the window, scored into accumulated instance and human risk.

use delegraph_model::{Attribution, Finding, NormEvent};

use super::Detectors;
use crate::config::secs_to_ns;
use crate::detector::{Signal, Target};
use crate::instance::Instance;

impl Detectors {
    /// Raise the signals of one event, in order, each on its target: the
    /// event's instance `p` (under the event's `agent`) or another open one.
    pub(super) fn emit_all(
        &mut self,
        signals: Vec<Signal>,
        p: &mut Instance,
        agent: &str,
        a: &Attribution,
        e: &NormEvent,
        out: &mut Vec<Finding>,
    ) {
        for sig in signals {
            match &sig.target {
                Target::This => self.emit(sig, p, agent, Some(a), Some(e), out),
                Target::ThisByRecord => {
                    let own = p.agent_key();
                    self.emit(sig, p, &own, Some(a), Some(e), out);
                }
                Target::Other { event_chain, .. } => {
                    let chain = event_chain.then_some(a);
                    self.emit_elsewhere(sig, chain, e, out);
                }
            }
        }
    }

    /// Raise a signal on another open instance (skipped if it is gone).
    pub(super) fn emit_elsewhere(
        &mut self,
        sig: Signal,
        chain: Option<&Attribution>,
        e: &NormEvent,
        out: &mut Vec<Finding>,
    ) {
        let Target::Other { instance, .. } = &sig.target else {
            return;
        };
        let id = instance.clone();
        let Some(mut target) = self.s.open.pop(&id) else {
            return;
        };
        let agent = target.agent_key();
        self.emit(sig, &mut target, &agent, chain, Some(e), out);
        self.put_open(id, target);
    }

    /// One finding, unless the same id was raised within the dedup window.
    pub(super) fn emit(
        &mut self,
        sig: Signal,
        p: &mut Instance,
        agent: &str,
        a: Option<&Attribution>,
        e: Option<&NormEvent>,
        out: &mut Vec<Finding>,
    ) {
        if sig.subject.is_empty() {
            p.raised.insert(sig.detector);
        }
        let mut f = crate::finding::build(sig, p, agent, a, e, self.s.watermark);
        let window = secs_to_ns(self.cfg.dedup_window_secs);
        if let Some(then) = self.s.emitted.peek(&f.finding_id)
            && self.s.watermark.saturating_sub(*then) < window
        {
            self.s.stats.duplicates += 1;
            return;
        }
        self.s.emitted.put(f.finding_id.clone(), self.s.watermark);
        p.max_risk = p.max_risk.max(f.risk_score);
        f.baseline_instances = self.history(agent);
        let (ir, hr) = self.s.risk.add(
            Some(&p.instance),
            p.human.as_deref(),
            f.risk_score,
            f.event_time,
        );
        f.instance_risk = ir;
        f.human_risk = hr;
        *self.s.stats.findings.entry(f.detector.clone()).or_default() += 1;
        out.push(f);
    }
}

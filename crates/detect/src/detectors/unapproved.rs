//! `unapproved`: an instance of an agent whose instances normally run under
//! an approval (a task envelope or policy decisions) acting with none at
//! all: standing privilege in use.

use delegraph_model::{Approval, Evidence};
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::DetectorId;
use crate::baseline::Observation;
use crate::detector::{CloseCx, Detector, EventCx, PerInstance, Signal, per_instance_state};
use crate::features::{flag, is_action};
use crate::instance::{Instance, evidence};

/// Actions without approval after which an instance is flagged while it
/// runs (it is also checked when it closes).
const EARLY_ACTIONS: u64 = 3;
/// Share of the agent's instances that ran under approval for it to count
/// as governed.
const GOVERNED_SHARE: f64 = 0.5;

fn unapproved(ctx: &Ctx<'_>, p: &Approvals) -> Option<Signal> {
    if p.approval_seen || p.unapproved_actions == 0 {
        return None;
    }
    if ctx.event.is_some() && p.unapproved_actions < EARLY_ACTIONS {
        return None;
    }
    let b = ctx.baseline?;
    let n = ctx.n();
    let approved = b.flag(flag::APPROVED);
    if ctx.history() < ctx.settings(DetectorId::Unapproved).min_history
        || approved < GOVERNED_SHARE * n
    {
        return None;
    }
    let mut s = ctx.definite(DetectorId::Unapproved, (n - approved).max(0.0))?;
    s.what = format!(
        "made {} actions with no task envelope and no policy decision",
        p.unapproved_actions
    );
    s.expected = format!(
        "an approval, as {:.0}% of {} had",
        100.0 * approved / n.max(1.0),
        ctx.history_phrase()
    );
    s.observed = format!("{} unapproved actions", p.unapproved_actions);
    s.evidence = p.first_unapproved.iter().cloned().collect();
    s.tags = &["owasp-nhi:NHI7", "owasp-agentic:T3", "attack:T1078.004"];
    Some(s)
}

/// Whether an instance ran under approval, and what it did without.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Approvals {
    /// Any of its events ran under an approval.
    approval_seen: bool,
    /// Actions it made with no approval context.
    unapproved_actions: u64,
    /// The first of those.
    first_unapproved: Option<Evidence>,
}

/// Governed agents' instances acting with no approval.
#[derive(Default)]
pub(crate) struct Unapproved {
    by_instance: PerInstance<Approvals>,
}

impl Detector for Unapproved {
    fn id(&self) -> DetectorId {
        DetectorId::Unapproved
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let e = cx.event;
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        if e.approval().is_some_and(Approval::is_evidenced) {
            own.approval_seen = true;
        } else if is_action(e) {
            own.unapproved_actions += 1;
            own.first_unapproved.get_or_insert_with(|| evidence(e));
        }
        if !cx.raised(DetectorId::Unapproved) {
            out.extend(unapproved(&cx.ctx(), &own));
        }
    }

    fn observe_approval_record(&mut self, cx: &EventCx<'_>, _out: &mut Vec<Signal>) {
        self.by_instance
            .slot(cx.instance.slot, cx.is_open)
            .approval_seen = true;
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        if !cx.raised(self.id()) {
            let own = self.by_instance.get_mut(cx.instance.slot);
            out.extend(unapproved(&cx.ctx(), own));
        }
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        if self
            .by_instance
            .get(instance.slot)
            .is_some_and(|a| a.approval_seen)
        {
            obs.flags.insert(flag::APPROVED);
        }
    }

    per_instance_state!(by_instance);
}

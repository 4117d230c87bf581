//! `unapproved`: an instance of an agent whose instances normally run under
//! an approval (a task envelope or policy decisions) acting with none at
//! all: standing privilege in use.

use super::{Ctx, Signal};
use crate::features::flag;

/// Actions without approval after which an instance is flagged while it
/// runs (it is also checked when it closes).
pub(crate) const EARLY_ACTIONS: u64 = 3;
/// Share of the agent's instances that ran under approval for it to count
/// as governed.
pub(crate) const GOVERNED_SHARE: f64 = 0.5;

pub(crate) fn unapproved(ctx: &Ctx<'_>) -> Option<Signal> {
    let p = ctx.profile;
    if p.approval_seen || p.unapproved_actions == 0 {
        return None;
    }
    if ctx.event.is_some() && p.unapproved_actions < EARLY_ACTIONS {
        return None;
    }
    let b = ctx.baseline?;
    let n = ctx.n();
    let approved = b.flag(flag::APPROVED);
    if ctx.history() < ctx.settings("unapproved").min_history || approved < GOVERNED_SHARE * n {
        return None;
    }
    let mut s = ctx.definite("unapproved", (n - approved).max(0.0))?;
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

//! `delegation`: more sub-agents, or a deeper delegation chain, under one
//! root instance than the agent's instances show.

use super::{Ctx, Signal, count_p};
use crate::features::metric;
use crate::stats::fmt_p;

pub(crate) fn delegation(ctx: &Ctx<'_>) -> Option<Signal> {
    let fanout = ctx.profile.sub_agents.len() as u64;
    let depth = u64::from(ctx.profile.max_depth);
    let (p_fan, mean_fan, sd_fan) = count_p(ctx, metric::SUB_AGENTS, fanout);
    let (p_depth, mean_depth, _) = count_p(ctx, metric::DEPTH, depth);
    let p = (2.0 * p_fan.min(p_depth)).min(1.0);
    let mut s = ctx.statistical("delegation", p)?;
    s.what = format!("delegated to {fanout} sub-agent instances (delegation depth {depth})");
    s.expected = format!(
        "{mean_fan:.1} ± {sd_fan:.1} sub-agents and depth {mean_depth:.1} per instance, learned from {}",
        ctx.history_phrase()
    );
    s.observed = format!("{fanout} sub-agents, depth {depth} (p = {})", fmt_p(p));
    s.evidence = ctx.profile.sub_agents.values().take(20).cloned().collect();
    s.tags = &["owasp-agentic:T4", "owasp-agentic:T13"];
    Some(s)
}

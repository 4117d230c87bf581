//! `tool_chain`: tools, transitions, tool triples and sub-agents this agent
//! rarely or never uses. Transitions and triples are tested too, so a chain
//! of individually common tools in an unusual order still stands out.

use super::{CHAIN_DIMS, Ctx, Signal, list_items, rare_items};
use crate::features::metric;
use crate::stats::fmt_p;

pub(crate) fn tool_chain(ctx: &Ctx<'_>) -> Option<Signal> {
    let rare = rare_items(ctx, &CHAIN_DIMS, Some(metric::RARE_CHAIN));
    let mut s = ctx.statistical("tool_chain", rare.p)?;
    let k = rare.items.len();
    s.what = format!(
        "made {k} tool calls, transitions or sub-agent calls that are rare or new for this agent: {}",
        list_items(&rare.items, 4)
    );
    s.expected = format!(
        "{:.2} ± {:.2} rare or new tools/transitions per instance, learned from {}",
        rare.rate,
        rare.sd,
        ctx.history_phrase()
    );
    s.observed = format!("{k} rare or new (p = {})", fmt_p(rare.p));
    s.evidence = rare.items.into_iter().map(|x| x.3).collect();
    s.tags = &["owasp-agentic:T2", "owasp-agentic:T6", "atlas:AML.T0053"];
    Some(s)
}

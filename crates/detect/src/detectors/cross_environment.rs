//! `cross_environment`: accounts, orgs or tenants beyond the agent's
//! baseline (role chains into another account, a new GitHub org).

use super::{Ctx, Signal, list_items, rare_items};
use crate::features::dim;
use crate::stats::fmt_p;

pub(crate) fn cross_environment(ctx: &Ctx<'_>) -> Option<Signal> {
    let rare = rare_items(ctx, &[dim::TENANT]);
    let mut s = ctx.statistical("cross_environment", rare.p)?;
    let known: Vec<String> = ctx
        .baseline
        .map(|b| b.common_items(dim::TENANT, ctx.cfg.rare_share))
        .unwrap_or_default();
    s.what = format!(
        "acted in {} outside its usual environments: {}",
        if rare.items.len() == 1 { "an account" } else { "accounts" },
        list_items(&rare.items, 4)
    );
    s.expected = format!(
        "accounts {} (a new one in {:.2} of instances), learned from {}",
        if known.is_empty() { "none yet".to_owned() } else { known.join(", ") },
        rare.rate,
        ctx.history_phrase()
    );
    s.observed = format!("{} rare or new (p = {})", rare.items.len(), fmt_p(rare.p));
    s.evidence = rare.items.into_iter().map(|x| x.3).collect();
    s.tags = &["owasp-nhi:NHI8", "owasp-agentic:T3", "attack:T1078.004"];
    Some(s)
}

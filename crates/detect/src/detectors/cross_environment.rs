//! `cross_environment`: accounts, orgs or tenants outside the agent's
//! usual set (role chains into another account, a new GitHub org). An
//! environment boundary is policy-like: crossing it is raised whenever the
//! baseline is warm, with a risk that grows with how rare the crossing is.

use super::{Ctx, Signal, list_items, rare_items};
use crate::features::dim;

pub(crate) fn cross_environment(ctx: &Ctx<'_>) -> Option<Signal> {
    let rare = rare_items(ctx, &[dim::TENANT]);
    let (_, item, share, _) = rare.items.first()?;
    let hits = share * ctx.n();
    let mut s = ctx.boundary("cross_environment", hits)?;
    let known: Vec<String> = ctx
        .baseline
        .map(|b| b.common_items(dim::TENANT, ctx.cfg.rare_share))
        .unwrap_or_default();
    s.subject = item.clone();
    s.what = format!(
        "acted in {} outside its usual environments: {}",
        if rare.items.len() == 1 {
            "an account"
        } else {
            "accounts"
        },
        list_items(&rare.items, 4)
    );
    s.expected = format!(
        "accounts {}, learned from {}",
        if known.is_empty() {
            "none yet".to_owned()
        } else {
            known.join(", ")
        },
        ctx.history_phrase()
    );
    s.observed = format!("{} rare or new: {item}", rare.items.len());
    s.evidence = rare.items.into_iter().map(|x| x.3).collect();
    s.tags = &["owasp-nhi:NHI8", "owasp-agentic:T3", "attack:T1078.004"];
    Some(s)
}

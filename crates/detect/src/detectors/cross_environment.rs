//! `cross_environment`: accounts, orgs or tenants outside the agent's
//! usual set (role chains into another account, a new GitHub org). An
//! environment boundary is policy-like: crossing it is raised whenever the
//! baseline is warm, with a risk that grows with how rare the crossing is.

use super::{Ctx, list_items, rare_items};
use crate::DetectorId;
use crate::detector::Signal;
use crate::features::{dim, tenant_label};

pub(crate) fn cross_environment(ctx: &Ctx<'_>) -> Option<Signal> {
    let rare = rare_items(ctx, &[dim::TENANT], None);
    let (_, item, share, _) = rare.items.first()?;
    let hits = share * ctx.n();
    let mut s = ctx.boundary(DetectorId::CrossEnvironment, hits)?;
    let known: Vec<String> = ctx
        .baseline
        .map(|b| b.common_items(dim::TENANT, ctx.cfg.rare_share))
        .unwrap_or_default();
    s.subject = (*item).to_owned();
    let labelled: Vec<_> = rare
        .items
        .iter()
        .map(|(d, i, sh, ev)| (*d, tenant_label(i), *sh, *ev))
        .collect();
    let known: Vec<String> = known.iter().map(|k| tenant_label(k)).collect();
    s.what = format!(
        "acted outside its usual environments, in {}",
        list_items(&labelled, 4)
    );
    s.expected = format!(
        "{}, learned from {}",
        if known.is_empty() {
            "no environment yet".to_owned()
        } else {
            known.join(", ")
        },
        ctx.history_phrase()
    );
    s.observed = format!("{} rare or new: {}", rare.items.len(), tenant_label(item));
    s.evidence = rare.items.iter().map(|x| x.3.clone()).collect();
    s.tags = &["owasp-nhi:NHI8", "owasp-agentic:T3", "attack:T1078.004"];
    Some(s)
}

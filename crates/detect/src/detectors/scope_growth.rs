//! `scope_growth`: an instance reaching services, operations, scopes or
//! privilege classes (a first write or admin call by a read-mostly agent)
//! its agent rarely uses, or many more distinct operations than usual.

use super::{Ctx, SCOPE_DIMS, count_p, list_items, rare_items};
use crate::DetectorId;
use crate::detector::Signal;
use crate::features::{dim, metric};
use crate::stats::fmt_p;

pub(crate) fn scope_growth(ctx: &Ctx<'_>) -> Option<Signal> {
    let rare = rare_items(ctx, &SCOPE_DIMS, None);
    let ops = ctx.profile.items(dim::OPERATION).count() as u64;
    let (p_ops, mean, sd) = count_p(ctx, metric::OPERATIONS, ops);
    // Two tests: Bonferroni.
    let p = (2.0 * rare.p.min(p_ops)).min(1.0);
    let mut s = ctx.statistical(DetectorId::ScopeGrowth, p)?;
    let k = rare.items.len();
    s.what = format!(
        "reached {ops} distinct operations, with {k} services, operations, scopes or privilege classes rare or new for this agent: {}",
        list_items(&rare.items, 4)
    );
    s.expected = format!(
        "{mean:.1} ± {sd:.1} distinct operations and {:.2} rare or new services/operations per instance, learned from {}",
        rare.rate,
        ctx.history_phrase()
    );
    s.observed = format!("{ops} operations, {k} rare or new (p = {})", fmt_p(p));
    s.evidence = rare.items.iter().map(|x| x.3.clone()).collect();
    s.tags = &["owasp-nhi:NHI5", "owasp-agentic:T3", "attack:T1526"];
    Some(s)
}

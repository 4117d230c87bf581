//! `secret_access`: more secret reads, or more distinct secrets, than the
//! agent's instances read (negative binomial or Poisson tail).

use super::{Ctx, Signal, count_p};
use crate::features::metric;
use crate::stats::fmt_p;

pub(crate) fn secret_access(ctx: &Ctx<'_>) -> Option<Signal> {
    let reads = ctx.profile.secret_reads;
    let distinct = ctx.profile.secrets.len() as u64;
    let (p_reads, mean_reads, sd_reads) = count_p(ctx, metric::SECRET_READS, reads);
    let (p_distinct, mean_distinct, _) = count_p(ctx, metric::DISTINCT_SECRETS, distinct);
    let p = (2.0 * p_reads.min(p_distinct)).min(1.0);
    let mut s = ctx.statistical("secret_access", p)?;
    let names: Vec<&str> = ctx
        .profile
        .secrets
        .keys()
        .take(3)
        .map(String::as_str)
        .collect();
    s.what = format!(
        "read secrets {reads} times ({distinct} distinct, e.g. {}{})",
        names.join(", "),
        if distinct > 3 { ", …" } else { "" }
    );
    s.expected = format!(
        "{mean_reads:.1} ± {sd_reads:.1} secret reads and {mean_distinct:.1} distinct secrets per instance, learned from {}",
        ctx.history_phrase()
    );
    s.observed = format!("{reads} reads, {distinct} distinct (p = {})", fmt_p(p));
    s.evidence = ctx.profile.secrets.values().take(20).cloned().collect();
    s.tags = &["owasp-nhi:NHI2", "owasp-agentic:T2", "attack:T1555.006"];
    Some(s)
}

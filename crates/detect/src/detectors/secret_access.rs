//! `secret_access`: more secret reads, or more distinct secrets, than the
//! agent's instances read (negative binomial or Poisson tail).

use std::collections::BTreeMap;

use delegraph_model::{Category, Evidence, NormEvent};
use serde::{Deserialize, Serialize};

use super::{Ctx, count_p};
use crate::DetectorId;
use crate::baseline::Observation;
use crate::detector::{CloseCx, Detector, EventCx, PerInstance, Signal, per_instance_state};
use crate::features::metric;
use crate::features::secrets_read;
use crate::instance::{Instance, evidence};
use crate::stats::fmt_p;

fn secret_access(ctx: &Ctx<'_>, own: &Secrets) -> Option<Signal> {
    let reads = own.reads;
    let distinct = own.secrets.len() as u64;
    let (p_reads, mean_reads, sd_reads) = count_p(ctx, metric::SECRET_READS, reads);
    let (p_distinct, mean_distinct, _) = count_p(ctx, metric::DISTINCT_SECRETS, distinct);
    let p = (2.0 * p_reads.min(p_distinct)).min(1.0);
    let mut s = ctx.statistical(DetectorId::SecretAccess, p)?;
    let names: Vec<&str> = own.secrets.keys().take(3).map(String::as_str).collect();
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
    s.evidence = own.secrets.values().take(20).cloned().collect();
    s.tags = &["owasp-nhi:NHI2", "owasp-agentic:T2", "attack:T1555.006"];
    Some(s)
}

/// Secrets one instance read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Secrets {
    /// Secret reads.
    reads: u64,
    /// Distinct secrets, with the event that first read each.
    secrets: BTreeMap<String, Evidence>,
}

impl Secrets {
    /// Count a secret read; false when the event reads none.
    fn fold(&mut self, e: &NormEvent) -> bool {
        if e.category != Category::SecretRead && !e.reads_secret() {
            return false;
        }
        self.reads += 1;
        let mut any = false;
        for s in secrets_read(e) {
            any = true;
            self.secrets
                .entry(s.to_owned())
                .or_insert_with(|| evidence(e));
        }
        if !any {
            self.secrets
                .entry(format!("{} (unnamed)", e.operation))
                .or_insert_with(|| evidence(e));
        }
        true
    }
}

/// Counts each instance's secret reads against the agent's usual.
#[derive(Default)]
pub(crate) struct SecretAccess {
    by_instance: PerInstance<Secrets>,
}

impl Detector for SecretAccess {
    fn id(&self) -> DetectorId {
        DetectorId::SecretAccess
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        if own.fold(cx.event) && cx.is_open && !cx.raised(DetectorId::SecretAccess) {
            out.extend(secret_access(&cx.ctx(), &own));
        }
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        if !cx.raised(self.id()) {
            let own = self.by_instance.get_mut(cx.instance.slot);
            out.extend(secret_access(&cx.ctx(), own));
        }
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        let own = self.by_instance.get(instance.slot);
        obs.counts
            .insert(metric::SECRET_READS, own.as_ref().map_or(0, |s| s.reads));
        obs.counts.insert(
            metric::DISTINCT_SECRETS,
            own.as_ref().map_or(0, |s| s.secrets.len() as u64),
        );
    }

    per_instance_state!(by_instance);
}

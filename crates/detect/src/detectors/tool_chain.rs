//! `tool_chain`: tools, transitions, tool triples and sub-agents this agent
//! rarely or never uses. Transitions and triples are tested too, so a chain
//! of individually common tools in an unusual order still stands out.

use serde::{Deserialize, Serialize};

use super::{CHAIN_DIMS, Ctx, list_items, rare_items, rare_list};
use crate::DetectorId;
use crate::baseline::Observation;
use crate::detector::{CloseCx, Detector, EventCx, PerInstance, Signal, per_instance_state};
use crate::features::metric;
use crate::instance::Instance;
use crate::stats::fmt_p;

pub(crate) fn tool_chain(ctx: &Ctx<'_>) -> Option<Signal> {
    let rare = rare_items(ctx, &CHAIN_DIMS, Some(metric::RARE_CHAIN));
    let mut s = ctx.statistical(DetectorId::ToolChain, rare.p)?;
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
    s.evidence = rare.items.iter().map(|x| x.3.clone()).collect();
    s.tags = &["owasp-agentic:T2", "owasp-agentic:T6", "atlas:AML.T0053"];
    Some(s)
}

/// Keeps, per closed instance, how many rare tools and transitions it had
/// against its baseline, so the baseline learns how much that varies
/// between its instances (with LLM-driven tool use, a lot: longer
/// conversations have more).
#[derive(Default)]
pub(crate) struct ToolChain {
    rare: PerInstance<RareCount>,
}

/// Rare chain items measured when the instance closed.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct RareCount(u64);

impl Detector for ToolChain {
    fn id(&self) -> DetectorId {
        DetectorId::ToolChain
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        if cx.is_open && cx.changed.chain && !cx.raised(self.id()) {
            out.extend(tool_chain(&cx.ctx()));
        }
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        let ctx = cx.ctx();
        let rare = rare_list(&ctx, &CHAIN_DIMS).len() as u64;
        self.rare.get_mut(cx.instance.slot).0 = rare;
        if !cx.raised(self.id()) {
            out.extend(tool_chain(&ctx));
        }
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        if let Some(rare) = self.rare.get(instance.slot) {
            obs.counts.insert(metric::RARE_CHAIN, rare.0);
        }
    }

    per_instance_state!(rare);
}

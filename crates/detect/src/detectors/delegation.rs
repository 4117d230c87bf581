//! `delegation`: more sub-agents, or a deeper delegation chain, under one
//! root instance than the agent's instances show.

use std::collections::BTreeMap;

use delegraph_model::Evidence;
use serde::{Deserialize, Serialize};

use super::{Ctx, count_p};
use crate::DetectorId;
use crate::baseline::Observation;
use crate::detector::{
    CloseCx, Detector, EventCx, PerInstance, Signal, Target, per_instance_state,
};
use crate::features::metric;
use crate::instance::{Instance, evidence};
use crate::stats::fmt_p;

fn delegation(ctx: &Ctx<'_>, own: &Tree) -> Option<Signal> {
    let fanout = own.sub_agents.len() as u64;
    let depth = u64::from(own.max_depth);
    let (p_fan, mean_fan, sd_fan) = count_p(ctx, metric::SUB_AGENTS, fanout);
    let (p_depth, mean_depth, _) = count_p(ctx, metric::DEPTH, depth);
    let p = (2.0 * p_fan.min(p_depth)).min(1.0);
    let mut s = ctx.statistical(DetectorId::Delegation, p)?;
    s.what = format!("delegated to {fanout} sub-agent instances (delegation depth {depth})");
    s.expected = format!(
        "{mean_fan:.1} ± {sd_fan:.1} sub-agents and depth {mean_depth:.1} per instance, learned from {}",
        ctx.history_phrase()
    );
    s.observed = format!("{fanout} sub-agents, depth {depth} (p = {})", fmt_p(p));
    s.evidence = own.sub_agents.values().take(20).cloned().collect();
    s.tags = &["owasp-agentic:T4", "owasp-agentic:T13"];
    Some(s)
}

/// The delegation tree under one root instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tree {
    /// Sub-agent instances started under it, with the event that showed each.
    sub_agents: BTreeMap<String, Evidence>,
    /// Deepest delegation seen under it.
    max_depth: u32,
}

/// Sub-agents and depth count against the root instance's agent.
#[derive(Default)]
pub(crate) struct Delegation {
    by_root: PerInstance<Tree>,
}

impl Detector for Delegation {
    fn id(&self) -> DetectorId {
        DetectorId::Delegation
    }

    /// Role chaining keeps the instance and deepens it.
    fn observe(&mut self, cx: &EventCx<'_>, _out: &mut Vec<Signal>) {
        let depth = cx.attribution.depth;
        if cx.instance.is_root() {
            let mut own = self.by_root.slot(cx.instance.slot, cx.is_open);
            if depth > own.max_depth {
                own.max_depth = depth;
            }
        }
    }

    /// An event of a sub-agent grows its root's tree.
    fn follow_up(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let depth = cx.attribution.depth;
        if !cx.is_open || depth == 0 || cx.instance.is_root() {
            return;
        }
        let root_id = &cx.instance.root;
        let Some((root, agent, _)) = cx.other(root_id) else {
            return;
        };
        let tree = self.by_root.get_mut(root.slot);
        let mut changed = false;
        if !tree.sub_agents.contains_key(&cx.instance.instance) {
            tree.sub_agents
                .insert(cx.instance.instance.clone(), evidence(cx.event));
            changed = true;
        }
        if depth > tree.max_depth {
            tree.max_depth = depth;
            changed = true;
        }
        if changed && !root.raised.contains(&DetectorId::Delegation) {
            let ctx = cx.ctx_of(&root, &agent);
            if let Some(mut s) = delegation(&ctx, tree) {
                s.target = Target::Other {
                    instance: root_id.clone(),
                    event_chain: true,
                };
                out.push(s);
            }
        }
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        if cx.instance.is_root() && !cx.raised(self.id()) {
            let own = self.by_root.get_mut(cx.instance.slot);
            out.extend(delegation(&cx.ctx(), own));
        }
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        if instance.is_root() {
            let own = self.by_root.get(instance.slot);
            obs.counts.insert(
                metric::SUB_AGENTS,
                own.as_ref().map_or(0, |t| t.sub_agents.len() as u64),
            );
            obs.counts.insert(
                metric::DEPTH,
                own.as_ref().map_or(0, |t| u64::from(t.max_depth)),
            );
        }
    }

    per_instance_state!(by_root);
}

//! What the engine keeps for one open agent instance: who it is, when it
//! ran, and its behaviour record (the items the agent's baseline learns and
//! several detectors compare). Detectors' own per-instance state lives with
//! each detector ([`crate::detector::PerInstance`]), not here.

use std::collections::BTreeSet;
use std::sync::Arc;

use delegraph_model::{Attribution, Category, Evidence, Link, NormEvent};
use serde::{Deserialize, Serialize};

use crate::DetectorId;
use crate::baseline::Observation;
use crate::detector::SlotId;
use crate::features::{
    api_operation, dim, is_permission_change, metric, privilege_class, service, tenant, tool_name,
};

/// Most items kept per dimension of one instance.
const MAX_ITEMS: usize = 512;
/// The baseline key of instances with no logical agent.
pub(crate) const UNIDENTIFIED_AGENT: &str = "unidentified-agent";

/// An open instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id.
    pub instance: String,
    /// Where detectors keep their state of it ([`SlotId::NONE`] for a late
    /// event's throw-away instance).
    pub slot: SlotId,
    /// Root of its delegation chain.
    pub root: String,
    /// Logical agent (baseline key).
    pub agent_id: Option<String>,
    /// Human it runs for.
    pub human: Option<String>,
    /// Delegation chain, root first.
    pub chain: Vec<String>,
    /// First event time (ns).
    pub first_seen: i64,
    /// Last event time (ns).
    pub last_seen: i64,
    /// When the task ended, once known.
    pub task_end: Option<i64>,
    /// When it is due to close, as scheduled (ns).
    pub deadline: Option<i64>,
    /// The last two tools, newest last.
    pub recent_tools: Vec<String>,
    /// Items (dimension index in [`dim::ALL`], item, the event that first
    /// showed it). A flat list: most instances touch a few dozen items, and
    /// nested maps cost kilobytes per instance. The items one event adds
    /// share its evidence (saved once per item all the same).
    pub items: Vec<(u8, String, Arc<Evidence>)>,
    /// Highest risk of its findings (decides whether it is learned).
    pub max_risk: u8,
    /// Detectors that raised their one per-instance finding for it.
    pub raised: BTreeSet<DetectorId>,
}

/// Which instance-level comparisons an event may have changed the answer of.
#[derive(Debug, Clone, Copy, Default)]
pub struct Changed {
    /// Tools, transitions, trigrams.
    pub chain: bool,
    /// Services, operations, scopes, privilege classes.
    pub scope: bool,
    /// Tenants.
    pub tenant: bool,
}

impl Changed {
    /// Everything: an instance checked as a whole when it closes.
    pub fn all() -> Self {
        Self {
            chain: true,
            scope: true,
            tenant: true,
        }
    }
}

/// Evidence for one event.
pub fn evidence(e: &NormEvent) -> Evidence {
    Evidence {
        event_id: e.event_id.clone(),
        origin: e.origin.text(),
    }
}

/// The evidence of the event being folded: built when its first new item
/// needs it, then shared by every item the event adds.
struct Shown<'a> {
    event: &'a NormEvent,
    built: Option<Arc<Evidence>>,
}

impl<'a> Shown<'a> {
    fn new(event: &'a NormEvent) -> Self {
        Self { event, built: None }
    }

    fn get(&mut self) -> Arc<Evidence> {
        Arc::clone(
            self.built
                .get_or_insert_with(|| Arc::new(evidence(self.event))),
        )
    }
}

impl Instance {
    /// A new instance first seen at `t` with attribution `a`.
    pub fn new(instance: &str, a: &Attribution, t: i64) -> Self {
        Instance {
            instance: instance.to_owned(),
            root: a
                .root_instance
                .clone()
                .unwrap_or_else(|| instance.to_owned()),
            agent_id: a.agent_id.clone(),
            human: a.initiator.clone(),
            chain: a.chain.clone(),
            first_seen: t,
            last_seen: t,
            ..Instance::default()
        }
    }

    /// The logical agent it is baselined under.
    pub fn agent_key(&self) -> String {
        self.agent_id
            .clone()
            .unwrap_or_else(|| UNIDENTIFIED_AGENT.to_owned())
    }

    /// True for the root of its delegation chain.
    pub fn is_root(&self) -> bool {
        self.root == self.instance
    }

    /// Add `item` to `dimension`; true when it is new for this instance.
    /// The item is copied only when it is new.
    fn add_item(
        &mut self,
        dimension: &str,
        item: impl AsRef<str> + Into<String>,
        shown: &mut Shown<'_>,
    ) -> bool {
        let d = dim::index(dimension);
        let mut held = 0;
        for (x, name, _) in &self.items {
            if *x == d {
                if name == item.as_ref() {
                    return false;
                }
                held += 1;
            }
        }
        if held >= MAX_ITEMS {
            return false;
        }
        self.items.push((d, item.into(), shown.get()));
        true
    }

    /// Items of one dimension.
    pub fn items(&self, dimension: &str) -> impl Iterator<Item = (&String, &Evidence)> {
        let d = dim::index(dimension);
        self.items
            .iter()
            .filter(move |(x, _, _)| *x == d)
            .map(|(_, name, ev)| (name, &**ev))
    }

    /// Remember a tool call; returns the new transition and trigram.
    fn push_tool(&mut self, tool: &str) -> (Option<String>, Option<String>) {
        let transition = self
            .recent_tools
            .last()
            .map(|a| [a.as_str(), "→", tool].concat());
        let trigram = (self.recent_tools.len() == 2).then(|| {
            [
                self.recent_tools[0].as_str(),
                "→",
                &self.recent_tools[1],
                "→",
                tool,
            ]
            .concat()
        });
        self.recent_tools.push(tool.to_owned());
        if self.recent_tools.len() > 2 {
            self.recent_tools.remove(0);
        }
        (transition, trigram)
    }

    /// Fold one event into the behaviour record: time, identity filled in
    /// late, task end, and the items of every dimension it shows.
    pub fn fold(&mut self, e: &NormEvent, t: i64) -> Changed {
        let mut c = Changed::default();
        let shown = &mut Shown::new(e);
        self.last_seen = self.last_seen.max(t);
        if self.agent_id.is_none() {
            self.agent_id = e.attribution.as_ref().and_then(|a| a.agent_id.clone());
        }
        if self.human.is_none() {
            self.human = e.attribution.as_ref().and_then(|a| a.initiator.clone());
        }
        if e.category == Category::AgentInvoke {
            for l in &e.links {
                if let Link::TaskEnded { at, .. } = l {
                    self.task_end = Some(at.nanos());
                }
            }
        }
        if let Some(tool) = tool_name(e) {
            c.chain |= self.add_item(dim::TOOL, tool, shown);
            if !e.echoes_span() {
                let (transition, trigram) = self.push_tool(tool);
                for (d, item) in [(dim::TRANSITION, transition), (dim::TRIGRAM, trigram)] {
                    if let Some(item) = item {
                        c.chain |= self.add_item(d, item, shown);
                    }
                }
            }
        }
        if let Some(s) = service(e) {
            c.scope |= self.add_item(dim::SERVICE, s, shown);
        }
        if let Some(op) = api_operation(e) {
            c.scope |= self.add_item(dim::OPERATION, op, shown);
            if is_permission_change(e) {
                self.add_item(dim::PERMISSION_CHANGE, op, shown);
            }
        }
        for s in &e.scopes {
            c.scope |= self.add_item(dim::SCOPE, s.as_str(), shown);
        }
        if let Some(class) = privilege_class(e) {
            c.scope |= self.add_item(dim::PRIVILEGE, class, shown);
        }
        if let Some(x) = tenant(e) {
            c.tenant |= self.add_item(dim::TENANT, x, shown);
        }
        c
    }

    /// A sub-agent of this (root) instance started: its name joins the
    /// root's behaviour record.
    pub fn add_sub_agent(&mut self, e: &NormEvent) {
        if e.category == Category::AgentInvoke
            && let Some(name) = e.agent.name.as_ref().or(e.agent.agent_id.as_ref())
        {
            self.add_item(dim::SUB_AGENT, name.as_str(), &mut Shown::new(e));
        }
    }

    /// The behaviour part of what the baseline learns from this instance;
    /// detectors add their own measurements ([`crate::detector::Detector::learn`]).
    pub fn observation(&self) -> Observation {
        let mut obs = Observation::default();
        for d in dim::ALL {
            let set: BTreeSet<String> = self.items(d).map(|(k, _)| k.clone()).collect();
            obs.items.insert(d, set);
        }
        obs.counts.insert(
            metric::OPERATIONS,
            self.items(dim::OPERATION).count() as u64,
        );
        obs
    }
}

/// The request text and tool results of an instance are clipped to this.
pub(crate) const MAX_TEXT: usize = 16 * 1024;

/// `s` cut to at most [`MAX_TEXT`] bytes at a character boundary.
pub(crate) fn clip(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

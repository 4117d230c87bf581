//! Per-instance state: when it ran, for whom, and its delegation graph.

use delegraph_model::{Approval, Link, NormEvent, Packable, Seen};
use lru::LruCache;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use serde::{Deserialize, Serialize};

use crate::binding::Binding;

/// Most nodes one instance's graph keeps; further ones are counted, not stored.
pub const MAX_NODES_PER_INSTANCE: usize = 256;

/// What a graph node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// The human on whose behalf the instance ran.
    Human,
    /// An agent instance (root, sub-agent) or role session.
    Instance,
    /// A credential used or issued.
    Credential,
    /// A tool.
    Tool,
    /// A resource touched.
    Resource,
    /// A task envelope a human approved.
    Approval,
    /// A policy engine's decision.
    Decision,
}

/// What a graph edge says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Delegation: a human or instance handed work to an instance.
    Delegates,
    /// An instance acted with a credential.
    Uses,
    /// An instance obtained a credential.
    Issued,
    /// An instance called a tool.
    Calls,
    /// An instance or tool touched a resource.
    Touches,
    /// A human approved an envelope.
    Approves,
    /// An envelope or decision allowed an instance or a tool call.
    Authorizes,
    /// An instance asked a policy engine (allowed or denied).
    Requests,
}

/// A node of an instance graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Its id (ARN, tool name, key id, …).
    pub label: String,
}

/// An edge of an instance graph, with when it was first and last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edge {
    /// What it says.
    pub kind: EdgeKind,
    /// Event time first seen (ns).
    pub first_seen: i64,
    /// Event time last seen (ns).
    pub last_seen: i64,
    /// How many events showed it.
    pub count: u32,
}

/// One agent instance (or workload session).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// Root instance of its delegation chain.
    pub root: String,
    /// Logical agent.
    pub agent_id: Option<String>,
    /// The human it ran for.
    pub human: Option<String>,
    /// Depth below the root.
    pub depth: u32,
    /// First event time (ns).
    pub first_seen: i64,
    /// Last event time (ns).
    pub last_seen: i64,
    /// When its task ended (root `invoke_agent` span end), if known.
    pub task_end: Option<i64>,
    /// Events attributed to it.
    pub events: u64,
    /// Nodes not stored because the graph was full.
    pub dropped_nodes: u32,
    /// The delegation graph: human → instances → credentials, tools, resources.
    pub graph: StableDiGraph<Node, Edge>,
}

impl Instance {
    fn new(b: &Binding, at: i64) -> Self {
        Self {
            id: b.instance.to_string(),
            root: b.root.to_string(),
            agent_id: b.agent_id.clone(),
            human: b.human.as_deref().map(str::to_owned),
            depth: b.depth,
            first_seen: at,
            last_seen: at,
            task_end: None,
            events: 0,
            dropped_nodes: 0,
            graph: StableDiGraph::new(),
        }
    }

    /// When this instance first used or obtained credential `id` (ns):
    /// its age as rules see it when the record does not say when it was issued.
    pub fn credential_first_seen(&self, id: &str) -> Option<i64> {
        let node = self
            .graph
            .node_indices()
            .find(|i| self.graph[*i].kind == NodeKind::Credential && self.graph[*i].label == id)?;
        self.graph
            .edges_directed(node, petgraph::Direction::Incoming)
            .map(|e| petgraph::visit::EdgeRef::weight(&e).first_seen)
            .min()
    }

    fn node(&mut self, kind: NodeKind, label: &str) -> Option<NodeIndex> {
        if let Some(i) = self
            .graph
            .node_indices()
            .find(|i| self.graph[*i].kind == kind && self.graph[*i].label == label)
        {
            return Some(i);
        }
        if self.graph.node_count() >= MAX_NODES_PER_INSTANCE {
            self.dropped_nodes = self.dropped_nodes.saturating_add(1);
            return None;
        }
        Some(self.graph.add_node(Node {
            kind,
            label: label.to_owned(),
        }))
    }

    fn edge(&mut self, from: (NodeKind, &str), to: (NodeKind, &str), kind: EdgeKind, at: i64) {
        let (Some(a), Some(b)) = (self.node(from.0, from.1), self.node(to.0, to.1)) else {
            return;
        };
        if let Some(e) = self
            .graph
            .find_edge(a, b)
            .filter(|e| self.graph[*e].kind == kind)
        {
            let w = &mut self.graph[e];
            w.first_seen = w.first_seen.min(at);
            w.last_seen = w.last_seen.max(at);
            w.count = w.count.saturating_add(1);
        } else {
            self.graph.add_edge(
                a,
                b,
                Edge {
                    kind,
                    first_seen: at,
                    last_seen: at,
                    count: 1,
                },
            );
        }
    }

    fn record(&mut self, e: &NormEvent, b: &Binding, approval: Option<&Approval>) {
        let at = e.event_time.nanos();
        self.events += 1;
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        if self.human.is_none() {
            self.human = b.human.as_deref().map(str::to_owned);
        }
        // The chain, root first: human → instance → sub-agent / session.
        let human = b.human.as_deref();
        let mut prev: Option<(NodeKind, &str)> = None;
        for (i, link) in b.chain.iter().enumerate() {
            let kind = if i == 0 && human == Some(&**link) {
                NodeKind::Human
            } else {
                NodeKind::Instance
            };
            if let Some(p) = prev {
                self.edge(p, (kind, link), EdgeKind::Delegates, at);
            }
            prev = Some((kind, link));
        }
        let me = (NodeKind::Instance, &*b.instance);
        if let Some(c) = &e.credential_used {
            self.edge(me, (NodeKind::Credential, &c.id), EdgeKind::Uses, at);
        }
        if let Some(c) = &e.credential_issued {
            self.edge(me, (NodeKind::Credential, &c.id), EdgeKind::Issued, at);
        }
        if let Some(a) = approval {
            self.approval_nodes(e, a, at);
        }
        if e.is_approval_record() {
            return;
        }
        let via = match &e.tool {
            Some(t) => {
                self.edge(me, (NodeKind::Tool, &t.name), EdgeKind::Calls, at);
                (NodeKind::Tool, t.name.as_str())
            }
            None => me,
        };
        for r in &e.resources {
            self.edge(via, (NodeKind::Resource, &r.id), EdgeKind::Touches, at);
        }
        for l in &e.links {
            if let Link::TaskEnded { at, .. } = l {
                self.task_end = Some(self.task_end.map_or(at.nanos(), |t| t.max(at.nanos())));
            }
        }
    }

    /// human → envelope → instance; instance → decision it asked for;
    /// decision → the tool call (or instance) it allowed.
    fn approval_nodes(&mut self, e: &NormEvent, a: &Approval, at: i64) {
        let id = self.id.clone();
        let me = (NodeKind::Instance, id.as_str());
        if let Some(env) = &a.envelope_id {
            if let Some(h) = &a.approved_by {
                self.edge(
                    (NodeKind::Human, h),
                    (NodeKind::Approval, env),
                    EdgeKind::Approves,
                    at,
                );
            }
            self.edge((NodeKind::Approval, env), me, EdgeKind::Authorizes, at);
        }
        let Some(d) = &a.decision_id else {
            return;
        };
        if e.decision.is_some() {
            self.edge(me, (NodeKind::Decision, d), EdgeKind::Requests, at);
            return;
        }
        let to = match &e.tool {
            Some(t) => (NodeKind::Tool, t.name.as_str()),
            None => me,
        };
        self.edge((NodeKind::Decision, d), to, EdgeKind::Authorizes, at);
    }
}

/// Instance `id`, unpacked to change, listed as held if it was packed.
fn held_mut<'a>(
    live: &'a mut LruCache<String, Packable<Instance>>,
    held: &mut Vec<String>,
    id: &str,
) -> Option<&'a mut Instance> {
    let kept = live.get_mut(id)?;
    if kept.is_packed() {
        held.push(id.to_owned());
    }
    Some(kept.get_mut())
}

/// An [`InstanceTable`] as saved, borrowed: the same bytes as
/// [`SavedInstances`], oldest live instance first.
#[derive(Serialize)]
pub(crate) struct SavedInstancesRef<'a> {
    cap: usize,
    live: Vec<(&'a str, &'a Packable<Instance>)>,
    retired: &'a [Instance],
    counters: [u64; 3],
}

/// An [`InstanceTable`] as restored between runs.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedInstances {
    cap: usize,
    live: Vec<(String, Packable<Instance>)>,
    retired: Vec<Instance>,
    counters: [u64; 3],
}

/// All live instances, bounded by count (LRU) and idle time. An instance
/// without records for a whole packing round is kept packed ([`Packable`]):
/// an idle instance's graph costs its content, not its node and edge
/// vectors and label strings.
pub struct InstanceTable {
    live: LruCache<String, Packable<Instance>>,
    /// Instances held unpacked (may repeat, or name one gone), listed only
    /// when packing is on: emptied every round, so it never outgrows the
    /// instances one round's records open.
    held: Vec<String>,
    /// Event time between packing rounds (0: never pack), and the round
    /// the last record fell in.
    pack_every_ns: i64,
    round: i64,
    retired: Vec<Instance>,
    /// Evicted instances dropped because nobody drained `retired` in time.
    retired_dropped: u64,
    evicted_by_cap: u64,
    evicted_idle: u64,
}

impl InstanceTable {
    pub(crate) fn new(max: usize, pack_every_ns: i64) -> Self {
        Self {
            live: delegraph_model::new_lru(max),
            held: Vec::new(),
            pack_every_ns,
            round: i64::MIN,
            retired: Vec::new(),
            retired_dropped: 0,
            evicted_by_cap: 0,
            evicted_idle: 0,
        }
    }

    /// Borrowed, not cloned: a copy of every live instance's graph cost
    /// about as much as writing it.
    pub(crate) fn save(&self) -> SavedInstancesRef<'_> {
        SavedInstancesRef {
            cap: self.live.cap().get(),
            live: delegraph_model::lru_entries(&self.live),
            retired: &self.retired,
            counters: [self.retired_dropped, self.evicted_by_cap, self.evicted_idle],
        }
    }

    pub(crate) fn load(s: SavedInstances, pack_every_ns: i64) -> Self {
        Self {
            live: delegraph_model::load_lru(s.cap, s.live),
            held: Vec::new(),
            pack_every_ns,
            round: i64::MIN,
            retired: s.retired,
            retired_dropped: s.counters[0],
            evicted_by_cap: s.counters[1],
            evicted_idle: s.counters[2],
        }
    }

    pub(crate) fn record(&mut self, e: &NormEvent, b: &Binding, approval: Option<&Approval>) {
        let at = e.event_time.nanos();
        self.maybe_pack(at);
        if !self.live.contains(&*b.instance) {
            let new = Packable::new(Instance::new(b, at));
            if self.pack_every_ns > 0 {
                self.held.push(b.instance.to_string());
            }
            if let Some((gone, old)) = self.live.push(b.instance.to_string(), new)
                && *gone != *b.instance
            {
                self.evicted_by_cap += 1;
                self.retire(old.into_inner());
            }
        }
        if let Some(i) = held_mut(&mut self.live, &mut self.held, &b.instance) {
            i.record(e, b, approval);
        }
        // A sub-agent also shows in its parent's graph.
        if let [.., parent, child] = b.chain.as_slice()
            && *child == b.instance
            && let Some(p) = held_mut(&mut self.live, &mut self.held, parent)
        {
            let from = (NodeKind::Instance, &**parent);
            p.edge(
                from,
                (NodeKind::Instance, &**child),
                EdgeKind::Delegates,
                at,
            );
        }
    }

    pub(crate) fn evict_idle(&mut self, horizon: i64) {
        while let Some((_, i)) = self.live.peek_lru() {
            let seen = i.peek();
            if seen.last_seen >= horizon {
                break;
            }
            // A packed instance was just unpacked to be looked at: retired
            // as it is, not unpacked a second time.
            let unpacked = match seen {
                Seen::Unpacked(instance) => Some(instance),
                Seen::Held(_) => None,
            };
            if let Some((_, i)) = self.live.pop_lru() {
                self.evicted_idle += 1;
                self.retire(unpacked.unwrap_or_else(|| i.into_inner()));
            }
        }
    }

    /// At the first record of a new round of event time, pack every
    /// instance without records since the last round.
    fn maybe_pack(&mut self, at: i64) {
        if self.pack_every_ns <= 0 {
            return;
        }
        let round = at.div_euclid(self.pack_every_ns);
        if round > self.round {
            self.round = round;
            self.pack_idle();
        }
    }

    /// Pack every instance without records for long enough
    /// ([`delegraph_model::rounds_before_packing`]).
    fn pack_idle(&mut self) {
        let mut held = std::mem::take(&mut self.held);
        held.sort_unstable();
        held.dedup();
        let after = delegraph_model::rounds_before_packing(held.len());
        for id in held {
            if self
                .live
                .peek_mut(&id)
                .is_some_and(|kept| kept.pack_if_unused(after))
            {
                self.held.push(id);
            }
        }
    }

    /// Keep an evicted instance for writing out; the list is bounded like
    /// the live table, so a caller that never drains cannot grow memory.
    fn retire(&mut self, i: Instance) {
        if self.retired.len() >= self.live.cap().get() {
            self.retired_dropped += 1;
            return;
        }
        self.retired.push(i);
    }

    /// Evicted instances that were dropped unwritten (the caller did not
    /// drain in time).
    pub fn retired_dropped(&self) -> u64 {
        self.retired_dropped
    }

    /// Instances evicted since the last call, to be written out.
    pub fn drain_retired(&mut self) -> Vec<Instance> {
        std::mem::take(&mut self.retired)
    }

    /// Every live instance, in no particular order (packed ones decoded).
    pub fn live(&self) -> impl Iterator<Item = Seen<'_, Instance>> {
        self.live.iter().map(|(_, i)| i.peek())
    }

    /// One live instance by id.
    pub fn get(&self, id: &str) -> Option<Seen<'_, Instance>> {
        Some(self.live.peek(id)?.peek())
    }

    /// Live instances kept packed (counts them all: for tests and rare
    /// reports, not per event).
    pub fn packed_len(&self) -> usize {
        self.live.iter().filter(|(_, i)| i.is_packed()).count()
    }

    /// Live instances.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no instance is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub(crate) fn evicted_by_cap(&self) -> u64 {
        self.evicted_by_cap
    }

    pub(crate) fn evicted_idle(&self) -> u64 {
        self.evicted_idle
    }
}

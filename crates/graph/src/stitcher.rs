//! Resolving every event to an agent instance and its human, across sources.
//!
//! The stitcher keeps three indexes, each a bounded LRU: credential id →
//! binding (AWS keys issued by `AssumeRole*`, tokens seen on tool calls),
//! span (`trace:span`) → binding, and session keys (explicit instance ids,
//! conversations, MCP sessions, agent principals) → binding. A binding says
//! which instance a key belongs to, its root instance, logical agent, human
//! and delegation chain. Events are expected in event-time order (see
//! [`crate::ReorderBuffer`]), so issuances and parent spans come first.

use std::sync::Arc;

use delegraph_model::{ActorKind, Approval, Attribution, Category, Link, NormEvent, Source};
use lru::LruCache;
use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalBook, ApprovalLimits, SavedApprovals};
use crate::bounded::new_lru;
use crate::instance::InstanceTable;
use crate::{Inventory, StitchConfig};

/// What a key resolves to. Shared (`Arc`) between the keys of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Binding {
    pub instance: String,
    pub root: String,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub human: Option<String>,
    pub chain: Vec<String>,
    pub depth: u32,
    /// A long-lived session whose start was not seen (an agent runtime or
    /// platform): roles it assumes start new instances rather than extend
    /// its own chain.
    pub spawns: bool,
    /// One binding for every event of a principal that names no instance
    /// (an Okta agent identity): the human each record names wins.
    pub per_principal: bool,
}

enum Resolved {
    Instance(Arc<Binding>, String),
    Human(String, String),
    Unattributed(String),
}

/// Counters for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StitchStats {
    /// Events attributed to an instance.
    pub attributed: u64,
    /// Events attributed to a human acting directly.
    pub human_direct: u64,
    /// Events left unattributed.
    pub unattributed: u64,
    /// Index entries evicted because the LRU caps were reached.
    pub evicted_by_cap: u64,
    /// Index entries evicted because they were idle past the TTL.
    pub evicted_idle: u64,
}

/// Cross-source identity resolution with bounded state.
pub struct Stitcher {
    cfg: StitchConfig,
    creds: LruCache<String, Arc<Binding>>,
    spans: LruCache<String, Arc<Binding>>,
    sessions: LruCache<String, Arc<Binding>>,
    /// Event time each session key was last touched, for idle eviction.
    touched: LruCache<String, i64>,
    instances: InstanceTable,
    stats: StitchStats,
    since_sweep: u32,
    inventory: Inventory,
    approvals: ApprovalBook,
}

type Entries = Vec<(String, Binding)>;

/// Everything a stitcher knows, as saved between runs (bindings by value:
/// keys that shared one binding get equal copies).
#[derive(Serialize, Deserialize)]
struct Saved {
    creds: Entries,
    spans: Entries,
    sessions: Entries,
    touched: Vec<(String, i64)>,
    instances: crate::instance::SavedInstances,
    stats: StitchStats,
    since_sweep: u32,
    approvals: SavedApprovals,
}

fn save_bindings(c: &LruCache<String, Arc<Binding>>) -> Entries {
    crate::save_lru(c)
        .into_iter()
        .map(|(k, b)| (k, (*b).clone()))
        .collect()
}

fn load_bindings(cap: usize, e: Entries) -> LruCache<String, Arc<Binding>> {
    crate::load_lru(cap, e.into_iter().map(|(k, b)| (k, Arc::new(b))).collect())
}

/// Saved state that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("stitcher state: {0}")]
pub struct StateError(String);

fn approval_limits(cfg: &StitchConfig) -> ApprovalLimits {
    ApprovalLimits {
        window_ns: cfg.decision_window_ns,
        lookback_ns: cfg.approval_lookback_ns,
        max_instances: cfg.max_instances,
        max_decisions: cfg.max_credentials,
    }
}

/// The chain with the approval between the human and the instance:
/// human → approver (when another person) → envelope → decision → instances.
fn chain_with_approval(chain: Vec<String>, human: Option<&str>, a: &Approval) -> Vec<String> {
    let split = usize::from(human.is_some() && chain.first().map(String::as_str) == human);
    let mut out = Vec::with_capacity(chain.len() + 3);
    let mut rest = chain.into_iter();
    out.extend(rest.by_ref().take(split));
    if let Some(by) = &a.approved_by
        && Some(by.as_str()) != human
    {
        out.push(by.clone());
    }
    if let Some(env) = &a.envelope_id {
        out.push(format!("envelope:{env}"));
    }
    if let Some(d) = &a.decision_id {
        out.push(format!("decision:{d}"));
    }
    out.extend(rest);
    out
}

impl Stitcher {
    /// A stitcher with the given limits.
    pub fn new(cfg: StitchConfig) -> Self {
        Self {
            creds: new_lru(cfg.max_credentials),
            spans: new_lru(cfg.max_spans),
            sessions: new_lru(cfg.max_sessions),
            touched: new_lru(cfg.max_sessions),
            instances: InstanceTable::new(cfg.max_instances),
            stats: StitchStats::default(),
            since_sweep: 0,
            inventory: Inventory::default(),
            approvals: ApprovalBook::new(approval_limits(&cfg)),
            cfg,
        }
    }

    /// Everything needed to continue exactly where this left off: bindings,
    /// live instances and their graphs, counters (compact binary, exact).
    pub fn save(&self) -> Result<Vec<u8>, StateError> {
        let saved = Saved {
            creds: save_bindings(&self.creds),
            spans: save_bindings(&self.spans),
            sessions: save_bindings(&self.sessions),
            touched: crate::save_lru(&self.touched),
            instances: self.instances.save(),
            stats: self.stats,
            since_sweep: self.since_sweep,
            approvals: self.approvals.save(),
        };
        postcard::to_stdvec(&saved).map_err(|e| StateError(e.to_string()))
    }

    /// A stitcher continuing from [`Stitcher::save`]'s output.
    pub fn restore(cfg: StitchConfig, saved: &[u8]) -> Result<Self, StateError> {
        let s: Saved = postcard::from_bytes(saved).map_err(|e| StateError(e.to_string()))?;
        let mut st = Self::new(cfg);
        st.creds = load_bindings(cfg.max_credentials, s.creds);
        st.spans = load_bindings(cfg.max_spans, s.spans);
        st.sessions = load_bindings(cfg.max_sessions, s.sessions);
        st.touched = crate::load_lru(cfg.max_sessions, s.touched);
        st.instances = InstanceTable::load(s.instances);
        st.stats = s.stats;
        st.since_sweep = s.since_sweep;
        st.approvals = ApprovalBook::load(approval_limits(&cfg), s.approvals);
        Ok(st)
    }

    /// Counters so far (eviction counts include the instance table's).
    pub fn stats(&self) -> StitchStats {
        let mut s = self.stats;
        s.evicted_by_cap += self.instances.evicted_by_cap();
        s.evicted_idle += self.instances.evicted_idle();
        s
    }

    /// The per-instance state (graphs, first/last seen, …).
    pub fn instances(&self) -> &InstanceTable {
        &self.instances
    }

    /// Instances evicted since the last call, to be written out.
    pub fn drain_retired(&mut self) -> Vec<crate::Instance> {
        self.instances.drain_retired()
    }

    /// Entries held across all indexes (for memory tests).
    pub fn entries(&self) -> usize {
        self.creds.len() + self.spans.len() + self.sessions.len() + self.instances.len()
    }

    /// Use the SOC's agent inventory to classify identities.
    pub fn set_inventory(&mut self, inventory: Inventory) {
        self.inventory = inventory;
    }

    /// Attribute `e` (sets `e.attribution`) and record it in its instance.
    pub fn attribute(&mut self, e: &mut NormEvent) {
        self.inventory.apply(e);
        let resolved = match e.source {
            _ if e.is_approval_record() => self.approval_record(e),
            Source::Cloudtrail => self.aws(e),
            Source::Otlp => self.otel(e),
            Source::Mcp => self.mcp(e),
            Source::Github | Source::Okta | Source::Entra | Source::GoogleWorkspace => {
                self.principal(e)
            }
            Source::Opa | Source::TaskEnvelope => self.approval_record(e),
        };
        let attribution = match resolved {
            Resolved::Instance(b, basis) => {
                self.stats.attributed += 1;
                self.bind_credentials(e, &b);
                if e.is_approval_record() {
                    self.approvals.note(e, &b.instance);
                }
                let mut lineage: Vec<&str> = vec![b.instance.as_str()];
                lineage.extend(b.chain.iter().rev().map(String::as_str));
                lineage.push(b.root.as_str());
                let approval = self.approvals.resolve(e, &lineage);
                self.instances.record(e, &b, approval.as_ref());
                // On a binding shared by a whole principal, the human the
                // record itself names is the one.
                let (initiator, chain) = match &e.on_behalf_of {
                    Some(h)
                        if (b.per_principal || b.human.is_none())
                            && b.human.as_ref() != Some(h) =>
                    {
                        let skip = usize::from(b.human.is_some());
                        let mut chain = vec![h.clone()];
                        chain.extend(b.chain.iter().skip(skip).cloned());
                        (Some(h.clone()), chain)
                    }
                    _ => (b.human.clone(), b.chain.clone()),
                };
                let chain = match &approval {
                    Some(a) => chain_with_approval(chain, initiator.as_deref(), a),
                    None => chain,
                };
                Attribution {
                    agent_id: b.agent_id.clone(),
                    instance: Some(b.instance.clone()),
                    root_instance: Some(b.root.clone()),
                    initiator,
                    chain,
                    depth: b.depth,
                    basis,
                    approval,
                }
            }
            Resolved::Human(human, basis) => {
                self.stats.human_direct += 1;
                Attribution {
                    initiator: Some(human.clone()),
                    chain: vec![human],
                    basis,
                    ..Attribution::default()
                }
            }
            Resolved::Unattributed(reason) => {
                self.stats.unattributed += 1;
                Attribution {
                    initiator: e.on_behalf_of.clone(),
                    basis: format!("unattributed: {reason}"),
                    ..Attribution::default()
                }
            }
        };
        e.attribution = Some(attribution);
        self.maybe_sweep(e.event_time.nanos());
    }

    fn put<V>(cache: &mut LruCache<String, V>, stats: &mut StitchStats, k: String, v: V) {
        if cache.len() == cache.cap().get() && !cache.contains(&k) {
            stats.evicted_by_cap += 1;
        }
        cache.put(k, v);
    }

    fn session(&mut self, key: &str, at: i64) -> Option<Arc<Binding>> {
        let b = self.sessions.get(key).cloned();
        if b.is_some() {
            self.touched.put(key.to_owned(), at);
        }
        b
    }

    fn set_session(&mut self, key: String, b: Arc<Binding>, at: i64) {
        self.touched.put(key.clone(), at);
        Self::put(&mut self.sessions, &mut self.stats, key, b);
    }

    /// Drop session keys idle for longer than the TTL (in event time).
    fn maybe_sweep(&mut self, now: i64) {
        self.since_sweep += 1;
        if self.since_sweep < 1024 {
            return;
        }
        self.since_sweep = 0;
        let horizon = now.saturating_sub(self.cfg.idle_ttl_ns);
        while let Some((_, t)) = self.touched.peek_lru() {
            if *t >= horizon {
                break;
            }
            if let Some((k, _)) = self.touched.pop_lru() {
                self.sessions.pop(&k);
                self.stats.evicted_idle += 1;
            }
        }
        self.instances.evict_idle(horizon);
    }

    /// A new root instance, or the existing one with that id.
    fn root_instance(
        &mut self,
        id: String,
        e: &NormEvent,
        human: Option<String>,
        at: i64,
    ) -> Arc<Binding> {
        let key = format!("instance:{id}");
        if let Some(b) = self.session(&key, at) {
            return b;
        }
        let mut chain = Vec::with_capacity(2);
        chain.extend(human.clone());
        chain.push(id.clone());
        let b = Arc::new(Binding {
            root: id.clone(),
            instance: id,
            agent_id: e.agent.agent_id.clone(),
            agent_name: e.agent.name.clone(),
            human,
            chain,
            depth: 0,
            spawns: false,
            per_principal: false,
        });
        self.set_session(key, b.clone(), at);
        b
    }

    /// A policy decision or envelope event names its agent instance: it
    /// joins that instance, or starts it (approval comes before the work).
    /// A Verified Permissions call naming no agent is its caller's call.
    fn approval_record(&mut self, e: &NormEvent) -> Resolved {
        let at = e.event_time.nanos();
        let Some(id) = e.agent.instance_id.clone() else {
            return match e.source {
                Source::Cloudtrail => self.aws(e),
                _ => Resolved::Unattributed("the record names no agent instance".into()),
            };
        };
        let human = e
            .envelope
            .as_ref()
            .and_then(|x| x.envelope.approved_by.clone())
            .or_else(|| e.on_behalf_of.clone());
        let b = self.root_instance(id, e, human, at);
        let basis = if e.envelope.is_some() {
            "instance named by the task envelope"
        } else {
            "instance named by the policy decision"
        };
        Resolved::Instance(b, basis.into())
    }

    /// CloudTrail: by the access key used, then by role session.
    fn aws(&mut self, e: &NormEvent) -> Resolved {
        let at = e.event_time.nanos();
        let used = e.credential_used.as_ref().map(|c| c.id.clone());
        let resolved = if let Some(b) = used.as_ref().and_then(|k| self.creds.get(k).cloned()) {
            Resolved::Instance(
                b,
                format!(
                    "credential {} issued earlier",
                    used.as_deref().unwrap_or("")
                ),
            )
        } else if e.actor.vendor_type.as_deref() == Some("AssumedRole") {
            // A role session whose issuance was not seen: the session is the
            // instance, unless telemetry already named an instance so.
            let name = e
                .trace
                .session_id
                .clone()
                .unwrap_or_else(|| e.actor.id.clone());
            let b = match self.session(&format!("instance:{name}"), at) {
                Some(b) => b,
                None => {
                    let human = e.on_behalf_of.clone();
                    let mut b = (*self.root_instance(e.actor.id.clone(), e, human, at)).clone();
                    b.agent_id = b.agent_id.or_else(|| e.delegation_chain.first().cloned());
                    b.spawns = true;
                    let b = Arc::new(b);
                    self.set_session(format!("instance:{}", e.actor.id), b.clone(), at);
                    b
                }
            };
            Resolved::Instance(b, "role session".into())
        } else if e.actor_kind == ActorKind::Human {
            Resolved::Human(
                e.actor.id.clone(),
                format!("human principal acting directly ({})", e.actor_kind_basis),
            )
        } else {
            Resolved::Unattributed(format!(
                "no issuance seen for {}",
                used.as_deref().unwrap_or("its credential")
            ))
        };
        if e.category == Category::CredentialIssue {
            let child = self.aws_issue(e, &resolved, at);
            // A web identity (OIDC workload token) exchanging for a session:
            // the exchange is the first act of the session it starts.
            if let (Resolved::Unattributed(_), Some(child)) = (&resolved, child) {
                return Resolved::Instance(
                    child,
                    "token exchange that started this session".into(),
                );
            }
        }
        resolved
    }

    /// Bind a credential `AssumeRole*` issued: role chaining keeps the
    /// caller's instance; a human's (or unknown) call starts a new instance.
    fn aws_issue(&mut self, e: &NormEvent, caller: &Resolved, at: i64) -> Option<Arc<Binding>> {
        let issued = e.credential_issued.as_ref()?;
        let to = e.links.iter().find_map(|l| match l {
            Link::IssuedCredential { to, .. }
                if to.starts_with("arn:") && to.contains(":assumed-role/") =>
            {
                Some(to.clone())
            }
            _ => None,
        })?;
        let child = match caller {
            Resolved::Instance(p, _) if p.spawns => {
                let human = e.on_behalf_of.clone().or_else(|| p.human.clone());
                self.session_instance(&to, e, human, at)
            }
            Resolved::Instance(p, _) => {
                let mut chain = p.chain.clone();
                chain.push(to.clone());
                Arc::new(Binding {
                    human: e.on_behalf_of.clone().or_else(|| p.human.clone()),
                    chain,
                    depth: p.depth + 1,
                    ..(**p).clone()
                })
            }
            Resolved::Human(h, _) => {
                let human = e.on_behalf_of.clone().or_else(|| Some(h.clone()));
                self.session_instance(&to, e, human, at)
            }
            Resolved::Unattributed(_) => self.session_instance(&to, e, e.on_behalf_of.clone(), at),
        };
        Self::put(
            &mut self.creds,
            &mut self.stats,
            issued.id.clone(),
            child.clone(),
        );
        Some(child)
    }

    /// The instance a new role session starts: an instance telemetry already
    /// named like the session, else the session itself.
    fn session_instance(
        &mut self,
        session_arn: &str,
        e: &NormEvent,
        human: Option<String>,
        at: i64,
    ) -> Arc<Binding> {
        let name = session_arn.rsplit('/').next().unwrap_or(session_arn);
        if let Some(b) = self.session(&format!("instance:{name}"), at) {
            return b;
        }
        let role = role_arn(session_arn);
        let mut b = (*self.root_instance(session_arn.to_owned(), e, human, at)).clone();
        b.agent_id = role;
        b.spawns = false;
        b.agent_name = Some(name.to_owned());
        let b = Arc::new(b);
        self.set_session(format!("instance:{session_arn}"), b.clone(), at);
        b
    }

    /// OTel spans: a root `invoke_agent` starts an instance, nested ones are
    /// sub-agents, every other span belongs to its parent's instance.
    fn otel(&mut self, e: &NormEvent) -> Resolved {
        let at = e.event_time.nanos();
        let (Some(trace), Some(span)) = (e.trace.trace_id.as_deref(), e.trace.span_id.as_deref())
        else {
            return Resolved::Unattributed("span without trace or span id".into());
        };
        let parent = e
            .trace
            .parent_span_id
            .as_deref()
            .and_then(|p| self.spans.get(&format!("{trace}:{p}")).cloned());
        let is_agent = e.category == Category::AgentInvoke;
        let own_id = || {
            e.agent
                .instance_id
                .clone()
                .unwrap_or_else(|| format!("{trace}:{span}"))
        };
        let (b, basis) = match (is_agent, parent) {
            (true, Some(p)) if p.agent_name.is_some() && p.agent_name == e.agent.name => {
                // The callee's side of a remote call to the same agent.
                (p, "parent invoke_agent span of the same agent".to_owned())
            }
            (true, Some(p)) => {
                let id = own_id();
                let mut chain = p.chain.clone();
                chain.push(id.clone());
                let b = Arc::new(Binding {
                    instance: id.clone(),
                    root: p.root.clone(),
                    agent_id: e.agent.agent_id.clone(),
                    agent_name: e.agent.name.clone(),
                    human: e.on_behalf_of.clone().or_else(|| p.human.clone()),
                    chain,
                    depth: p.depth + 1,
                    spawns: false,
                    per_principal: false,
                });
                self.set_session(format!("instance:{id}"), b.clone(), at);
                (b, format!("sub-agent of {}", p.instance))
            }
            (true, None) => {
                let b = self.root_instance(own_id(), e, e.on_behalf_of.clone(), at);
                if let Some(c) = &e.trace.conversation_id {
                    self.set_session(format!("conversation:{c}"), b.clone(), at);
                }
                (b, "root invoke_agent span".to_owned())
            }
            (false, Some(p)) => (p, "parent span".to_owned()),
            (false, None) => {
                let conv = e
                    .trace
                    .conversation_id
                    .as_deref()
                    .map(|c| format!("conversation:{c}"));
                match conv.and_then(|c| self.session(&c, at)) {
                    Some(b) => (b, "conversation id".to_owned()),
                    None => {
                        return Resolved::Unattributed(match &e.trace.parent_span_id {
                            Some(p) => {
                                format!("parent span {p} not seen within the allowed lateness")
                            }
                            None => "root span that is not an agent invocation".into(),
                        });
                    }
                }
            }
        };
        Self::put(
            &mut self.spans,
            &mut self.stats,
            format!("{trace}:{span}"),
            b.clone(),
        );
        Resolved::Instance(b, basis)
    }

    /// MCP gateway: the trace context joins it to an OTel instance; else the
    /// client's instance id, else the MCP session.
    fn mcp(&mut self, e: &NormEvent) -> Resolved {
        let at = e.event_time.nanos();
        let session = e.trace.session_id.clone().unwrap_or_default();
        let skey = format!("mcp:{session}");
        if let (Some(t), Some(p)) = (&e.trace.trace_id, &e.trace.parent_span_id)
            && let Some(b) = self.spans.get(&format!("{t}:{p}")).cloned()
        {
            // The rest of this MCP session belongs to the same instance.
            self.set_session(skey, b.clone(), at);
            return Resolved::Instance(b, "traceparent of the calling span".into());
        }
        if let Some(b) = self.session(&skey, at) {
            return Resolved::Instance(b, "MCP session".into());
        }
        let id = e
            .agent
            .instance_id
            .clone()
            .unwrap_or_else(|| format!("mcp:{session}"));
        let b = self.root_instance(id, e, e.on_behalf_of.clone(), at);
        self.set_session(skey, b.clone(), at);
        Resolved::Instance(b, "MCP client instance".into())
    }

    /// IdP and SaaS logs: agents by their session or identity; humans act
    /// directly; other non-human principals are their own workload instance.
    fn principal(&mut self, e: &NormEvent) -> Resolved {
        let at = e.event_time.nanos();
        if let Some(b) = e
            .credential_used
            .as_ref()
            .and_then(|c| self.creds.get(&c.id).cloned())
        {
            return Resolved::Instance(b, "credential seen earlier".into());
        }
        match e.actor_kind {
            ActorKind::Human => Resolved::Human(
                e.actor.id.clone(),
                format!("human principal ({})", e.actor_kind_basis),
            ),
            _ => {
                let (id, shared) = match &e.agent.instance_id {
                    Some(id) => (id.clone(), false),
                    None => (format!("{}:{}", e.source.as_str(), e.actor.id), true),
                };
                let mut b = self.root_instance(id.clone(), e, e.on_behalf_of.clone(), at);
                if shared && !b.per_principal {
                    let mut x = (*b).clone();
                    x.per_principal = true;
                    b = Arc::new(x);
                    self.set_session(format!("instance:{id}"), b.clone(), at);
                }
                let basis = match e.actor_kind {
                    ActorKind::Agent | ActorKind::SubAgent => "agent identity",
                    _ => "non-human principal",
                };
                Resolved::Instance(b, basis.into())
            }
        }
    }

    /// Credentials a tool call or agent event carries join later IAM
    /// records to its instance.
    fn bind_credentials(&mut self, e: &NormEvent, b: &Arc<Binding>) {
        if e.source == Source::Cloudtrail {
            return; // AWS keys are bound at issuance only.
        }
        for c in [e.credential_used.as_ref(), e.credential_issued.as_ref()]
            .into_iter()
            .flatten()
        {
            if !self.creds.contains(&c.id) {
                Self::put(&mut self.creds, &mut self.stats, c.id.clone(), b.clone());
            }
        }
    }
}

/// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` → `arn:aws:iam::ACCT:role/ROLE`.
fn role_arn(session_arn: &str) -> Option<String> {
    let rest = session_arn.strip_prefix("arn:aws:sts::")?;
    let (account, path) = rest.split_once(":assumed-role/")?;
    let role = path.split('/').next()?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

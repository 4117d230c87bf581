//! The detector engine: per-instance profiles, per-agent baselines, the
//! detectors, dedup and risk, with all state bounded and saveable.

use std::collections::{BTreeMap, BTreeSet};

use delegraph_model::{Approval, Attribution, Category, Finding, Link, NormEvent};
use serde::{Deserialize, Serialize};

use crate::baseline::AgentBaseline;
use crate::coincidence::{Coincidences, MIN_MATCHES, Match};
use crate::config::secs_to_ns;
use crate::detectors::{self, CredentialUse, Ctx, Signal};
use crate::features::{
    api_operation, dim, flag, is_action, is_permission_change, metric, privilege_class,
    secrets_read, service, tenant, tool_name, uses_static_key,
};
use crate::profile::{Denial, Profile, evidence};
use crate::risk::RiskBook;
use crate::{DetectConfig, DetectError};
use delegraph_graph::Bounded;

/// Most credentials whose first user is remembered.
const MAX_CREDENTIALS: usize = 500_000;
/// Most closed instances remembered (for late events).
const MAX_CLOSED: usize = 200_000;
/// Most finding ids remembered for dedup.
const MAX_EMITTED: usize = 500_000;
/// Most credentials remembered per instance.
const MAX_CREDENTIALS_PER_INSTANCE: usize = 64;
/// Most agents with a baseline.
const MAX_AGENTS: usize = 10_000;

/// Counters for summaries and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectStats {
    /// Findings raised, by detector.
    pub findings: BTreeMap<String, u64>,
    /// Findings suppressed as duplicates within the dedup window.
    pub duplicates: u64,
    /// Instances learned into baselines.
    pub learned: u64,
    /// Instances not learned because their own findings were too risky.
    pub quarantined: u64,
    /// Open profiles dropped for capacity before they closed.
    pub evicted_open: u64,
}

/// An instance whose profile closed: what late events still need.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Closed {
    task_end: Option<i64>,
    agent_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct State {
    baselines: BTreeMap<String, AgentBaseline>,
    open: Bounded<Profile>,
    /// (deadline, instance): when each open profile closes.
    deadlines: BTreeSet<(i64, String)>,
    deadline_of: BTreeMap<String, i64>,
    closed: Bounded<Closed>,
    /// Per agent, closed instances held until the baseline can be seeded.
    warming: BTreeMap<String, Vec<Profile>>,
    credentials: Bounded<CredentialUse>,
    coincidences: Coincidences,
    emitted: Bounded<i64>,
    risk: RiskBook,
    watermark: i64,
    stats: DetectStats,
}

/// Runs every detector over attributed events, in event-time order.
pub struct Detectors {
    cfg: DetectConfig,
    s: State,
}

/// Which instance-level detectors an event may have changed the answer of.
#[derive(Default)]
struct Changed {
    chain: bool,
    scope: bool,
    tenant: bool,
    secrets: bool,
}

impl Changed {
    fn all() -> Self {
        Self {
            chain: true,
            scope: true,
            tenant: true,
            secrets: true,
        }
    }
}

/// The instance-level detectors whose inputs changed and that have not
/// raised for this instance yet.
fn instance_signals(ctx: &Ctx<'_>, changed: &Changed) -> Vec<Signal> {
    let fresh = |d: &str| !ctx.profile.raised.contains(d);
    let mut v = Vec::new();
    if changed.chain && fresh("tool_chain") {
        v.extend(detectors::tool_chain(ctx));
    }
    if changed.scope && fresh("scope_growth") {
        v.extend(detectors::scope_growth(ctx));
    }
    if changed.tenant && fresh("cross_environment") {
        v.extend(detectors::cross_environment(ctx));
    }
    if changed.secrets && fresh("secret_access") {
        v.extend(detectors::secret_access(ctx));
    }
    v
}

impl Detectors {
    /// Fresh state.
    pub fn new(cfg: DetectConfig) -> Self {
        let s = State {
            baselines: BTreeMap::new(),
            open: Bounded::new(cfg.max_open_instances),
            deadlines: BTreeSet::new(),
            deadline_of: BTreeMap::new(),
            closed: Bounded::new(MAX_CLOSED),
            warming: BTreeMap::new(),
            credentials: Bounded::new(MAX_CREDENTIALS),
            coincidences: Coincidences::new(),
            emitted: Bounded::new(MAX_EMITTED),
            risk: RiskBook::new(cfg.risk_half_life_secs),
            watermark: i64::MIN,
            stats: DetectStats::default(),
        };
        Self { cfg, s }
    }

    /// State saved by [`Detectors::save`], with (possibly new) settings.
    pub fn restore(cfg: DetectConfig, saved: &[u8]) -> Result<Self, DetectError> {
        let s: State =
            postcard::from_bytes(saved).map_err(|e| DetectError::State(e.to_string()))?;
        Ok(Self { cfg, s })
    }

    /// Everything needed to continue exactly where this left off.
    pub fn save(&self) -> Result<Vec<u8>, DetectError> {
        postcard::to_stdvec(&self.s).map_err(|e| DetectError::State(e.to_string()))
    }

    /// Counters so far.
    pub fn stats(&self) -> DetectStats {
        let mut st = self.s.stats.clone();
        st.evicted_open = self.s.open.evicted();
        st
    }

    /// Open profiles and known agents (state sizes for metrics).
    pub fn sizes(&self) -> (usize, usize) {
        (self.s.open.len(), self.s.baselines.len())
    }

    /// Instances learned for `agent` so far.
    pub fn history(&self, agent: &str) -> u64 {
        self.s.baselines.get(agent).map_or(0, |b| b.learned)
    }

    /// Look at one attributed event; findings go to `out`.
    pub fn observe(&mut self, e: &NormEvent, out: &mut Vec<Finding>) {
        let t = e.event_time.nanos();
        if t > self.s.watermark {
            self.s.watermark = t;
            self.close_due(out);
        }
        if let Some(c) = &e.credential_issued {
            let expires = c.expires_at.map(|x| x.nanos());
            match self.s.credentials.get_mut(&c.id) {
                Some(u) => u.expires_at = u.expires_at.or(expires),
                None => self.s.credentials.put(
                    c.id.clone(),
                    CredentialUse {
                        owner: String::new(),
                        first: evidence(e),
                        expires_at: expires,
                        program_client: false,
                        human_client: false,
                    },
                ),
            }
        }
        let Some(a) = e.attribution.as_ref() else {
            return;
        };
        let Some(instance) = a.instance.clone() else {
            if let (Some(h), Some(c)) = (&a.initiator, &e.credential_used) {
                self.human_use(h, &c.id, e, out);
            }
            return;
        };
        let agent = a
            .agent_id
            .clone()
            .unwrap_or_else(|| "unidentified-agent".to_owned());
        let closed = self.s.closed.peek(&instance).cloned();
        let mut p = match &closed {
            Some(c) => Profile {
                task_end: c.task_end,
                agent_id: c.agent_id.clone(),
                ..new_profile(&instance, a, t)
            },
            None => self
                .s
                .open
                .pop(&instance)
                .unwrap_or_else(|| new_profile(&instance, a, t)),
        };
        if e.is_approval_record() {
            self.approval_record(p, &agent, a, e, closed.is_none(), out);
            return;
        }
        let changed = update(&mut p, e, t);
        let owner = e
            .credential_used
            .as_ref()
            .and_then(|c| self.owner_of(&c.id, &p.root, e).map(|o| (c.id.clone(), o)));
        let switched = e
            .credential_used
            .as_ref()
            .is_some_and(|c| self.note_client(&c.id, e));
        let mut signals = Vec::new();
        let mut after_end = false;
        {
            let ctx = Ctx {
                cfg: &self.cfg,
                event: Some(e),
                profile: &p,
                baseline: self.s.baselines.get(&agent),
                agent: &agent,
            };
            if closed.is_none() {
                signals.extend(instance_signals(&ctx, &changed));
            }
            signals.extend(detectors::privilege_escalation(&ctx));
            let expires = e
                .credential_used
                .as_ref()
                .and_then(|c| self.s.credentials.peek(&c.id))
                .and_then(|u| u.expires_at);
            if let Some(sig) = detectors::credential_lifetime(&ctx, expires) {
                after_end = sig.subject.starts_with("after_end:");
                signals.push(sig);
            }
            if let Some((cred, owner)) = &owner {
                signals.extend(detectors::shared_identity(&ctx, cred, owner, &p.root));
            }
            if switched && let Some(c) = &e.credential_used {
                signals.extend(detectors::client_switch(&ctx, &c.id));
            }
            signals.extend(detectors::data_flow(&ctx));
            signals.extend(detectors::envelope(&ctx));
            signals.extend(detectors::drift(&ctx));
            if !p.raised.contains("unapproved") {
                signals.extend(detectors::unapproved(&ctx));
            }
        }
        if after_end {
            p.flags.insert(flag::AFTER_TASK_END.to_owned());
        }
        if let Some(tool) = &e.tool
            && let Some(result) = tool.result.as_deref()
            && !e.echoes_span()
        {
            p.add_result(&tool.name, result, e);
        }
        for sig in signals {
            self.emit(sig, &mut p, &agent, Some(a), Some(e), out);
        }
        // Uses inside the grace period are not findings by themselves, but
        // matched against another instance's tool calls they are evidence.
        let past_end = after_end || p.task_end.is_some_and(|end| t > end);
        self.coincide(&mut p, &agent, a, e, past_end, out);
        if closed.is_none() {
            self.delegation(&p, a, e, out);
            self.reschedule(&p);
            self.s.open.put(instance, p);
        }
    }

    /// A policy decision or envelope event: the instance is under
    /// approval; a denial is remembered (bursts, and later ways around it);
    /// an allowed decision may be the way around an earlier denial.
    fn approval_record(
        &mut self,
        mut p: Profile,
        agent: &str,
        a: &Attribution,
        e: &NormEvent,
        open: bool,
        out: &mut Vec<Finding>,
    ) {
        p.approval_seen = true;
        let denied = e
            .decision
            .as_ref()
            .is_some_and(|d| d.allowed == Some(false));
        if denied {
            if p.denials.len() >= detectors::MAX_DENIALS {
                p.denials.pop_front();
            }
            p.denials.push_back(Denial {
                at: e.event_time.nanos(),
                action: e.decision.as_ref().and_then(|d| d.action.clone()),
                resource: e.resources.first().map(|r| r.id.clone()),
                credential: e.credential_used.as_ref().map(|c| c.id.clone()),
                evidence: evidence(e),
            });
        }
        let signals: Vec<Signal> = {
            let ctx = Ctx {
                cfg: &self.cfg,
                event: Some(e),
                profile: &p,
                baseline: self.s.baselines.get(agent),
                agent,
            };
            if denied {
                detectors::note_denial(&ctx, e).into_iter().collect()
            } else {
                detectors::drift(&ctx).into_iter().collect()
            }
        };
        for sig in signals {
            self.emit(sig, &mut p, agent, Some(a), Some(e), out);
        }
        if open {
            self.reschedule(&p);
            self.s.open.put(p.instance.clone(), p);
        }
    }

    /// Match tool calls and uses of finished instances' credentials in
    /// time; a match seen often enough becomes a `shared_identity` finding
    /// on the instance that made the tool calls.
    fn coincide(
        &mut self,
        p: &mut Profile,
        agent: &str,
        a: &Attribution,
        e: &NormEvent,
        after_end: bool,
        out: &mut Vec<Finding>,
    ) {
        let t = e.event_time.nanos();
        let mut found: Vec<Match> = Vec::new();
        if tool_name(e).is_some() && !e.echoes_span() {
            let end = e.end_time.map_or(t, |x| x.nanos());
            found.extend(
                self.s
                    .coincidences
                    .tool_call(agent, &p.root, t, end, evidence(e)),
            );
        }
        if after_end && let Some(c) = &e.credential_used {
            found.extend(
                self.s
                    .coincidences
                    .orphan_use(agent, &p.root, &c.id, t, evidence(e)),
            );
        }
        for m in found.into_iter().filter(|m| m.count == MIN_MATCHES) {
            let own = m.user == p.root;
            let mut user = if own {
                None
            } else {
                match self.s.open.pop(&m.user) {
                    Some(u) => Some(u),
                    None => continue,
                }
            };
            let target: &mut Profile = match user.as_mut() {
                Some(u) => u,
                None => &mut *p,
            };
            let user_agent = agent_key(target);
            let sig = {
                let ctx = Ctx {
                    cfg: &self.cfg,
                    event: Some(e),
                    profile: target,
                    baseline: self.s.baselines.get(&user_agent),
                    agent: &user_agent,
                };
                detectors::borrowed_credential(&ctx, &m)
            };
            if let Some(sig) = sig {
                let attribution = own.then_some(a);
                self.emit(sig, target, &user_agent, attribution, Some(e), out);
            }
            if let Some(u) = user {
                let id = u.instance.clone();
                self.s.open.put(id, u);
            }
        }
    }

    /// A human acting directly with a credential an open agent instance
    /// holds: a finding on that instance.
    fn human_use(&mut self, human: &str, cred: &str, e: &NormEvent, out: &mut Vec<Finding>) {
        let Some(owner) = self.owner_of(cred, &format!("human:{human}"), e) else {
            return;
        };
        if owner.owner.starts_with("human:") {
            return;
        }
        let Some(mut p) = self.s.open.pop(&owner.owner) else {
            return;
        };
        let agent = agent_key(&p);
        let sig = {
            let ctx = Ctx {
                cfg: &self.cfg,
                event: Some(e),
                profile: &p,
                baseline: self.s.baselines.get(&agent),
                agent: &agent,
            };
            detectors::human_reuse(&ctx, cred, human)
        };
        if let Some(sig) = sig {
            self.emit(sig, &mut p, &agent, None, Some(e), out);
        }
        let id = p.instance.clone();
        self.s.open.put(id, p);
    }

    /// Record which kind of client used a credential; true the first time
    /// both kinds have.
    fn note_client(&mut self, cred: &str, e: &NormEvent) -> bool {
        let Some(human) = detectors::human_client(e.user_agent.as_deref()) else {
            return false;
        };
        let Some(u) = self.s.credentials.get_mut(cred) else {
            return false;
        };
        let before = u.program_client && u.human_client;
        if human {
            u.human_client = true;
        } else {
            u.program_client = true;
        }
        !before && u.program_client && u.human_client
    }

    /// The credential's first user; records `user` as it when none yet.
    /// Returns the owner when it is someone else.
    fn owner_of(&mut self, cred: &str, user: &str, e: &NormEvent) -> Option<CredentialUse> {
        match self.s.credentials.get_mut(cred) {
            Some(u) if u.owner.is_empty() => {
                u.owner = user.to_owned();
                u.first = evidence(e);
                None
            }
            Some(u) if u.owner != user => Some(u.clone()),
            Some(_) => None,
            None => {
                self.s.credentials.put(
                    cred.to_owned(),
                    CredentialUse {
                        owner: user.to_owned(),
                        first: evidence(e),
                        expires_at: None,
                        program_client: false,
                        human_client: false,
                    },
                );
                None
            }
        }
    }

    /// Sub-agents and depth count against the root instance's agent.
    fn delegation(&mut self, p: &Profile, a: &Attribution, e: &NormEvent, out: &mut Vec<Finding>) {
        // Role chaining keeps the instance and deepens it (see `update`).
        if a.depth == 0 || p.root == p.instance {
            return;
        }
        let Some(mut root) = self.s.open.pop(&p.root) else {
            return;
        };
        let mut changed = false;
        if !root.sub_agents.contains_key(&p.instance) {
            root.sub_agents.insert(p.instance.clone(), evidence(e));
            changed = true;
        }
        if a.depth > root.max_depth {
            root.max_depth = a.depth;
            changed = true;
        }
        if e.category == Category::AgentInvoke
            && let Some(name) = e.agent.name.as_ref().or(e.agent.agent_id.as_ref())
        {
            root.add_item(dim::SUB_AGENT, name.clone(), e);
        }
        let agent = root
            .agent_id
            .clone()
            .unwrap_or_else(|| "unidentified-agent".to_owned());
        if changed && !root.raised.contains("delegation") {
            let sig = {
                let ctx = Ctx {
                    cfg: &self.cfg,
                    event: Some(e),
                    profile: &root,
                    baseline: self.s.baselines.get(&agent),
                    agent: &agent,
                };
                detectors::delegation(&ctx)
            };
            if let Some(sig) = sig {
                self.emit(sig, &mut root, &agent, Some(a), Some(e), out);
            }
        }
        let id = root.instance.clone();
        self.s.open.put(id, root);
    }

    fn emit(
        &mut self,
        sig: Signal,
        p: &mut Profile,
        agent: &str,
        a: Option<&Attribution>,
        e: Option<&NormEvent>,
        out: &mut Vec<Finding>,
    ) {
        if sig.subject.is_empty() {
            p.raised.insert(sig.detector.to_owned());
        }
        let mut f = crate::finding::build(sig, p, agent, a, e, self.s.watermark);
        let window = secs_to_ns(self.cfg.dedup_window_secs);
        if let Some(then) = self.s.emitted.peek(&f.finding_id)
            && self.s.watermark.saturating_sub(*then) < window
        {
            self.s.stats.duplicates += 1;
            return;
        }
        self.s.emitted.put(f.finding_id.clone(), self.s.watermark);
        p.max_risk = p.max_risk.max(f.risk_score);
        f.baseline_instances = self.history(agent);
        let (ir, hr) = self.s.risk.add(
            Some(&p.instance),
            p.human.as_deref(),
            f.risk_score,
            f.event_time,
        );
        f.instance_risk = ir;
        f.human_risk = hr;
        *self.s.stats.findings.entry(f.detector.clone()).or_default() += 1;
        out.push(f);
    }

    fn deadline(&self, p: &Profile) -> i64 {
        match p.task_end {
            Some(end) => end
                .max(p.last_seen)
                .saturating_add(secs_to_ns(self.cfg.close_after_secs)),
            None => p
                .last_seen
                .saturating_add(secs_to_ns(self.cfg.idle_close_secs)),
        }
    }

    fn reschedule(&mut self, p: &Profile) {
        let d = self.deadline(p);
        if let Some(old) = self.s.deadline_of.insert(p.instance.clone(), d) {
            if old == d {
                return;
            }
            self.s.deadlines.remove(&(old, p.instance.clone()));
        }
        self.s.deadlines.insert((d, p.instance.clone()));
    }

    /// Close every profile whose deadline the watermark has passed, and
    /// learn it into its agent's baseline unless its own findings were risky.
    fn close_due(&mut self, out: &mut Vec<Finding>) {
        while let Some((d, _)) = self.s.deadlines.first()
            && *d <= self.s.watermark
        {
            let Some((_, id)) = self.s.deadlines.pop_first() else {
                break;
            };
            self.s.deadline_of.remove(&id);
            let Some(p) = self.s.open.pop(&id) else {
                continue;
            };
            self.close(p, out);
        }
    }

    fn close(&mut self, p: Profile, out: &mut Vec<Finding>) {
        let agent = agent_key(&p);
        self.s.closed.put(
            p.instance.clone(),
            Closed {
                task_end: p.task_end,
                agent_id: p.agent_id.clone(),
            },
        );
        if self.history(&agent) < self.cfg.min_history {
            let warming = self.s.warming.entry(agent.clone()).or_default();
            warming.push(p);
            if warming.len() as u64 > self.cfg.min_history {
                self.seed(&agent, out);
            }
            return;
        }
        let mut p = p;
        self.note_credential_slack(&mut p);
        note_rare_counts(&self.cfg, &mut p, self.s.baselines.get(&agent), &agent);
        let signals = closing_signals(&self.cfg, &p, self.s.baselines.get(&agent), &agent);
        for sig in signals {
            self.emit(sig, &mut p, &agent, None, None, out);
        }
        self.learn(&agent, &p);
    }

    /// The agent's first instances, held until there are enough of them,
    /// are each scored against a baseline of the others (leave one out),
    /// then the unremarkable ones become the baseline.
    fn seed(&mut self, agent: &str, out: &mut Vec<Finding>) {
        let mut held = self.s.warming.remove(agent).unwrap_or_default();
        for p in held.iter_mut() {
            self.note_credential_slack(p);
        }
        let decay = self.decay();
        for i in 0..held.len() {
            let mut others = AgentBaseline::default();
            for (j, q) in held.iter().enumerate() {
                if j != i {
                    others.learn(&q.observation(), decay);
                }
            }
            note_rare_counts(&self.cfg, &mut held[i], Some(&others), agent);
            let signals = closing_signals(&self.cfg, &held[i], Some(&others), agent);
            for sig in signals {
                self.emit(sig, &mut held[i], agent, None, None, out);
            }
        }
        for p in &held {
            self.learn(agent, p);
        }
    }

    /// How long past its task the instance's own credentials stayed valid.
    fn note_credential_slack(&self, p: &mut Profile) {
        let Some(end) = p.task_end else { return };
        p.credential_slack = p
            .credentials
            .iter()
            .filter_map(|c| {
                let u = self.s.credentials.peek(c)?;
                let x = u.expires_at?;
                (u.owner == p.instance && x > end)
                    .then(|| (c.clone(), ((x - end) / 60_000_000_000) as u64))
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    }

    fn decay(&self) -> f64 {
        0.5f64.powf(1.0 / self.cfg.baseline_half_life.max(1.0))
    }

    /// Learn a closed instance unless its own findings were too risky.
    fn learn(&mut self, agent: &str, p: &Profile) {
        if p.max_risk >= self.cfg.learn_below_risk {
            self.s.stats.quarantined += 1;
        } else if self.s.baselines.len() < MAX_AGENTS || self.s.baselines.contains_key(agent) {
            let decay = self.decay();
            self.s
                .baselines
                .entry(agent.to_owned())
                .or_default()
                .learn(&p.observation(), decay);
            self.s.stats.learned += 1;
        }
    }
}

/// The logical agent a profile is baselined under.
fn agent_key(p: &Profile) -> String {
    p.agent_id
        .clone()
        .unwrap_or_else(|| "unidentified-agent".to_owned())
}

/// How many rare tools and transitions the closing instance has against
/// `baseline`, kept so the baseline learns how much that varies between its
/// instances (with LLM-driven tool use, a lot: longer conversations have
/// more). API scope does not scale with conversation length; it is tested
/// against the plain Good–Turing rate.
fn note_rare_counts(
    cfg: &DetectConfig,
    p: &mut Profile,
    baseline: Option<&AgentBaseline>,
    agent: &str,
) {
    let counts = {
        let ctx = Ctx {
            cfg,
            event: None,
            profile: p,
            baseline,
            agent,
        };
        [(
            metric::RARE_CHAIN,
            detectors::rare_list(&ctx, &detectors::CHAIN_DIMS).len(),
        )]
    };
    for (m, k) in counts {
        p.rare.insert(m.to_owned(), k as u64);
    }
}

/// The whole closed instance against `baseline`: the instance-level
/// detectors that have not raised yet, and delegation for roots.
fn closing_signals(
    cfg: &DetectConfig,
    p: &Profile,
    baseline: Option<&AgentBaseline>,
    agent: &str,
) -> Vec<Signal> {
    let ctx = Ctx {
        cfg,
        event: None,
        profile: p,
        baseline,
        agent,
    };
    let mut v = instance_signals(&ctx, &Changed::all());
    if p.root == p.instance && !p.raised.contains("delegation") {
        v.extend(detectors::delegation(&ctx));
    }
    v.extend(detectors::credential_slack(&ctx));
    if !p.raised.contains("unapproved") {
        v.extend(detectors::unapproved(&ctx));
    }
    v
}

fn new_profile(instance: &str, a: &Attribution, t: i64) -> Profile {
    Profile {
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
        ..Profile::default()
    }
}

/// Fold one event into its instance's profile.
fn update(p: &mut Profile, e: &NormEvent, t: i64) -> Changed {
    let mut c = Changed::default();
    p.last_seen = p.last_seen.max(t);
    if e.approval().is_some_and(Approval::is_evidenced) {
        p.approval_seen = true;
    } else if is_action(e) {
        p.unapproved_actions += 1;
        p.first_unapproved.get_or_insert_with(|| evidence(e));
    }
    if p.agent_id.is_none() {
        p.agent_id = e.attribution.as_ref().and_then(|a| a.agent_id.clone());
    }
    if p.human.is_none() {
        p.human = e.attribution.as_ref().and_then(|a| a.initiator.clone());
    }
    if e.category == Category::AgentInvoke {
        for l in &e.links {
            if let Link::TaskEnded { at, .. } = l {
                p.task_end = Some(at.nanos());
            }
        }
    }
    if let Some(req) = &e.input_messages {
        p.add_request(req);
    }
    if let Some(tool) = tool_name(e) {
        c.chain |= p.add_item(dim::TOOL, tool.to_owned(), e);
        if !e.echoes_span() {
            let (transition, trigram) = p.push_tool(tool);
            for (d, item) in [(dim::TRANSITION, transition), (dim::TRIGRAM, trigram)] {
                if let Some(item) = item {
                    c.chain |= p.add_item(d, item, e);
                }
            }
        }
    }
    if let Some(s) = service(e) {
        c.scope |= p.add_item(dim::SERVICE, s, e);
    }
    if let Some(op) = api_operation(e) {
        c.scope |= p.add_item(dim::OPERATION, op.to_owned(), e);
        if is_permission_change(e) {
            p.add_item(dim::PERMISSION_CHANGE, op.to_owned(), e);
        }
    }
    for s in &e.scopes {
        c.scope |= p.add_item(dim::SCOPE, s.clone(), e);
    }
    if let Some(class) = privilege_class(e) {
        c.scope |= p.add_item(dim::PRIVILEGE, class.to_owned(), e);
    }
    if let Some(x) = tenant(e) {
        c.tenant |= p.add_item(dim::TENANT, x, e);
    }
    if e.category == Category::SecretRead || e.reads_secret() {
        p.secret_reads += 1;
        let mut any = false;
        for s in secrets_read(e) {
            any = true;
            p.secrets.entry(s.to_owned()).or_insert_with(|| evidence(e));
        }
        if !any {
            p.secrets
                .entry(format!("{} (unnamed)", e.operation))
                .or_insert_with(|| evidence(e));
        }
        c.secrets = true;
    }
    if uses_static_key(e) {
        p.flags.insert(flag::STATIC_KEY.to_owned());
    }
    if let Some(c) = &e.credential_used
        && p.credentials.len() < MAX_CREDENTIALS_PER_INSTANCE
        && !p.credentials.contains(&c.id)
    {
        p.credentials.push(c.id.clone());
    }
    let depth = e.attribution.as_ref().map_or(0, |a| a.depth);
    if depth > p.max_depth && p.root == p.instance {
        p.max_depth = depth;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MIN: i64 = 60_000_000_000;

    /// An attributed CloudTrail-like event at minute `m`.
    fn ev(id: &str, m: i64, instance: Option<&str>, cred: &str, ua: &str) -> NormEvent {
        let mut v = json!({
            "event_id": id, "source": "cloudtrail", "source_event_type": "GetObject",
            "event_time": format!("2026-03-02T{:02}:{:02}:00Z", m / 60, m % 60),
            "category": "api_call", "operation": "s3.amazonaws.com:GetObject",
            "actor": {"id": "arn:aws:sts::1:assumed-role/r/s"}, "actor_kind": "agent",
            "actor_kind_basis": "test", "outcome": "success", "user_agent": ua,
            "credential_used": {"id": cred, "kind": "aws_session_key"},
            "origin": {"kind": "file", "path": "t", "line": 1, "index": null}, "raw": "{}",
            "attribution": {"agent_id": "a", "initiator": "ana@example.com", "depth": 0, "basis": "test"}
        });
        if let Some(i) = instance {
            v["attribution"]["instance"] = json!(i);
            v["attribution"]["root_instance"] = json!(i);
        }
        serde_json::from_value(v).unwrap()
    }

    fn run(events: &[NormEvent]) -> Vec<Finding> {
        let mut d = Detectors::new(DetectConfig::default());
        let mut out = Vec::new();
        for e in events {
            d.observe(e, &mut out);
        }
        out
    }

    #[test]
    fn a_person_using_an_agents_credential_is_shared_identity() {
        let boto = "Boto3/1.35.0";
        let browser = "Mozilla/5.0 (Macintosh) console.amazonaws.com";
        let f = run(&[
            ev("1", 1, Some("X"), "ASIAK", boto),
            ev("2", 2, Some("X"), "ASIAK", browser),
            ev("3", 3, Some("X"), "ASIAK", browser),
        ]);
        let shared: Vec<_> = f
            .iter()
            .filter(|f| f.detector == "shared_identity")
            .collect();
        assert_eq!(shared.len(), 1, "{f:#?}");
        assert_eq!(shared[0].agent_instance.as_deref(), Some("X"));
        assert!(
            shared[0].summary.contains("person's client"),
            "{}",
            shared[0].summary
        );
        // The same client throughout raises nothing.
        let quiet = run(&[
            ev("1", 1, Some("X"), "ASIAK", boto),
            ev("2", 2, Some("X"), "ASIAK", boto),
        ]);
        assert!(quiet.is_empty(), "{quiet:#?}");
    }

    #[test]
    fn a_human_acting_directly_with_an_agents_token_is_flagged_on_the_agent() {
        let f = run(&[
            ev("1", 1, Some("X"), "tok-1", "agent-runtime/1.0"),
            ev("2", 2, None, "tok-1", "agent-runtime/1.0"),
        ]);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].detector, "shared_identity");
        assert_eq!(f[0].agent_instance.as_deref(), Some("X"));
        assert!(
            f[0].summary
                .contains("the human ana@example.com also used directly"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn a_credential_used_after_it_expired_is_flagged() {
        let mut issue = ev("0", 0, Some("runtime"), "ASIARUNTIME", "Boto3");
        issue.credential_issued = Some(delegraph_model::Credential {
            id: "ASIAK".into(),
            kind: delegraph_model::CredentialKind::AwsSessionKey,
            issued_at: None,
            expires_at: Some(delegraph_model::Timestamp::from_nanos(
                issue.event_time.nanos() + 10 * MIN,
            )),
        });
        let f = run(&[
            issue,
            ev("1", 5, Some("X"), "ASIAK", "Boto3"),
            ev("2", 25, Some("X"), "ASIAK", "Boto3"),
        ]);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].detector, "credential_lifetime");
        assert!(
            f[0].summary.contains("after it expired"),
            "{}",
            f[0].summary
        );
        assert!(
            f[0].risk_score >= 40,
            "a definite finding is at least medium"
        );
    }

    /// Instance `i` of agent `a`: its runtime issues it a key valid for
    /// `valid` minutes, its task runs two minutes and uses the key once.
    fn task(i: i64, valid: i64) -> Vec<NormEvent> {
        let t = 10 * i;
        let id = format!("X{i}");
        let key = format!("ASIAKEY{i}");
        let mut issue = ev(
            &format!("{i}-0"),
            t,
            Some("runtime"),
            "ASIARUNTIME",
            "Boto3",
        );
        issue.credential_issued = Some(delegraph_model::Credential {
            id: key.clone(),
            kind: delegraph_model::CredentialKind::AwsSessionKey,
            issued_at: None,
            expires_at: Some(delegraph_model::Timestamp::from_nanos(
                issue.event_time.nanos() + valid * MIN,
            )),
        });
        let mut root = ev(&format!("{i}-1"), t, Some(&id), "", "Boto3");
        root.credential_used = None;
        root.category = delegraph_model::Category::AgentInvoke;
        root.links.push(delegraph_model::Link::TaskEnded {
            instance: id.clone(),
            at: delegraph_model::Timestamp::from_nanos(root.event_time.nanos() + 2 * MIN),
        });
        let used = ev(&format!("{i}-2"), t + 1, Some(&id), &key, "Boto3");
        vec![issue, root, used]
    }

    fn minute(m: i64) -> NormEvent {
        let mut e = ev(&format!("tick-{m}"), 0, None, "none", "Boto3");
        e.event_time = delegraph_model::Timestamp::from_nanos(
            ev("x", 0, None, "x", "x").event_time.nanos() + m * MIN,
        );
        e.credential_used = None;
        e
    }

    #[test]
    fn a_credential_valid_far_longer_past_its_task_than_usual_is_flagged() {
        let mut events: Vec<NormEvent> = (0..20).flat_map(|i| task(i, 60)).collect();
        events.extend(task(20, 12 * 60));
        events.push(minute(20 * 10 + 60));
        let f = run(&events);
        let slack: Vec<_> = f
            .iter()
            .filter(|f| f.detector == "credential_lifetime")
            .collect();
        assert_eq!(slack.len(), 1, "{f:#?}");
        assert_eq!(slack[0].agent_instance.as_deref(), Some("X20"));
        assert!(
            slack[0].summary.contains("still valid 718 min"),
            "{}",
            slack[0].summary
        );
    }

    /// A policy decision of instance `X` at minute `m`.
    fn decision(id: &str, m: i64, allowed: bool, cred: &str) -> NormEvent {
        let mut e = ev(id, m, Some("X"), cred, "gw");
        e.source = delegraph_model::Source::Opa;
        e.category = Category::PolicyDecision;
        e.resources = vec![delegraph_model::Resource {
            id: "db:hr.payroll".into(),
            kind: None,
            is_secret: false,
        }];
        e.decision = Some(delegraph_model::PolicyDecision {
            decision_id: id.into(),
            engine: delegraph_model::PolicyEngine::Opa,
            policy: "agents/allow".into(),
            allowed: Some(allowed),
            action: Some("read_payroll".into()),
            policies: Vec::new(),
        });
        e
    }

    #[test]
    fn a_denied_request_granted_later_with_another_credential_is_drift() {
        let drift = |events: &[NormEvent]| {
            run(events)
                .into_iter()
                .filter(|f| f.detector == "policy_probe")
                .count()
        };
        // The same request retried with the same token: no way around.
        assert_eq!(
            drift(&[
                decision("d1", 1, false, "tok-A"),
                decision("d2", 2, true, "tok-A")
            ]),
            0
        );
        // Another token gets what the first was refused.
        let f = run(&[
            decision("d1", 1, false, "tok-A"),
            decision("d2", 2, true, "tok-B"),
        ]);
        let p: Vec<_> = f.iter().filter(|f| f.detector == "policy_probe").collect();
        assert_eq!(p.len(), 1, "{f:#?}");
        assert!(
            p[0].summary.contains("with credential tok-B"),
            "{}",
            p[0].summary
        );
        // Past the drift window it is a new request, not a way around.
        assert_eq!(
            drift(&[
                decision("d1", 1, false, "tok-A"),
                decision("d2", 30, true, "tok-B")
            ]),
            0
        );
    }
}

//! The stitcher's bounded key indexes: credential id → binding, span
//! (`trace:span`) → binding, and session keys → binding. Session keys also
//! name instances (`instance:<id>`). Keys expire when idle past their TTL
//! in event time (credentials: a longer one); every index is also an LRU
//! with a cap. Evictions are counted.

use std::sync::Arc;

use delegraph_model::{NormEvent, load_lru, new_lru};
use lru::LruCache;

use crate::binding::Binding;
use crate::config::StitchConfig;
use crate::index_saved::{SavedIndexes, SavedIndexesRef};

/// Sweep idle keys once per this many records.
const SWEEP_EVERY: u32 = 1024;

/// A credential's or span's binding and when (event time) a record last
/// used or bound the key: keys idle past their TTL are swept, so a month
/// of spans and tokens does not stay in memory and in every checkpoint
/// until the caps are reached.
#[derive(Debug, Clone)]
pub(crate) struct Touched {
    pub binding: Arc<Binding>,
    pub at: i64,
}

/// The indexes and their eviction counters.
pub(crate) struct Indexes {
    pub(crate) creds: LruCache<String, Touched>,
    spans: LruCache<String, Touched>,
    sessions: LruCache<String, Touched>,
    idle_ttl_ns: i64,
    credential_idle_ttl_ns: i64,
    pub(crate) evicted_by_cap: u64,
    pub(crate) evicted_idle: u64,
    since_sweep: u32,
}

/// Insert, counting an eviction when the cache was full and `k` is new.
fn insert<V>(cache: &mut LruCache<String, V>, evicted: &mut u64, k: String, v: V) {
    if cache.len() == cache.cap().get() && !cache.contains(&k) {
        *evicted += 1;
    }
    cache.put(k, v);
}

/// The binding of `k`, marking it used at `at`.
fn touch(cache: &mut LruCache<String, Touched>, k: &str, at: i64) -> Option<Arc<Binding>> {
    let t = cache.get_mut(k)?;
    t.at = t.at.max(at);
    Some(t.binding.clone())
}

/// Drop the least recently used keys last touched before `horizon`;
/// returns how many went. Records come in event-time order, so recency
/// of use is recency in event time (a late record only delays a sweep).
fn sweep(cache: &mut LruCache<String, Touched>, horizon: i64) -> u64 {
    let mut swept = 0;
    while cache.peek_lru().is_some_and(|(_, t)| t.at < horizon) {
        cache.pop_lru();
        swept += 1;
    }
    swept
}

/// The session key naming instance `id`.
pub(crate) fn instance_key(id: &str) -> String {
    ["instance:", id].concat()
}

impl Indexes {
    pub(crate) fn new(cfg: &StitchConfig) -> Self {
        Self {
            creds: new_lru(cfg.max_credentials),
            spans: new_lru(cfg.max_spans),
            sessions: new_lru(cfg.max_sessions),
            idle_ttl_ns: cfg.idle_ttl_ns,
            credential_idle_ttl_ns: cfg.credential_idle_ttl_ns,
            evicted_by_cap: 0,
            evicted_idle: 0,
            since_sweep: 0,
        }
    }

    /// The entries, borrowed, for a checkpoint.
    pub(crate) fn save(&self) -> SavedIndexesRef<'_> {
        crate::index_saved::save(&self.creds, &self.spans, &self.sessions, self.since_sweep)
    }

    /// Indexes continuing from `s`, with the eviction counts saved apart.
    pub(crate) fn load(
        cfg: &StitchConfig,
        s: SavedIndexes,
        evicted: (u64, u64),
    ) -> Result<Self, String> {
        let since_sweep = s.since_sweep;
        let e = s.entries()?;
        Ok(Self {
            creds: load_lru(cfg.max_credentials, e.creds),
            spans: load_lru(cfg.max_spans, e.spans),
            sessions: load_lru(cfg.max_sessions, e.sessions),
            idle_ttl_ns: cfg.idle_ttl_ns,
            credential_idle_ttl_ns: cfg.credential_idle_ttl_ns,
            evicted_by_cap: evicted.0,
            evicted_idle: evicted.1,
            since_sweep,
        })
    }

    /// Entries held across the indexes.
    pub(crate) fn len(&self) -> usize {
        self.creds.len() + self.spans.len() + self.sessions.len()
    }

    pub(crate) fn bind_credential(&mut self, id: String, binding: Arc<Binding>, at: i64) {
        let t = Touched { binding, at };
        insert(&mut self.creds, &mut self.evicted_by_cap, id, t);
    }

    pub(crate) fn bind_span(&mut self, key: String, binding: Arc<Binding>, at: i64) {
        let t = Touched { binding, at };
        insert(&mut self.spans, &mut self.evicted_by_cap, key, t);
    }

    /// The binding of credential `id`, marking it used at `at`.
    pub(crate) fn credential(&mut self, id: &str, at: i64) -> Option<Arc<Binding>> {
        touch(&mut self.creds, id, at)
    }

    /// The binding of span `key` (`trace:span`), marking it used at `at`.
    pub(crate) fn span(&mut self, key: &str, at: i64) -> Option<Arc<Binding>> {
        touch(&mut self.spans, key, at)
    }

    /// The binding of session `key`, touching it at `at`.
    pub(crate) fn session(&mut self, key: &str, at: i64) -> Option<Arc<Binding>> {
        touch(&mut self.sessions, key, at)
    }

    pub(crate) fn set_session(&mut self, key: String, binding: Arc<Binding>, at: i64) {
        let t = Touched { binding, at };
        insert(&mut self.sessions, &mut self.evicted_by_cap, key, t);
    }

    /// A new root instance `id` for `human`, or the known one with that id.
    /// Its logical agent and name are the record's.
    pub(crate) fn root_instance(
        &mut self,
        id: String,
        e: &NormEvent,
        human: Option<String>,
        at: i64,
    ) -> Arc<Binding> {
        let key = instance_key(&id);
        if let Some(b) = self.session(&key, at) {
            return b;
        }
        let id: Arc<str> = id.into();
        let human: Option<Arc<str>> = human.map(Into::into);
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

    /// Every [`SWEEP_EVERY`] records, drop session keys and spans idle
    /// past the TTL and credentials idle past theirs (in event time);
    /// returns the horizon when it swept, for the instance table to evict
    /// its idle instances alike.
    pub(crate) fn maybe_sweep(&mut self, now: i64) -> Option<i64> {
        self.since_sweep += 1;
        if self.since_sweep < SWEEP_EVERY {
            return None;
        }
        self.since_sweep = 0;
        let horizon = now.saturating_sub(self.idle_ttl_ns);
        self.evicted_idle += sweep(&mut self.sessions, horizon);
        self.evicted_idle += sweep(&mut self.spans, horizon);
        let credential_horizon = now.saturating_sub(self.credential_idle_ttl_ns);
        self.evicted_idle += sweep(&mut self.creds, credential_horizon);
        Some(horizon)
    }
}

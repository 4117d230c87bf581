//! The stitcher's bounded key indexes: credential id → binding, span
//! (`trace:span`) → binding, and session keys → binding. Session keys also
//! name instances (`instance:<id>`); they expire when idle past the TTL in
//! event time. Every index is an LRU with a cap; evictions are counted.

use std::sync::Arc;

use delegraph_model::{NormEvent, load_lru, new_lru, save_lru};
use lru::LruCache;

use crate::binding::Binding;
use crate::config::StitchConfig;

/// Index entries as saved (bindings by value: keys that shared one binding
/// get equal copies).
pub(crate) type Entries = Vec<(String, Binding)>;

/// Sweep idle session keys once per this many records.
const SWEEP_EVERY: u32 = 1024;

/// The indexes and their eviction counters.
pub(crate) struct Indexes {
    pub(crate) creds: LruCache<String, Arc<Binding>>,
    pub(crate) spans: LruCache<String, Arc<Binding>>,
    sessions: LruCache<String, Arc<Binding>>,
    /// Event time each session key was last touched, for idle eviction.
    touched: LruCache<String, i64>,
    idle_ttl_ns: i64,
    pub(crate) evicted_by_cap: u64,
    pub(crate) evicted_idle: u64,
    since_sweep: u32,
}

/// [`Indexes`] as saved between runs.
pub(crate) struct SavedIndexes {
    pub creds: Entries,
    pub spans: Entries,
    pub sessions: Entries,
    pub touched: Vec<(String, i64)>,
    pub since_sweep: u32,
}

fn save_bindings(c: &LruCache<String, Arc<Binding>>) -> Entries {
    save_lru(c)
        .into_iter()
        .map(|(k, b)| (k, (*b).clone()))
        .collect()
}

fn load_bindings(cap: usize, e: Entries) -> LruCache<String, Arc<Binding>> {
    load_lru(cap, e.into_iter().map(|(k, b)| (k, Arc::new(b))).collect())
}

/// Insert, counting an eviction when the cache was full and `k` is new.
fn insert<V>(cache: &mut LruCache<String, V>, evicted: &mut u64, k: String, v: V) {
    if cache.len() == cache.cap().get() && !cache.contains(&k) {
        *evicted += 1;
    }
    cache.put(k, v);
}

/// The session key naming instance `id`.
pub(crate) fn instance_key(id: &str) -> String {
    format!("instance:{id}")
}

impl Indexes {
    pub(crate) fn new(cfg: &StitchConfig) -> Self {
        Self {
            creds: new_lru(cfg.max_credentials),
            spans: new_lru(cfg.max_spans),
            sessions: new_lru(cfg.max_sessions),
            touched: new_lru(cfg.max_sessions),
            idle_ttl_ns: cfg.idle_ttl_ns,
            evicted_by_cap: 0,
            evicted_idle: 0,
            since_sweep: 0,
        }
    }

    pub(crate) fn save(&self) -> SavedIndexes {
        SavedIndexes {
            creds: save_bindings(&self.creds),
            spans: save_bindings(&self.spans),
            sessions: save_bindings(&self.sessions),
            touched: save_lru(&self.touched),
            since_sweep: self.since_sweep,
        }
    }

    /// Indexes continuing from `s`, with the eviction counts saved apart.
    pub(crate) fn load(cfg: &StitchConfig, s: SavedIndexes, evicted: (u64, u64)) -> Self {
        Self {
            creds: load_bindings(cfg.max_credentials, s.creds),
            spans: load_bindings(cfg.max_spans, s.spans),
            sessions: load_bindings(cfg.max_sessions, s.sessions),
            touched: load_lru(cfg.max_sessions, s.touched),
            idle_ttl_ns: cfg.idle_ttl_ns,
            evicted_by_cap: evicted.0,
            evicted_idle: evicted.1,
            since_sweep: s.since_sweep,
        }
    }

    /// Entries held across the indexes.
    pub(crate) fn len(&self) -> usize {
        self.creds.len() + self.spans.len() + self.sessions.len()
    }

    pub(crate) fn bind_credential(&mut self, id: String, b: Arc<Binding>) {
        insert(&mut self.creds, &mut self.evicted_by_cap, id, b);
    }

    pub(crate) fn bind_span(&mut self, key: String, b: Arc<Binding>) {
        insert(&mut self.spans, &mut self.evicted_by_cap, key, b);
    }

    /// The binding of session `key`, touching it at `at`.
    pub(crate) fn session(&mut self, key: &str, at: i64) -> Option<Arc<Binding>> {
        let b = self.sessions.get(key).cloned();
        if b.is_some() {
            self.touched.put(key.to_owned(), at);
        }
        b
    }

    pub(crate) fn set_session(&mut self, key: String, b: Arc<Binding>, at: i64) {
        self.touched.put(key.clone(), at);
        insert(&mut self.sessions, &mut self.evicted_by_cap, key, b);
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

    /// Every [`SWEEP_EVERY`] records, drop session keys idle past the TTL
    /// (in event time); returns the horizon when it swept, for the
    /// instance table to evict its idle instances alike.
    pub(crate) fn maybe_sweep(&mut self, now: i64) -> Option<i64> {
        self.since_sweep += 1;
        if self.since_sweep < SWEEP_EVERY {
            return None;
        }
        self.since_sweep = 0;
        let horizon = now.saturating_sub(self.idle_ttl_ns);
        while let Some((_, t)) = self.touched.peek_lru() {
            if *t >= horizon {
                break;
            }
            if let Some((k, _)) = self.touched.pop_lru() {
                self.sessions.pop(&k);
                self.evicted_idle += 1;
            }
        }
        Some(horizon)
    }
}

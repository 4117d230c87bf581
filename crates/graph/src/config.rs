//! The stitcher's limits: how late records may arrive, how long idle keys
//! live, and how many of each kind of key and instance it keeps.

/// Limits of the stitcher's state.
#[derive(Debug, Clone, Copy)]
pub struct StitchConfig {
    /// How late (event time) a record may arrive and still be ordered.
    pub lateness_ns: i64,
    /// Session keys, spans and instances idle longer than this are evicted.
    pub idle_ttl_ns: i64,
    /// A packing round (event time): instances without records for five
    /// rounds, or for one while more than 20,000 are held
    /// (`delegraph_model::rounds_before_packing`), are packed into their
    /// saved bytes until their next record: memory, not results (0: never).
    pub pack_idle_ns: i64,
    /// Credential bindings unused longer than this are evicted: longer than
    /// the idle TTL, since a token may come back days after its task ended
    /// (the use "credential outlives the task" is about).
    pub credential_idle_ttl_ns: i64,
    /// Most live instances.
    pub max_instances: usize,
    /// Most credential bindings.
    pub max_credentials: usize,
    /// Most span bindings.
    pub max_spans: usize,
    /// Most session keys.
    pub max_sessions: usize,
    /// How long before an action a decision for the same instance and
    /// action still binds to it, when no decision id was propagated.
    pub decision_window_ns: i64,
    /// How far back a policy decision counts as the instance being under
    /// approval at all (`unapproved` looks at what is left).
    pub approval_lookback_ns: i64,
}

const MINUTE: i64 = 60_000_000_000;

impl Default for StitchConfig {
    /// CloudTrail delivers within about 15 minutes; STS sessions last up to
    /// 12 hours.
    fn default() -> Self {
        Self {
            lateness_ns: 15 * MINUTE,
            idle_ttl_ns: 12 * 60 * MINUTE,
            pack_idle_ns: MINUTE,
            credential_idle_ttl_ns: 7 * 24 * 60 * MINUTE,
            max_instances: 200_000,
            max_credentials: 500_000,
            max_spans: 1_000_000,
            max_sessions: 500_000,
            decision_window_ns: 2 * MINUTE,
            approval_lookback_ns: 60 * MINUTE,
        }
    }
}

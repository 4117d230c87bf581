//! Drop records delivered twice. CloudTrail documents that it may deliver
//! an event more than once, and Kafka producers without idempotence
//! duplicate batches they retry after a broker failure; counting such a
//! record twice would skew every detector count.

use std::collections::HashSet;

use lru::LruCache;

/// Event ids recently seen, as 64-bit hashes of (source, event id), most
/// recent last; bounded so memory and the checkpoint stay small (8 bytes
/// per id remembered).
pub(crate) struct SeenEvents {
    seen: LruCache<u64, ()>,
    /// The bytes hashed, reused from event to event: a one-shot hash of
    /// them is the streaming hash's value (saved checkpoints still match)
    /// without setting up the streaming state each time.
    key: Vec<u8>,
    /// Every id looked up since the last [`take_touched`](Self::take_touched),
    /// in order, when tracked (a stream: see [`SeenLog`]).
    touched: Option<Vec<u64>>,
}

/// Ids remembered by default: minutes of traffic at the spec's rates.
pub(crate) const DEFAULT_SEEN: usize = 1 << 20;

impl SeenEvents {
    pub fn new(cap: usize) -> Self {
        Self {
            seen: delegraph_model::new_lru(cap),
            key: Vec::new(),
            touched: None,
        }
    }

    /// How many ids it remembers at most.
    pub fn cap(&self) -> usize {
        self.seen.cap().get()
    }

    /// Record the ids looked up from now on, for [`take_touched`](Self::take_touched).
    pub fn track(&mut self) {
        self.touched.get_or_insert_with(Vec::new);
    }

    /// The ids looked up since the last call, in order.
    pub fn take_touched(&mut self) -> Vec<u64> {
        self.touched
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// True if (source, id) was seen before; remembers it either way.
    pub fn repeat(&mut self, source: &str, event_id: &str) -> bool {
        self.key.clear();
        self.key.extend_from_slice(source.as_bytes());
        self.key.push(0);
        self.key.extend_from_slice(event_id.as_bytes());
        let hash = xxhash_rust::xxh3::xxh3_64(&self.key);
        if let Some(touched) = &mut self.touched {
            touched.push(hash);
        }
        self.seen.put(hash, ()).is_some()
    }

    /// Oldest first, for the checkpoint.
    pub fn save(&self) -> Vec<u64> {
        self.seen.iter().rev().map(|(k, _)| *k).collect()
    }

    /// From [`save`](Self::save) output.
    pub fn restore(cap: usize, ids: &[u64]) -> Self {
        let mut s = Self::new(cap);
        for id in ids {
            s.seen.put(*id, ());
        }
        s
    }
}

/// What [`SeenEvents::save`] would give, kept up to date from the ids
/// looked up ([`SeenEvents::take_touched`]) instead of walking the LRU: a
/// walk of a million entries costs tens of milliseconds of cache misses,
/// and a stream's loop would stand still for it at every epoch's end. An
/// LRU bounded to `cap` holds the `cap` ids looked up most recently, by
/// their last lookup; [`advance`](Self::advance) computes the same from
/// the previous list and the lookups since, on whichever thread saves the
/// checkpoint.
pub(crate) struct SeenLog {
    /// Oldest first, each id once.
    pub ids: Vec<u64>,
    cap: usize,
}

impl SeenLog {
    /// From [`SeenEvents::save`] output and the LRU's bound.
    pub fn new(ids: Vec<u64>, cap: usize) -> Self {
        Self { ids, cap }
    }

    /// After the lookups `touched`, in order.
    pub fn advance(&mut self, touched: &[u64]) {
        if touched.is_empty() {
            return;
        }
        // The last lookup of each id decides its place.
        let mut seen = HashSet::with_capacity(touched.len());
        let mut newest: Vec<u64> = touched
            .iter()
            .rev()
            .filter(|id| seen.insert(**id))
            .copied()
            .collect();
        newest.reverse();
        self.ids.retain(|id| !seen.contains(id));
        self.ids.extend(newest);
        let over = self.ids.len().saturating_sub(self.cap);
        self.ids.drain(..over);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hash_as_checkpoints_saved_them() {
        // Checkpoints hold the hashes a streaming hasher gave.
        for (source, id) in [("cloudtrail", "a"), ("okta", &"x".repeat(300))] {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(source.as_bytes());
            h.update(&[0]);
            h.update(id.as_bytes());
            let mut s = SeenEvents::new(4);
            s.repeat(source, id);
            assert_eq!(s.save(), vec![h.digest()]);
        }
    }

    #[test]
    fn repeats_are_found_and_survive_save_restore_in_order() {
        let mut s = SeenEvents::new(3);
        assert!(!s.repeat("cloudtrail", "a"));
        assert!(s.repeat("cloudtrail", "a"));
        assert!(!s.repeat("okta", "a"), "same id, other source");
        assert!(!s.repeat("cloudtrail", "b"));
        let mut r = SeenEvents::restore(3, &s.save());
        assert!(r.repeat("cloudtrail", "b"));
        // "a"/cloudtrail was the least recently used of the three.
        assert!(!r.repeat("cloudtrail", "c"));
        assert!(!r.repeat("cloudtrail", "a"), "evicted by the cap");
    }

    /// The list kept from the lookups is the LRU's, epoch after epoch,
    /// with repeats and evictions by the bound.
    #[test]
    fn the_log_of_lookups_gives_what_a_walk_of_the_lru_gives() {
        let cap = 50;
        let mut s = SeenEvents::new(cap);
        s.track();
        let mut log = SeenLog::new(s.save(), cap);
        // A deterministic spread of ids over a range wider than the bound,
        // so some repeat within it and some after being evicted.
        let mut x: u64 = 7;
        for epoch in 0..40 {
            for _ in 0..(epoch * 7 % 90) {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.repeat("cloudtrail", &((x >> 33) % 120).to_string());
            }
            log.advance(&s.take_touched());
            assert_eq!(log.ids, s.save(), "epoch {epoch}");
        }
        assert_eq!(log.ids.len(), cap);
    }
}

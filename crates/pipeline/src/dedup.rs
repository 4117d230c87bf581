//! Drop records delivered twice. CloudTrail documents that it may deliver
//! an event more than once, and Kafka producers without idempotence
//! duplicate batches they retry after a broker failure; counting such a
//! record twice would skew every detector count.

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
}

/// Ids remembered by default: minutes of traffic at the spec's rates.
pub(crate) const DEFAULT_SEEN: usize = 1 << 20;

impl SeenEvents {
    pub fn new(cap: usize) -> Self {
        Self {
            seen: delegraph_model::new_lru(cap),
            key: Vec::new(),
        }
    }

    /// True if (source, id) was seen before; remembers it either way.
    pub fn repeat(&mut self, source: &str, event_id: &str) -> bool {
        self.key.clear();
        self.key.extend_from_slice(source.as_bytes());
        self.key.push(0);
        self.key.extend_from_slice(event_id.as_bytes());
        let hash = xxhash_rust::xxh3::xxh3_64(&self.key);
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
}

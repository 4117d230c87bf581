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
}

/// Ids remembered by default: minutes of traffic at the spec's rates.
pub(crate) const DEFAULT_SEEN: usize = 1 << 20;

impl SeenEvents {
    pub fn new(cap: usize) -> Self {
        Self {
            seen: delegraph_model::new_lru(cap),
        }
    }

    /// True if (source, id) was seen before; remembers it either way.
    pub fn repeat(&mut self, source: &str, event_id: &str) -> bool {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(source.as_bytes());
        h.update(&[0]);
        h.update(event_id.as_bytes());
        self.seen.put(h.digest(), ()).is_some()
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

//! A least-recently-used map that can be saved and restored with its order.

use std::num::NonZeroUsize;

use lru::LruCache;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// LRU map with a fixed capacity; evicts the least recently used entry.
#[derive(Debug)]
pub struct Bounded<V> {
    map: LruCache<String, V>,
    evicted: u64,
}

impl<V> Bounded<V> {
    /// An empty map holding at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        Self {
            map: new_lru(cap),
            evicted: 0,
        }
    }

    /// Look up and mark as recently used.
    pub fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        self.map.get_mut(k)
    }

    /// Look up without touching the order.
    pub fn peek(&self, k: &str) -> Option<&V> {
        self.map.peek(k)
    }

    /// Look up to change in place without touching the order.
    pub fn peek_mut(&mut self, k: &str) -> Option<&mut V> {
        self.map.peek_mut(k)
    }

    /// Insert; when a different key had to go to make room, counts the
    /// eviction and returns that entry (its owner may hold more state
    /// under the same key elsewhere).
    pub fn put(&mut self, k: String, v: V) -> Option<(String, V)> {
        match self.map.push(k.clone(), v) {
            Some((old, value)) if old != k => {
                self.evicted += 1;
                Some((old, value))
            }
            _ => None,
        }
    }

    /// Remove.
    pub fn pop(&mut self, k: &str) -> Option<V> {
        self.map.pop(k)
    }

    /// Remove least recently used entries while `stale` holds for them
    /// (an owner sweeping entries idle past a horizon: the least recently
    /// used is the longest idle); returns how many went.
    pub fn pop_lru_while(&mut self, mut stale: impl FnMut(&V) -> bool) -> usize {
        let mut gone = 0;
        while self.map.peek_lru().is_some_and(|(_, v)| stale(v)) {
            self.map.pop_lru();
            gone += 1;
        }
        gone
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries evicted for capacity so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// Entries of an LRU cache, least recently used first, so that inserting
/// them in order into an empty cache restores their recency. Borrowed:
/// they serialise as owned copies would, without copying every value (the
/// open instances' records, the stitcher's graphs) first.
pub fn lru_entries<V>(cache: &LruCache<String, V>) -> Vec<(&str, &V)> {
    cache.iter().rev().map(|(k, v)| (k.as_str(), v)).collect()
}

/// An empty LRU cache holding at most `cap` entries (at least one: a zero
/// limit in a config file must not panic), whose table grows with its
/// entries: `LruCache::new` sizes it for the whole capacity up front, tens
/// of megabytes per index at the default limits before the first event.
pub fn new_lru<K: std::hash::Hash + Eq, V>(cap: usize) -> LruCache<K, V> {
    let mut cache = LruCache::unbounded();
    cache.resize(NonZeroUsize::new(cap.max(1)).unwrap_or(NonZeroUsize::MIN));
    cache
}

/// An LRU cache of capacity `cap` holding `entries` (as [`lru_entries`] listed them).
pub fn load_lru<K: std::hash::Hash + Eq, V>(cap: usize, entries: Vec<(K, V)>) -> LruCache<K, V> {
    let mut c = new_lru(cap);
    for (k, v) in entries {
        c.put(k, v);
    }
    c
}

/// Saved with its entries borrowed ([`lru_entries`]), restored owned.
#[derive(Serialize, Deserialize)]
struct Saved<E> {
    cap: usize,
    evicted: u64,
    /// Oldest first, so re-inserting in order restores recency.
    entries: E,
}

impl<V: Serialize> Serialize for Bounded<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Saved {
            cap: self.map.cap().get(),
            evicted: self.evicted,
            entries: lru_entries(&self.map),
        }
        .serialize(s)
    }
}

impl<'de, V: DeserializeOwned> Deserialize<'de> for Bounded<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let saved = Saved::<Vec<(String, V)>>::deserialize(d)?;
        Ok(Bounded {
            map: load_lru(saved.cap, saved.entries),
            evicted: saved.evicted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_recency() {
        let mut b = Bounded::new(2);
        b.put("a".into(), 1);
        b.put("b".into(), 2);
        b.get_mut("a");
        let json = serde_json::to_string(&b).unwrap();
        let mut back: Bounded<i32> = serde_json::from_str(&json).unwrap();
        back.put("c".into(), 3);
        assert!(back.peek("a").is_some() && back.peek("b").is_none());
        assert_eq!(back.evicted(), 1);
    }

    /// Saved borrowed, the bytes are those of the copied entries.
    #[test]
    fn borrowed_entries_save_the_bytes_copies_did() {
        let mut b = Bounded::new(3);
        b.put("a".into(), vec![1u64, 300]);
        b.put("b".into(), vec![2]);
        b.get_mut("a");
        let copied = Saved {
            cap: 3,
            evicted: 0,
            entries: lru_entries(&b.map)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect::<Vec<_>>(),
        };
        assert_eq!(copied.entries[0].0, "b", "oldest first");
        assert_eq!(
            postcard::to_stdvec(&b).unwrap(),
            postcard::to_stdvec(&copied).unwrap()
        );
    }
}

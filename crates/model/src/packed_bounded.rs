//! A [`Bounded`] map whose values are packed while idle.
//!
//! Keyed state that outlives its last use by hours (an open instance's
//! behaviour record, a credential's first use) is mostly idle; this keeps
//! each value [`Packable`], remembers which keys it holds unpacked, and
//! packs those unused for a whole round when its owner calls
//! [`PackedBounded::pack_idle`] (once per round of event time). Saved
//! exactly as a `Bounded` of the values' saved bytes, so what is packed
//! never changes a checkpoint.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Bounded, Packable, Seen};

/// LRU map of values packed while idle.
#[derive(Debug)]
pub struct PackedBounded<V> {
    map: Bounded<Packable<V>>,
    /// Keys whose value is held unpacked: always keys of `map`, so it is
    /// bounded by the map's cap even when no packing round ever runs.
    held: HashSet<String>,
}

impl<V: Serialize + DeserializeOwned + Default> PackedBounded<V> {
    /// An empty map holding at most `cap` values.
    pub fn new(cap: usize) -> Self {
        Self {
            map: Bounded::new(cap),
            held: HashSet::new(),
        }
    }

    /// The value of `k` to change (unpacked in place), marked recently used.
    pub fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        let kept = self.map.get_mut(k)?;
        if kept.is_packed() {
            self.held.insert(k.to_owned());
        }
        Some(kept.get_mut())
    }

    /// The value of `k`, without unpacking it or touching the order.
    pub fn peek(&self, k: &str) -> Option<Seen<'_, V>> {
        Some(self.map.peek(k)?.peek())
    }

    /// Whether `k` is present.
    pub fn contains(&self, k: &str) -> bool {
        self.map.peek(k).is_some()
    }

    /// Whether `k`'s value is packed (absent: no).
    pub fn is_packed(&self, k: &str) -> bool {
        self.map.peek(k).is_some_and(Packable::is_packed)
    }

    /// Insert (held) as the most recently used; returns the entry that
    /// had to go to make room, as [`Bounded::put`] does.
    pub fn put(&mut self, k: String, v: V) -> Option<(String, V)> {
        if !self.held.contains(&k) {
            self.held.insert(k.clone());
        }
        let gone = self.map.put(k, Packable::new(v))?;
        self.held.remove(&gone.0);
        Some((gone.0, gone.1.into_inner()))
    }

    /// Remove, unpacked.
    pub fn pop(&mut self, k: &str) -> Option<V> {
        self.held.remove(k);
        self.map.pop(k).map(Packable::into_inner)
    }

    /// Remove least recently used values while `stale` holds for them
    /// (packed ones are read without being unpacked in place).
    pub fn pop_lru_while(&mut self, mut stale: impl FnMut(&V) -> bool) -> usize {
        let popped = self.map.pop_lru_while(|kept| stale(&kept.peek()));
        if popped > 0 {
            let map = &self.map;
            self.held.retain(|k| map.peek(k).is_some());
        }
        popped
    }

    /// Values kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none are kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Values dropped for room.
    pub fn evicted(&self) -> u64 {
        self.map.evicted()
    }

    /// One packing round: pack every held value idle long enough
    /// ([`crate::rounds_before_packing`]).
    pub fn pack_idle(&mut self) {
        let after = crate::rounds_before_packing(self.held.len());
        let map = &mut self.map;
        self.held
            .retain(|k| map.peek_mut(k).is_some_and(|v| v.pack_if_unused(after)));
    }
}

impl<V: Serialize + Clone> Serialize for PackedBounded<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

/// Restored packed (see [`Packable`]).
impl<'de, V: DeserializeOwned> Deserialize<'de> for PackedBounded<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            map: Bounded::deserialize(d)?,
            held: HashSet::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::IDLE_ROUNDS_BEFORE_PACKING;

    type Value = (String, u64);

    /// `n` packing rounds with nothing used.
    fn rounds(m: &mut PackedBounded<Value>, n: u8) {
        for _ in 0..n {
            m.pack_idle();
        }
    }

    fn value(n: u64) -> Value {
        ("support-agent-000000000042".to_owned(), n)
    }

    #[test]
    fn a_value_unused_for_whole_rounds_is_packed_and_comes_back_the_same() {
        let mut m = PackedBounded::new(4);
        m.put("a".into(), value(1));
        m.put("b".into(), value(2));
        m.pack_idle();
        assert!(!m.is_packed("a"), "used since the last round");
        m.get_mut("b").unwrap().1 += 1;
        // Taken out to work on and put back, as the detectors' engine does.
        let a = m.pop("a").unwrap();
        m.put("a".into(), a);
        m.pack_idle();
        assert!(!m.is_packed("a") && !m.is_packed("b"), "used in this round");
        rounds(&mut m, IDLE_ROUNDS_BEFORE_PACKING - 1);
        m.get_mut("b").unwrap().1 += 1;
        m.pack_idle();
        assert!(m.is_packed("a"), "idle for the rounds a held value waits");
        assert!(!m.is_packed("b"), "used in this round");
        assert_eq!(m.peek("a").unwrap().1, 1);
        assert!(m.is_packed("a"), "peeking does not unpack");
        m.get_mut("a").unwrap().1 += 10;
        assert!(!m.is_packed("a"));
        rounds(&mut m, IDLE_ROUNDS_BEFORE_PACKING + 1);
        assert!(m.is_packed("a") && m.is_packed("b"));
        assert_eq!(m.pop("a").unwrap(), value(11));
        assert_eq!(m.pop("b").unwrap(), value(4));
    }

    #[test]
    fn packing_changes_no_saved_byte_nor_the_order() {
        let mut packed = PackedBounded::new(2);
        let mut plain = PackedBounded::new(2);
        for m in [&mut packed, &mut plain] {
            m.put("a".into(), value(1));
            m.put("b".into(), value(2));
        }
        rounds(&mut packed, IDLE_ROUNDS_BEFORE_PACKING + 1);
        assert!(packed.is_packed("a"));
        let saved = postcard::to_stdvec(&plain).unwrap();
        assert_eq!(postcard::to_stdvec(&packed).unwrap(), saved);
        let mut back: PackedBounded<Value> = postcard::from_bytes(&saved).unwrap();
        assert!(back.is_packed("a"), "restored packed");
        // The least recently used goes first, packed or not.
        assert_eq!(
            back.put("c".into(), value(3)).unwrap(),
            ("a".into(), value(1))
        );
        assert_eq!(back.pop_lru_while(|v| v.1 < 3), 1, "b is stale, c is not");
        assert_eq!((back.len(), back.evicted()), (1, 1));
    }

    #[test]
    fn keys_held_stay_within_the_cap_without_a_packing_round() {
        let mut m = PackedBounded::new(8);
        for n in 0..1_000 {
            m.put(format!("k{n}"), value(n));
            if n % 3 == 0 {
                m.pop(&format!("k{n}"));
            }
        }
        assert_eq!(m.pop_lru_while(|v| v.1 < 995), 4, "k995, k997, k998 stay");
        assert_eq!(m.held.len(), m.len());
        assert!(m.held.iter().all(|k| m.contains(k)));
    }

    #[test]
    fn a_long_value_packed_in_the_map_is_compressed_and_reads_back() {
        let long = ("support-agent-".repeat(20), 7);
        let mut m = PackedBounded::new(2);
        m.put("a".into(), long.clone());
        rounds(&mut m, IDLE_ROUNDS_BEFORE_PACKING + 1);
        assert!(matches!(m.map.peek("a"), Some(Packable::Compressed(_))));
        assert_eq!(*m.peek("a").unwrap(), long);
        assert_eq!(m.pop("a").unwrap(), long);
    }
}

//! The open instances' behaviour records, packed while idle as the
//! detectors' own state is ([`crate::per_instance`]): an instance waiting
//! for its next tool call keeps its record as the bytes a checkpoint would
//! save ([`Packable`]), not as a struct of strings, vectors and evidence.

use delegraph_model::{Bounded, Packable};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::instance::Instance;
use crate::per_instance::Seen;

/// The open instances, least recently active first to go.
pub(crate) struct OpenInstances {
    map: Bounded<Packable<Instance>>,
    /// Instances whose record is held (may repeat, or name a closed one).
    held: Vec<String>,
}

impl OpenInstances {
    /// Room for `cap` open instances.
    pub fn new(cap: usize) -> Self {
        Self {
            map: Bounded::new(cap),
            held: Vec::new(),
        }
    }

    /// Take `id`'s record out (unpacked) to work on it.
    pub fn pop(&mut self, id: &str) -> Option<Instance> {
        self.map.pop(id).map(Packable::into_inner)
    }

    /// Put `id`'s record (back) as the most recently active; returns the
    /// one that had to go to make room.
    pub fn put(&mut self, id: String, mut p: Instance) -> Option<Instance> {
        if !p.listed {
            p.listed = true;
            self.held.push(id.clone());
        }
        self.map
            .put(id, Packable::new(p))
            .map(|(_, gone)| gone.into_inner())
    }

    /// `id`'s record, without making it more recent.
    pub fn peek(&self, id: &str) -> Option<Seen<'_, Instance>> {
        Some(self.map.peek(id)?.peek())
    }

    /// Whether `id` is open.
    pub fn contains(&self, id: &str) -> bool {
        self.map.peek(id).is_some()
    }

    /// Instances open.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Instances dropped for room before they closed.
    pub fn evicted(&self) -> u64 {
        self.map.evicted()
    }

    /// Pack every record not put back since the last round.
    pub fn pack_idle(&mut self) {
        let mut held = std::mem::take(&mut self.held);
        held.sort_unstable();
        held.dedup();
        for id in held {
            if self
                .map
                .peek_mut(&id)
                .is_some_and(|kept| kept.pack_if_unused())
            {
                self.held.push(id);
            }
        }
    }
}

impl Serialize for OpenInstances {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

/// Restored packed (see [`Packable`]).
impl<'de> Deserialize<'de> for OpenInstances {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            map: Bounded::deserialize(d)?,
            held: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn instance(id: &str, first_seen: i64) -> Instance {
        Instance {
            instance: id.into(),
            root: id.into(),
            agent_id: Some("support-agent".into()),
            first_seen,
            last_seen: first_seen,
            recent_tools: vec!["search_kb".into()],
            ..Instance::default()
        }
    }

    fn is_packed(o: &OpenInstances, id: &str) -> bool {
        o.map.peek(id).is_some_and(|k| k.packed().is_some())
    }

    #[test]
    fn a_record_not_put_back_for_a_whole_round_is_packed_and_comes_back_the_same() {
        let mut o = OpenInstances::new(10);
        o.put("a".into(), instance("a", 1));
        o.put("b".into(), instance("b", 2));
        let saved = postcard::to_stdvec(&o).unwrap();
        o.pack_idle();
        let b = o.pop("b").unwrap();
        o.put("b".into(), b);
        o.pack_idle();
        assert!(is_packed(&o, "a"));
        assert!(!is_packed(&o, "b"), "put back in this round");
        assert_eq!(postcard::to_stdvec(&o).unwrap(), saved, "same bytes packed");
        assert_eq!(o.peek("a").unwrap().recent_tools, ["search_kb"]);
        assert!(is_packed(&o, "a"), "peeking does not unpack");
        let a = o.pop("a").unwrap();
        assert_eq!((a.instance.as_str(), a.first_seen), ("a", 1));
        o.put("a".into(), a);
        o.pack_idle();
        assert!(!is_packed(&o, "a"), "unpacked and put back: used again");
    }

    #[test]
    fn restored_records_are_packed_and_keep_their_order() {
        let mut o = OpenInstances::new(2);
        o.put("a".into(), instance("a", 1));
        o.put("b".into(), instance("b", 2));
        let mut back: OpenInstances =
            postcard::from_bytes(&postcard::to_stdvec(&o).unwrap()).unwrap();
        assert!(is_packed(&back, "a") && is_packed(&back, "b"));
        let gone = back.put("c".into(), instance("c", 3)).unwrap();
        assert_eq!(gone.instance, "a", "least recently active goes first");
        assert!(postcard::from_bytes::<OpenInstances>(&[2, 0, 1, 1, b'a', 1, 9]).is_err());
    }
}

//! A detector's own state per open instance, by the instance's
//! [`SlotId`], packed into its saved bytes while the instance is idle.
//!
//! Most open instances are idle: an agent's session waits between tool
//! calls, and an instance with no known end stays open for
//! `idle_close_secs` (an hour) after its last event. Held as values, the
//! states of every detector cost an idle instance about a kilobyte, most
//! of it empty sets and `None`s; packed (postcard, as the checkpoint saves
//! them) they cost their few bytes of content. The engine packs every
//! state its instance left unused for a whole round
//! ([`PerInstance::pack_idle`]); the next event unpacks it. Packing is the
//! checkpoint's own encoding, so a packed state is exactly the state that
//! a restart would continue from, and the results are the same whether
//! or when it was packed.

use std::borrow::Cow;

use delegraph_model::Packable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::detector::SlotId;

pub(crate) use delegraph_model::Seen;

/// A detector's state per instance. Saved in slot order as each state's
/// bytes, so the same state gives the same bytes held or packed. No state
/// and an empty one (`T::default()`) must mean the same to its detector:
/// packing drops empty ones.
#[derive(Debug)]
pub(crate) struct PerInstance<T> {
    by_slot: Vec<Option<Packable<T>>>,
    /// Slots whose state is held (may repeat, or name one no longer held).
    held: Vec<u32>,
    /// Handed out for [`SlotId::NONE`].
    scratch: T,
}

impl<T: Default> Default for PerInstance<T> {
    fn default() -> Self {
        Self {
            by_slot: Vec::new(),
            held: Vec::new(),
            scratch: T::default(),
        }
    }
}

/// A detector's state for one instance: held for an open instance, a
/// throw-away for a late event of a closed one.
pub(crate) enum Slot<'a, T> {
    Held(&'a mut T),
    Scratch(T),
}

impl<T> std::ops::Deref for Slot<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Slot::Held(t) => t,
            Slot::Scratch(t) => t,
        }
    }
}

impl<T> std::ops::DerefMut for Slot<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match self {
            Slot::Held(t) => t,
            Slot::Scratch(t) => t,
        }
    }
}

impl<T: Serialize + DeserializeOwned + Default> PerInstance<T> {
    /// The state of the instance in `slot` (created empty), or a scratch
    /// one when the instance is no longer open.
    pub fn slot(&mut self, slot: SlotId, open: bool) -> Slot<'_, T> {
        match slot.index() {
            Some(_) if open => Slot::Held(self.get_mut(slot)),
            _ => Slot::Scratch(T::default()),
        }
    }

    /// The state of the instance in `slot`, created empty or unpacked.
    pub fn get_mut(&mut self, slot: SlotId) -> &mut T {
        let Some(i) = slot.index() else {
            self.scratch = T::default();
            return &mut self.scratch;
        };
        if i >= self.by_slot.len() {
            self.by_slot.resize_with(i + 1, || None);
        }
        let entry = &mut self.by_slot[i];
        if entry.as_ref().is_none_or(Packable::is_packed) {
            self.held.push(i as u32);
        }
        entry
            .get_or_insert_with(|| Packable::new(T::default()))
            .get_mut()
    }

    /// The state of the instance in `slot`, if it has any.
    pub fn get(&self, slot: SlotId) -> Option<Seen<'_, T>> {
        Some(self.by_slot.get(slot.index()?)?.as_ref()?.peek())
    }

    /// Pack every held state idle long enough
    /// ([`delegraph_model::rounds_before_packing`]); an empty one is
    /// dropped.
    pub fn pack_idle(&mut self) {
        let mut held = std::mem::take(&mut self.held);
        held.sort_unstable();
        held.dedup();
        let after = delegraph_model::rounds_before_packing(held.len());
        let empty = postcard::to_stdvec(&T::default()).unwrap_or_default();
        for i in held {
            let Some(entry) = self.by_slot.get_mut(i as usize) else {
                continue;
            };
            let Some(state) = entry.as_mut() else {
                continue;
            };
            if state.pack_if_unused(after) {
                self.held.push(i);
            } else if state.is_packed_as(&empty) {
                *entry = None;
            }
        }
    }
}

impl<T> PerInstance<T> {
    /// Drop the state of the instance in `slot`.
    pub fn remove(&mut self, slot: SlotId) {
        if let Some(entry) = slot.index().and_then(|i| self.by_slot.get_mut(i)) {
            *entry = None;
        }
    }
}

/// An empty state is not saved, as it is not kept packed: no state and an
/// empty one are the same to every detector.
impl<T: Serialize + Default> Serialize for PerInstance<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = postcard::to_stdvec(&T::default()).map_err(serde::ser::Error::custom)?;
        let mut entries: Vec<(u32, Cow<'_, [u8]>)> = Vec::new();
        for (i, state) in self.by_slot.iter().enumerate() {
            let Some(state) = state else {
                continue;
            };
            let bytes = state.encoded().map_err(serde::ser::Error::custom)?;
            if *bytes != *empty {
                entries.push((i as u32, bytes));
            }
        }
        // Each state's bytes written whole (see `Packable`'s `Serialize`).
        s.collect_seq(
            entries
                .iter()
                .map(|(slot, bytes)| (slot, serde_bytes::Bytes::new(bytes))),
        )
    }
}

/// Restored packed: a state is decoded when its instance's next event
/// comes (a restart need not decode the idle ones at all).
impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for PerInstance<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut state = Self::default();
        for (slot, packed) in Vec::<(u32, Packable<T>)>::deserialize(d)? {
            // `SlotId::NONE`'s number.
            if slot == u32::MAX {
                return Err(serde::de::Error::custom("state saved for no slot"));
            }
            let i = slot as usize;
            if i >= state.by_slot.len() {
                state.by_slot.resize_with(i + 1, || None);
            }
            state.by_slot[i] = Some(packed);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use delegraph_model::IDLE_ROUNDS_BEFORE_PACKING;

    type State = (Vec<String>, u64);

    fn slot(n: u32) -> SlotId {
        postcard::from_bytes(&postcard::to_stdvec(&n).unwrap()).unwrap()
    }

    fn whole_rounds(p: &mut PerInstance<State>, n: u8) {
        for _ in 0..n {
            p.pack_idle();
        }
    }

    fn is_packed(p: &PerInstance<State>, n: usize) -> bool {
        p.by_slot[n].as_ref().is_some_and(Packable::is_packed)
    }

    #[test]
    fn a_state_unused_for_whole_rounds_is_packed_and_comes_back_the_same() {
        let mut p = PerInstance::<State>::default();
        p.get_mut(slot(0)).0.push("read_inbox".into());
        p.get_mut(slot(0)).1 = 7;
        p.get_mut(slot(2)).1 = 1;
        let _ = p.get_mut(slot(3));
        let saved = postcard::to_stdvec(&p).unwrap();
        p.pack_idle();
        assert!(!is_packed(&p, 0), "used since the last round: still held");
        p.get_mut(slot(2)).1 += 1;
        // Few are held: a state waits the rounds a held one waits.
        whole_rounds(&mut p, IDLE_ROUNDS_BEFORE_PACKING);
        assert!(is_packed(&p, 0));
        assert!(!is_packed(&p, 2), "used in this round");
        assert!(p.by_slot[3].is_none(), "empty: dropped");
        assert!(p.by_slot[1].is_none());
        p.get_mut(slot(2)).1 -= 1;
        assert_eq!(postcard::to_stdvec(&p).unwrap(), saved, "same bytes packed");
        let read = p.get(slot(0)).unwrap();
        assert_eq!(*read, (vec!["read_inbox".to_owned()], 7));
        drop(read);
        assert!(is_packed(&p, 0), "reading does not unpack");
        assert_eq!(p.get_mut(slot(0)).1, 7);
        assert!(!is_packed(&p, 0));
        assert!(p.get(slot(3)).is_none());
    }

    #[test]
    fn a_slot_forgotten_and_reused_in_one_round_is_not_packed_early() {
        let mut p = PerInstance::<State>::default();
        p.get_mut(slot(0)).1 = 1;
        p.pack_idle();
        p.remove(slot(0));
        p.get_mut(slot(0)).1 = 2;
        p.pack_idle();
        assert!(!is_packed(&p, 0), "its new instance used it this round");
        whole_rounds(&mut p, IDLE_ROUNDS_BEFORE_PACKING);
        assert!(is_packed(&p, 0));
    }

    /// Written whole, each state's bytes are what the element-by-element
    /// encoding of (slot, bytes) pairs gave: older checkpoints still load.
    #[test]
    fn saved_states_are_the_element_by_element_encoding_of_their_bytes() {
        let mut p = PerInstance::<State>::default();
        p.get_mut(slot(0)).0.push("read_inbox".into());
        p.get_mut(slot(4)).1 = 300;
        let by_element: Vec<(u32, Vec<u8>)> = vec![
            (0, postcard::to_stdvec(&(vec!["read_inbox"], 0u64)).unwrap()),
            (
                4,
                postcard::to_stdvec(&(Vec::<String>::new(), 300u64)).unwrap(),
            ),
        ];
        let saved = postcard::to_stdvec(&p).unwrap();
        assert_eq!(saved, postcard::to_stdvec(&by_element).unwrap());
        let mut back: PerInstance<State> = postcard::from_bytes(&saved).unwrap();
        assert_eq!(back.get_mut(slot(4)).1, 300);
    }

    #[test]
    fn restored_states_are_packed_and_a_damaged_one_is_refused() {
        let mut p = PerInstance::<State>::default();
        p.get_mut(slot(1)).0.push("x".into());
        let saved = postcard::to_stdvec(&p).unwrap();
        let mut back: PerInstance<State> = postcard::from_bytes(&saved).unwrap();
        assert!(is_packed(&back, 1));
        assert_eq!(back.get_mut(slot(1)).0, ["x"]);
        let damaged: Vec<(u32, Vec<u8>)> = vec![(1, vec![9])];
        let bytes = postcard::to_stdvec(&damaged).unwrap();
        assert!(postcard::from_bytes::<PerInstance<State>>(&bytes).is_err());
    }
}

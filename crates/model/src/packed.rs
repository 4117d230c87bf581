//! A value kept as its checkpoint bytes while idle.
//!
//! Most of what a stream holds per agent instance is idle: a session waits
//! between tool calls, and an instance with no known end stays open for an
//! hour after its last event. Held as structs, an idle instance's record,
//! graph and detector state cost kilobytes (string headers, vectors, empty
//! sets, allocator rounding); packed with postcard, as a checkpoint saves
//! them, they cost their content. Owners keep a list of what they hold and
//! call [`Packable::pack_if_unused`] once per round of event time; the next
//! use unpacks. How many idle rounds a value waits depends on how many are
//! held ([`rounds_before_packing`]). Packing is the checkpoint's own
//! encoding, so a packed value is exactly what a restart would continue
//! from: results do not depend on whether or when a value was packed.
//!
//! Packed bytes of a few hundred (an instance's graph, its behaviour
//! record) repeat their ids and event times, so they are kept LZ4
//! compressed when that is shorter: a third less for those records, for a
//! microsecond per pack. The checkpoint saves them uncompressed.

use std::borrow::Cow;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value held in memory or packed into its saved bytes.
#[derive(Debug, Clone)]
pub enum Packable<T> {
    /// In use.
    Held {
        /// The value.
        value: Box<T>,
        /// Packing rounds since it was last used.
        idle_rounds: u8,
    },
    /// Packed into its saved bytes.
    Packed(Box<[u8]>),
    /// Packed into its saved bytes, LZ4 compressed with their length first.
    Compressed(Box<[u8]>),
}

/// Idle rounds a held value waits before it is packed while few are held:
/// a value unpacked by its next use soon after is packed and unpacked
/// again for nothing. An agent calling tools minutes apart was repacked
/// between its calls, and packing took about a third of stitching and
/// detection on the simulated fleet; a task that ended is closed (five
/// minutes later) before it would be packed.
pub const IDLE_ROUNDS_BEFORE_PACKING: u8 = 5;

/// Held values beyond which one idle round is enough: memory stays bounded
/// by a round's worth of new values when they come faster than a few
/// minutes' worth fits.
pub const HELD_BEFORE_EAGER_PACKING: usize = 20_000;

/// Idle rounds an owner holding `held` values has each wait before it is
/// packed (see the two constants).
pub fn rounds_before_packing(held: usize) -> u8 {
    if held > HELD_BEFORE_EAGER_PACKING {
        1
    } else {
        IDLE_ROUNDS_BEFORE_PACKING
    }
}

/// Saved bytes shorter than this are kept as they are: LZ4 gains nothing
/// on them.
const COMPRESS_FROM: usize = 48;

/// What to keep for saved bytes `bytes`: compressed when shorter.
fn packed_form<T>(bytes: Vec<u8>) -> Packable<T> {
    if bytes.len() >= COMPRESS_FROM {
        let squeezed = lz4_flex::block::compress_prepend_size(&bytes);
        if squeezed.len() < bytes.len() {
            return Packable::Compressed(squeezed.into_boxed_slice());
        }
    }
    Packable::Packed(bytes.into_boxed_slice())
}

/// The saved bytes a compressed value stands for. They were compressed
/// here, so decompression fails only on corrupted memory; nothing stands
/// in then, and decoding that yields the type's empty value.
fn decompressed(squeezed: &[u8]) -> Vec<u8> {
    let bytes = lz4_flex::block::decompress_size_prepended(squeezed);
    debug_assert!(bytes.is_ok(), "a packed value does not decompress");
    bytes.unwrap_or_default()
}

/// A value read without unpacking it in place: borrowed when held,
/// decoded when packed.
pub enum Seen<'a, T> {
    /// The held value.
    Held(&'a T),
    /// A copy decoded from the packed bytes.
    Unpacked(T),
}

impl<T> Deref for Seen<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Seen::Held(t) => t,
            Seen::Unpacked(t) => t,
        }
    }
}

/// The value packed bytes stand for. They were encoded from a value of the
/// same type (and checked when restored), so decoding fails only on
/// corrupted memory; an empty value stands in rather than stopping the
/// stream.
fn unpack<T: DeserializeOwned + Default>(bytes: &[u8]) -> T {
    let value = postcard::from_bytes(bytes);
    debug_assert!(value.is_ok(), "a packed value does not decode");
    value.unwrap_or_default()
}

impl<T: Serialize + DeserializeOwned + Default> Packable<T> {
    /// `value`, held and used.
    pub fn new(value: T) -> Self {
        Packable::Held {
            value: Box::new(value),
            idle_rounds: 0,
        }
    }

    /// The value to change, unpacked in place if need be; marks it used.
    pub fn get_mut(&mut self) -> &mut T {
        if let Some(bytes) = self.packed() {
            *self = Packable::new(unpack(&bytes));
        }
        match self {
            Packable::Held { value, idle_rounds } => {
                *idle_rounds = 0;
                value
            }
            Packable::Packed(_) | Packable::Compressed(_) => unreachable!("unpacked just above"),
        }
    }

    /// The value, without unpacking it in place.
    pub fn peek(&self) -> Seen<'_, T> {
        match self {
            Packable::Held { value, .. } => Seen::Held(value),
            _ => Seen::Unpacked(unpack(&self.packed().unwrap_or_default())),
        }
    }

    /// The value, owned.
    pub fn into_inner(self) -> T {
        match self {
            Packable::Held { value, .. } => *value,
            packed => unpack(&packed.packed().unwrap_or_default()),
        }
    }

    /// One packing round: a value unused for `after` whole rounds before
    /// this one is packed, any other stays held (one more round idle).
    /// Returns whether it is still held. A value that cannot be encoded
    /// stays held: the checkpoint reports it.
    pub fn pack_if_unused(&mut self, after: u8) -> bool {
        match self {
            Packable::Held { idle_rounds, .. } if *idle_rounds < after => {
                *idle_rounds += 1;
                true
            }
            Packable::Held { value, .. } => match postcard::to_stdvec(&**value) {
                Ok(bytes) => {
                    *self = packed_form(bytes);
                    false
                }
                Err(_) => true,
            },
            Packable::Packed(_) | Packable::Compressed(_) => false,
        }
    }
}

impl<T> Packable<T> {
    /// Whether it is packed.
    pub fn is_packed(&self) -> bool {
        !matches!(self, Packable::Held { .. })
    }

    /// Whether it is packed into exactly `bytes` (saved bytes).
    pub fn is_packed_as(&self, bytes: &[u8]) -> bool {
        match self {
            Packable::Packed(b) => **b == *bytes,
            Packable::Compressed(s) => bytes.len() >= COMPRESS_FROM && decompressed(s) == bytes,
            Packable::Held { .. } => false,
        }
    }

    /// Its saved bytes when packed.
    pub fn packed(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Packable::Packed(bytes) => Some(Cow::Borrowed(bytes)),
            Packable::Compressed(squeezed) => Some(Cow::Owned(decompressed(squeezed))),
            Packable::Held { .. } => None,
        }
    }
}

impl<T: Serialize> Packable<T> {
    /// Its saved bytes, the same held or packed.
    pub fn encoded(&self) -> Result<Cow<'_, [u8]>, postcard::Error> {
        match self {
            Packable::Held { value, .. } => Ok(Cow::Owned(postcard::to_stdvec(&**value)?)),
            packed => Ok(packed.packed().unwrap_or_default()),
        }
    }
}

/// Saved as its bytes, written whole: as a sequence of `u8`, postcard
/// writes them one call a byte (the same bytes, several times slower).
impl<T: Serialize> Serialize for Packable<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.encoded().map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&bytes)
    }
}

/// Restored packed, and decoded once now so that a damaged checkpoint is
/// refused when it is read rather than when the value is next used.
impl<'de, T: DeserializeOwned> Deserialize<'de> for Packable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?.into_vec();
        postcard::from_bytes::<T>(&bytes).map_err(serde::de::Error::custom)?;
        Ok(packed_form(bytes))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    type Value = (Vec<String>, u64);

    #[test]
    fn a_value_unused_for_a_whole_round_is_packed_and_comes_back_the_same() {
        let mut p = Packable::new((vec!["search_kb".to_owned()], 7));
        let saved = postcard::to_stdvec(&p).unwrap();
        assert!(p.pack_if_unused(1), "used since the last round");
        assert!(!p.pack_if_unused(1));
        assert!(p.packed().is_some());
        assert_eq!(postcard::to_stdvec(&p).unwrap(), saved, "same bytes packed");
        assert_eq!(p.peek().1, 7);
        assert!(p.packed().is_some(), "peeking does not unpack");
        p.get_mut().1 += 1;
        assert!(p.packed().is_none());
        assert!(p.pack_if_unused(1), "used again");
        assert_eq!(p.into_inner(), (vec!["search_kb".to_owned()], 8));
    }

    #[test]
    fn a_value_waits_the_rounds_asked_and_its_use_starts_them_again() {
        let mut p = Packable::new((vec!["search_kb".to_owned()], 7));
        for round in 0..3 {
            assert!(p.pack_if_unused(3), "held in idle round {round}");
        }
        p.get_mut().1 += 1;
        for round in 0..3 {
            assert!(p.pack_if_unused(3), "held again in idle round {round}");
        }
        assert!(!p.pack_if_unused(3), "packed after three whole idle rounds");
        assert_eq!(rounds_before_packing(10), IDLE_ROUNDS_BEFORE_PACKING);
        assert_eq!(rounds_before_packing(HELD_BEFORE_EAGER_PACKING + 1), 1);
    }

    #[test]
    fn a_long_value_is_kept_compressed_and_saved_as_its_plain_bytes() {
        let long = (vec!["support-agent-000000000042".to_owned(); 8], 9);
        let mut p = Packable::new(long.clone());
        let saved = postcard::to_stdvec(&p).unwrap();
        p.pack_if_unused(1);
        p.pack_if_unused(1);
        let Packable::Compressed(squeezed) = &p else {
            panic!("repeated ids compress")
        };
        assert!(
            squeezed.len() < saved.len() / 2,
            "{} of {}",
            squeezed.len(),
            saved.len()
        );
        assert_eq!(
            postcard::to_stdvec(&p).unwrap(),
            saved,
            "saved uncompressed"
        );
        assert_eq!(*p.peek(), long);
        let back: Packable<Value> = postcard::from_bytes(&saved).unwrap();
        assert!(
            matches!(back, Packable::Compressed(_)),
            "restored compressed"
        );
        assert_eq!(back.into_inner(), long);
        assert_eq!(*p.get_mut(), long);
    }

    /// Written whole, the saved bytes are those the element-by-element
    /// encoding of the same bytes gave (older checkpoints still load).
    #[test]
    fn saved_bytes_are_the_element_by_element_encoding_of_the_value() {
        let value: Value = (vec!["support-agent-000000000042".to_owned(); 8], 9);
        let plain = postcard::to_stdvec(&value).unwrap();
        let mut p = Packable::new(value.clone());
        let held = postcard::to_stdvec(&p).unwrap();
        assert_eq!(held, postcard::to_stdvec(&plain).unwrap());
        p.pack_if_unused(1);
        p.pack_if_unused(1);
        assert!(p.packed().is_some());
        assert_eq!(postcard::to_stdvec(&p).unwrap(), held);
        let back: Packable<Value> = postcard::from_bytes(&held).unwrap();
        assert_eq!(back.into_inner(), value);
    }

    #[test]
    fn restored_values_are_packed_and_a_damaged_one_is_refused() {
        let p = Packable::new((vec!["x".to_owned()], 1));
        let back: Packable<Value> =
            postcard::from_bytes(&postcard::to_stdvec(&p).unwrap()).unwrap();
        assert!(back.packed().is_some());
        assert_eq!(back.into_inner().0, ["x"]);
        let damaged = postcard::to_stdvec(&vec![9u8]).unwrap();
        assert!(postcard::from_bytes::<Packable<Value>>(&damaged).is_err());
    }
}

//! A set of strings kept as a sorted vector, for the small sets an open
//! instance holds (the values it used, the words of its request).
//!
//! A `BTreeSet` allocates a whole node (about 280 bytes) for its first
//! element; most of these sets hold a handful of strings or none, and an
//! instance holds seven of them, so at a million open instances the nodes
//! alone would take gigabytes. Iteration is in sorted order, as a
//! `BTreeSet`'s, and the serialized form is the same sequence.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};

/// Sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct SmallSet(Vec<String>);

impl SmallSet {
    /// Add `value`; false when it was already there. The vector grows one
    /// element at a time while short, so a set of one holds one.
    pub fn insert(&mut self, value: String) -> bool {
        match self.0.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                if self.0.len() == self.0.capacity() && self.0.len() < 4 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(at, value);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In sorted order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.binary_search_by(|v| v.as_str().cmp(value)).is_ok()
    }

    /// As the `BTreeSet` the baselines learn.
    pub fn to_btree(&self) -> BTreeSet<String> {
        self.0.iter().cloned().collect()
    }

    /// Those of its values `other` does not hold.
    pub fn difference(&self, other: &SmallSet) -> BTreeSet<String> {
        self.iter()
            .filter(|v| !other.contains(v))
            .cloned()
            .collect()
    }
}

impl<'a> IntoIterator for &'a SmallSet {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de> Deserialize<'de> for SmallSet {
    /// Sorted and deduplicated again: saved state is not trusted to be.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut values = Vec::<String>::deserialize(d)?;
        values.sort_unstable();
        values.dedup();
        values.shrink_to_fit();
        Ok(Self(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_values_sorted_and_once_as_a_btree_set_does() {
        let words = ["pay", "bill", "water", "pay", "a", "bill", "zeta", "m"];
        let mut small = SmallSet::default();
        let mut btree = BTreeSet::new();
        for w in words {
            assert_eq!(small.insert(w.to_owned()), btree.insert(w.to_owned()));
        }
        assert_eq!(small.to_btree(), btree);
        assert!(small.iter().eq(btree.iter()));
        assert!(small.contains("water") && !small.contains("wat"));
        let other: SmallSet = ["a", "pay"].iter().fold(SmallSet::default(), |mut s, w| {
            s.insert((*w).to_owned());
            s
        });
        let expected: BTreeSet<String> = btree.difference(&other.to_btree()).cloned().collect();
        assert_eq!(small.difference(&other), expected);
    }

    #[test]
    fn reads_back_what_a_btree_set_saved_and_sorts_what_was_not() {
        let btree: BTreeSet<String> = ["b", "a", "c"].map(str::to_owned).into();
        let saved = postcard::to_stdvec(&btree).unwrap();
        let small: SmallSet = postcard::from_bytes(&saved).unwrap();
        assert_eq!(small.to_btree(), btree);
        assert_eq!(postcard::to_stdvec(&small).unwrap(), saved);
        let unsorted = postcard::to_stdvec(&vec!["b", "a", "b"]).unwrap();
        let small: SmallSet = postcard::from_bytes(&unsorted).unwrap();
        assert!(small.iter().eq(["a", "b"].iter()));
    }

    #[test]
    fn a_set_of_one_holds_one() {
        let mut s = SmallSet::default();
        s.insert("x".to_owned());
        assert_eq!(s.0.capacity(), 1);
    }
}

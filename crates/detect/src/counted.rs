//! Counting into maps keyed by names that recur: a baseline or intent
//! model learns the same few dimensions, metrics, tools and words from
//! every closed instance, so the key is copied only the first time.

use std::collections::BTreeMap;

/// `map[key]`, inserted as the default when missing; `key` is copied only
/// then (`BTreeMap::entry` wants an owned key even when it is present).
pub(crate) fn entry_of<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("{key} is in the map: found or inserted above"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_added_once_and_a_present_one_reused() {
        let mut m: BTreeMap<String, u32> = BTreeMap::new();
        *entry_of(&mut m, "a") += 1;
        *entry_of(&mut m, "a") += 2;
        *entry_of(&mut m, "b") += 5;
        assert_eq!(m, BTreeMap::from([("a".into(), 3), ("b".into(), 5)]));
    }
}

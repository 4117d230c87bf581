//! The stitcher's indexes as a checkpoint keeps them: each binding once,
//! and every key by the number of its binding, with when it was last used. The keys of one instance
//! (its spans, credentials, session keys) share one binding in memory; a
//! copy per key made the saved state many times the live one. Saved
//! borrowed, restored owned (the same bytes either way), oldest entry
//! first so that inserting in order restores each index's recency.

use std::collections::HashMap;
use std::sync::Arc;

use lru::LruCache;
use serde::{Deserialize, Serialize};

use crate::binding::Binding;
use crate::index::Touched;

/// The indexes as saved.
#[derive(Serialize)]
pub(crate) struct SavedIndexesRef<'a> {
    bindings: Vec<&'a Binding>,
    creds: Vec<(&'a str, u32, i64)>,
    spans: Vec<(&'a str, u32, i64)>,
    sessions: Vec<(&'a str, u32, i64)>,
    since_sweep: u32,
}

/// The indexes as read back.
#[derive(Deserialize)]
pub(crate) struct SavedIndexes {
    bindings: Vec<Binding>,
    creds: Vec<(String, u32, i64)>,
    spans: Vec<(String, u32, i64)>,
    sessions: Vec<(String, u32, i64)>,
    pub since_sweep: u32,
}

/// Numbers bindings in the order they are first met.
#[derive(Default)]
struct BindingTable<'a> {
    numbers: HashMap<*const Binding, u32>,
    list: Vec<&'a Binding>,
}

impl<'a> BindingTable<'a> {
    fn number(&mut self, b: &'a Arc<Binding>) -> u32 {
        let list = &mut self.list;
        *self.numbers.entry(Arc::as_ptr(b)).or_insert_with(|| {
            list.push(b);
            u32::try_from(list.len() - 1).unwrap_or(u32::MAX)
        })
    }

    fn timed(&mut self, c: &'a LruCache<String, Touched>) -> Vec<(&'a str, u32, i64)> {
        c.iter()
            .rev()
            .map(|(k, t)| (k.as_str(), self.number(&t.binding), t.at))
            .collect()
    }
}

/// Borrow the indexes' entries for saving.
pub(crate) fn save<'a>(
    creds: &'a LruCache<String, Touched>,
    spans: &'a LruCache<String, Touched>,
    sessions: &'a LruCache<String, Touched>,
    since_sweep: u32,
) -> SavedIndexesRef<'a> {
    let mut table = BindingTable::default();
    let creds = table.timed(creds);
    let spans = table.timed(spans);
    let sessions = table.timed(sessions);
    SavedIndexesRef {
        bindings: table.list,
        creds,
        spans,
        sessions,
        since_sweep,
    }
}

/// The entries of saved indexes, each key with its shared binding.
pub(crate) struct LoadedEntries {
    pub creds: Vec<(String, Touched)>,
    pub spans: Vec<(String, Touched)>,
    pub sessions: Vec<(String, Touched)>,
}

impl SavedIndexes {
    /// Resolve every key's binding number; a number past the table means
    /// the state is not what was saved.
    pub(crate) fn entries(self) -> Result<LoadedEntries, String> {
        let bindings: Vec<Arc<Binding>> = self.bindings.into_iter().map(Binding::shared).collect();
        let binding = |n: u32| {
            bindings
                .get(n as usize)
                .cloned()
                .ok_or_else(|| format!("index entry names binding {n} of {}", bindings.len()))
        };
        let timed = |entries: Vec<(String, u32, i64)>| {
            entries
                .into_iter()
                .map(|(k, n, at)| {
                    let binding = binding(n)?;
                    Ok((k, Touched { binding, at }))
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(LoadedEntries {
            creds: timed(self.creds)?,
            spans: timed(self.spans)?,
            sessions: timed(self.sessions)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use delegraph_model::new_lru;

    use super::*;

    fn binding(instance: &str) -> Arc<Binding> {
        Arc::new(Binding {
            instance: instance.into(),
            root: instance.into(),
            agent_id: None,
            agent_name: None,
            human: Some("h".into()),
            chain: vec!["h".into(), instance.into()],
            depth: 0,
            spawns: false,
            per_principal: false,
        })
    }

    #[test]
    fn keys_sharing_a_binding_save_it_once_and_share_it_again_when_read() {
        let (i, j) = (binding("i"), binding("j"));
        let mut creds = new_lru(10);
        for n in 0..5 {
            let t = Touched {
                binding: i.clone(),
                at: n,
            };
            creds.put(format!("c{n}"), t);
        }
        let mut spans = new_lru(10);
        let t = Touched {
            binding: j.clone(),
            at: 9,
        };
        spans.put("t:s".to_owned(), t);
        let mut sessions = new_lru(10);
        let t = Touched {
            binding: i.clone(),
            at: 4,
        };
        sessions.put("instance:i".to_owned(), t);
        let saved = save(&creds, &spans, &sessions, 3);
        assert_eq!(saved.bindings.len(), 2);
        let bytes = postcard::to_stdvec(&saved).unwrap();
        let back: SavedIndexes = postcard::from_bytes(&bytes).unwrap();
        let e = back.entries().unwrap();
        let keys: Vec<&str> = e.creds.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["c0", "c1", "c2", "c3", "c4"], "oldest first");
        let first = &e.creds[0].1.binding;
        assert_eq!(**first, *i);
        assert!(e.creds.iter().all(|(_, t)| Arc::ptr_eq(&t.binding, first)));
        assert!(Arc::ptr_eq(&e.sessions[0].1.binding, first));
        assert_eq!(e.sessions[0].1.at, 4);
        assert_eq!(*e.spans[0].1.binding, *j);
        assert_eq!(e.spans[0].1.at, 9);
        // Its ids are one copy each again: root and chain share them.
        assert!(Arc::ptr_eq(&first.root, &first.instance));
        assert!(Arc::ptr_eq(&first.chain[1], &first.instance));
        assert!(Arc::ptr_eq(&first.chain[0], first.human.as_ref().unwrap()));
    }

    #[test]
    fn a_key_naming_no_saved_binding_is_refused() {
        let saved = SavedIndexesRef {
            bindings: Vec::new(),
            creds: vec![("c", 0, 1)],
            spans: Vec::new(),
            sessions: Vec::new(),
            since_sweep: 0,
        };
        let bytes = postcard::to_stdvec(&saved).unwrap();
        let back: SavedIndexes = postcard::from_bytes(&bytes).unwrap();
        let e = back.entries().err().unwrap();
        assert!(e.contains("binding 0 of 0"), "{e}");
    }
}

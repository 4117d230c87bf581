//! Results of delegraph's own statements (listings, facet counts, lookups)
//! kept per store version, shared by every engine of a process. The queue
//! page asks the same counts on every move through it (j/k only changes
//! the selected finding); each answer stays valid exactly as long as no
//! table gained a commit, which the key's store fingerprint says.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Statements remembered at most.
const MAX_ENTRIES: usize = 512;
/// Rows an answer may have to be remembered.
const MAX_ROWS: usize = 5_000;

/// (store fingerprint, statement) → rows; and statement → (when, rows)
/// for answers that may be a little older than the store (see
/// [`SqlEngine::own_json_recent`](crate::SqlEngine::own_json_recent)).
pub(crate) struct ResultCache {
    by_version: Mutex<lru::LruCache<(u64, String), Vec<Value>>>,
    recent: Mutex<lru::LruCache<String, (Instant, Vec<Value>)>>,
}

impl Default for ResultCache {
    fn default() -> Self {
        let cap = std::num::NonZeroUsize::new(MAX_ENTRIES).unwrap_or(std::num::NonZeroUsize::MIN);
        Self {
            by_version: Mutex::new(lru::LruCache::new(cap)),
            recent: Mutex::new(lru::LruCache::new(cap)),
        }
    }
}

impl ResultCache {
    pub(crate) fn get(&self, version: u64, sql: &str) -> Option<Vec<Value>> {
        let mut c = self.by_version.lock().ok()?;
        c.get(&(version, sql.to_owned())).cloned()
    }

    pub(crate) fn put(&self, version: u64, sql: &str, rows: &[Value]) {
        if rows.len() > MAX_ROWS {
            return;
        }
        if let Ok(mut c) = self.by_version.lock() {
            c.put((version, sql.to_owned()), rows.to_vec());
        }
    }

    /// Remember `rows` as the answer to `sql` as of now (only statements
    /// asked through `own_json_recent`, so no other answer is copied twice).
    pub(crate) fn put_recent(&self, sql: &str, rows: &[Value]) {
        if rows.len() > MAX_ROWS {
            return;
        }
        if let Ok(mut c) = self.recent.lock() {
            c.put(sql.to_owned(), (Instant::now(), rows.to_vec()));
        }
    }

    /// The latest answer to `sql`, if it is at most `max_age` old.
    pub(crate) fn get_recent(&self, sql: &str, max_age: Duration) -> Option<Vec<Value>> {
        let mut c = self.recent.lock().ok()?;
        c.get(sql)
            .filter(|(at, _)| at.elapsed() <= max_age)
            .map(|(_, rows)| rows.clone())
    }
}

/// A hash of the Delta tables' snapshot versions: the store's version as
/// readers see it (a table's state is its snapshot version; its log,
/// thousands of commits long on a busy stream, is not listed).
pub(crate) fn fingerprint(snapshots: &[(String, u64)]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (table, version) in snapshots {
        h.update(table.as_bytes());
        h.update(&version.to_le_bytes());
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_answer_outlives_its_version_only_for_its_age() {
        let cache = ResultCache::default();
        let rows = vec![serde_json::json!({"n": 3})];
        cache.put(1, "SELECT n", &rows);
        cache.put_recent("SELECT n", &rows);
        // A new store version misses the versioned answer …
        assert_eq!(cache.get(2, "SELECT n"), None);
        // … but may take the recent one while it is young enough.
        assert_eq!(
            cache.get_recent("SELECT n", Duration::from_secs(60)),
            Some(rows)
        );
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get_recent("SELECT n", Duration::from_millis(1)), None);
        assert_eq!(cache.get_recent("SELECT m", Duration::from_secs(60)), None);
    }
}

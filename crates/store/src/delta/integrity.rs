//! Whether every data file a table's log names is still there, whole.
//!
//! Delta files never change once written, so the log records each one's
//! size. A file cut short (a full disk, a bad copy) or deleted outside the
//! table's own VACUUM no longer matches; a query that touches it fails, but
//! one answered from the log's statistics or from a footer read earlier
//! does not, so health cannot wait for a query to notice. One listing per
//! table compares every size: cheap enough to run with each gauge refresh,
//! and on object storage a single LIST rather than a request per file.

use std::collections::HashMap;
use std::path::Path;

use futures::TryStreamExt;

use super::{block_on, delta_err, open_if_exists};
use crate::StoreError;

/// A file the log names that is missing or not the size it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedFile {
    /// The table.
    pub table: String,
    /// The file, relative to the table's directory.
    pub path: String,
    /// Its size in the log.
    pub logged_bytes: u64,
    /// Its size in storage, `None` when it is gone.
    pub stored_bytes: Option<u64>,
}

impl std::fmt::Display for DamagedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stored_bytes {
            Some(n) => write!(
                f,
                "table {}: {} holds {n} bytes, its log says {}",
                self.table, self.path, self.logged_bytes
            ),
            None => write!(f, "table {}: {} is missing", self.table, self.path),
        }
    }
}

/// The damaged files of table `name`'s latest snapshot (none when the table
/// does not exist yet).
pub fn damaged_files(data_dir: &Path, name: &str) -> Result<Vec<DamagedFile>, StoreError> {
    block_on(async {
        let Some(table) = open_if_exists(data_dir, name).await? else {
            return Ok(Vec::new());
        };
        let listed: HashMap<String, u64> = table
            .object_store()
            .list(None)
            .map_ok(|meta| (meta.location.to_string(), meta.size))
            .try_collect()
            .await
            .map_err(|e| delta_err(name)(e.into()))?;
        let snapshot = table.snapshot().map_err(delta_err(name))?;
        let mut damaged = Vec::new();
        for file in snapshot.log_data().iter() {
            let path = file.object_store_path().to_string();
            let logged_bytes = u64::try_from(file.size()).unwrap_or(0);
            let stored_bytes = listed.get(&path).copied();
            if stored_bytes != Some(logged_bytes) {
                damaged.push(DamagedFile {
                    table: name.to_owned(),
                    path,
                    logged_bytes,
                    stored_bytes,
                });
            }
        }
        Ok(damaged)
    })?
}

/// The damaged files of every pipeline table under `data_dir`.
pub fn damaged_in_store(data_dir: &Path) -> Result<Vec<DamagedFile>, StoreError> {
    let current = crate::CURRENT_TABLES.iter().map(|(_, live)| *live);
    let mut damaged = Vec::new();
    for name in crate::TABLES.into_iter().chain(current) {
        damaged.extend(damaged_files(data_dir, name)?);
    }
    Ok(damaged)
}

//! Current-state tables: the instances live right now and their edges.
//!
//! Their content is replaced as a whole at the end of every run or epoch,
//! in one commit (the old files are removed from the table in the same
//! commit that adds the new ones), instead of a new snapshot file beside
//! the old ones. A stream keeps them open ([`CurrentTable`]) so that an
//! epoch's replacement reads only the log entries added since the last.

use std::path::Path;

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;

use super::{DAY_COLUMN, DayFiling, block_on, day_source, delta_err, open_or_create};
use crate::StoreError;

/// A current-state table held open between replacements.
pub struct CurrentTable {
    name: &'static str,
    data_dir: std::path::PathBuf,
    /// Opened at the first replacement (the schema comes with the rows).
    table: Option<DeltaTable>,
}

impl CurrentTable {
    /// Table `name` of `data_dir`, opened (or created) at its first
    /// replacement.
    pub fn new(data_dir: &Path, name: &'static str) -> Self {
        Self {
            name,
            data_dir: data_dir.to_owned(),
            table: None,
        }
    }

    /// Where the table is under the data directory (as the run's outputs
    /// name it).
    pub fn path(&self) -> std::path::PathBuf {
        self.data_dir.join(self.name)
    }

    /// Replace all rows with `batch` (rows filed by `filing`); returns the
    /// version written.
    pub fn replace(&mut self, batch: RecordBatch, filing: &DayFiling) -> Result<u64, StoreError> {
        let name = self.name;
        let err = delta_err(name);
        let batch = match day_source(name) {
            Some(time) => filing.refile(batch, time, DAY_COLUMN)?,
            None => batch,
        };
        let data_dir = &self.data_dir;
        let held = self.table.take();
        let table = block_on(async {
            let table = match held {
                Some(mut t) => {
                    // Another writer (a replay into the same directory)
                    // may have replaced it since.
                    t.update_incremental(None).await.map_err(&err)?;
                    t
                }
                // Partitioned like the retired instances' table, so the
                // two read with the same types.
                None => open_or_create(data_dir, name, &batch.schema(), true).await?,
            };
            table
                .write(vec![batch])
                .with_save_mode(SaveMode::Overwrite)
                .await
                .map_err(&err)
        })??;
        let version = table.version().ok_or_else(|| {
            StoreError::Storage(format!("table {name}: no version after writing"))
        })?;
        self.table = Some(table);
        Ok(version)
    }
}

/// Replace all rows of table `name` with `batch` (rows filed by
/// `filing`), opening the table for this once; returns the version.
pub fn replace_current(
    data_dir: &Path,
    name: &'static str,
    batch: RecordBatch,
    filing: &DayFiling,
) -> Result<u64, StoreError> {
    CurrentTable::new(data_dir, name).replace(batch, filing)
}

//! Current-state tables: the instances live right now and their edges.
//!
//! Their content is replaced as a whole at the end of every run or epoch,
//! in one commit (the old files are removed from the table in the same
//! commit that adds the new ones), instead of a new snapshot file beside
//! the old ones.

use std::path::Path;

use arrow::array::RecordBatch;
use deltalake::protocol::SaveMode;

use super::{DAY_COLUMN, DayFiling, block_on, day_source, delta_err, open_or_create};
use crate::StoreError;

/// Replace all rows of table `name` with `batch` (rows filed by
/// `filing`); returns the version.
pub fn replace_current(
    data_dir: &Path,
    name: &'static str,
    batch: RecordBatch,
    filing: &DayFiling,
) -> Result<u64, StoreError> {
    let err = delta_err(name);
    let batch = match day_source(name) {
        Some(time) => filing.refile(batch, time, DAY_COLUMN)?,
        None => batch,
    };
    block_on(async {
        // Partitioned like the retired instances' table, so the two read
        // with the same types.
        let table = open_or_create(data_dir, name, &batch.schema(), true).await?;
        let table = table
            .write(vec![batch])
            .with_save_mode(SaveMode::Overwrite)
            .await
            .map_err(&err)?;
        table
            .version()
            .ok_or_else(|| StoreError::Storage(format!("table {name}: no version after writing")))
    })?
}

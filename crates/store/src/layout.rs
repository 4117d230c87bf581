//! The data directory's layout, and the one before Delta Lake.
//!
//! Before the tables were Delta tables, every run published loose Parquet
//! files straight into `events/`, `findings/`, `agents/` and `edges/`. A
//! store in that layout is refused with what to run (`delegraph store
//! migrate`), never read half.

use std::path::Path;

use crate::StoreError;

/// The pipeline tables of `data_dir` still in the layout before Delta
/// Lake: loose Parquet files and no transaction log.
pub fn old_layout_tables(data_dir: &Path) -> Vec<&'static str> {
    crate::TABLES
        .into_iter()
        .filter(|t| !crate::is_delta_table(data_dir, t) && has_loose_parquet(&data_dir.join(t)))
        .collect()
}

/// Whether `dir` holds Parquet files directly.
pub(crate) fn has_loose_parquet(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        })
        .unwrap_or(false)
}

/// Refuse a store in the old layout, saying what to run.
pub fn refuse_old_layout(data_dir: &Path) -> Result<(), StoreError> {
    let old = old_layout_tables(data_dir);
    if old.is_empty() {
        return Ok(());
    }
    Err(StoreError::OldLayout {
        data_dir: data_dir.display().to_string(),
        tables: old.join(", "),
    })
}

//! Upkeep of the pipeline's Delta tables: what they hold, compaction of
//! closed days, VACUUM and retention by day.
//!
//! A stream commits a few small files per table every epoch. Once a day is
//! closed (no event can still arrive for it: older than the lateness), its
//! files are rewritten as few large ones sorted by time. Removed files stay
//! on disk for the VACUUM retention, longer than any query may run, so a
//! query that opened before a compaction or an expiry still reads them.

use std::collections::BTreeMap;
use std::path::Path;

use deltalake::operations::optimize::{OptimizeBuilder, OptimizeType};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::{DeltaTable, FilterOp, FilterValue};

use super::{DAY_COLUMN, block_on, day_source, delta_err, open_if_exists};
use crate::StoreError;

/// What a table holds, from its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// The table.
    pub table: String,
    /// Its latest version.
    pub version: u64,
    /// Data files in the latest snapshot.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Rows, from the files' statistics.
    pub rows: u64,
    /// Day partitions.
    pub days: usize,
    /// Files in the day partition with the most.
    pub max_files_per_day: usize,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Days rewritten.
    pub days: usize,
    /// Files removed from the table.
    pub files_removed: u64,
    /// Files added in their place.
    pub files_added: u64,
}

/// Files per day partition of the table's latest snapshot.
pub(super) fn files_by_day(
    table: &DeltaTable,
    name: &str,
) -> Result<BTreeMap<String, usize>, StoreError> {
    let snapshot = table.snapshot().map_err(delta_err(name))?;
    let mut days = BTreeMap::new();
    for file in snapshot.log_data().iter() {
        let day = file
            .partition_values_map()
            .remove(DAY_COLUMN)
            .flatten()
            .unwrap_or_default();
        *days.entry(day).or_insert(0) += 1;
    }
    Ok(days)
}

/// The newest day partition of table `name`, if it holds any.
pub fn newest_day(data_dir: &Path, name: &str) -> Result<Option<String>, StoreError> {
    block_on(async {
        let Some(table) = open_if_exists(data_dir, name).await? else {
            return Ok(None);
        };
        Ok(files_by_day(&table, name)?.into_keys().next_back())
    })?
}

/// What table `name` holds, or `None` when it does not exist.
pub fn table_stats(data_dir: &Path, name: &str) -> Result<Option<TableStats>, StoreError> {
    block_on(async {
        let Some(table) = open_if_exists(data_dir, name).await? else {
            return Ok(None);
        };
        let snapshot = table.snapshot().map_err(delta_err(name))?;
        let (mut bytes, mut rows) = (0u64, 0u64);
        for file in snapshot.log_data().iter() {
            bytes += u64::try_from(file.size()).unwrap_or(0);
            rows += file.num_records().unwrap_or(0) as u64;
        }
        let days = files_by_day(&table, name)?;
        Ok(Some(TableStats {
            table: name.to_owned(),
            version: table.version().unwrap_or(0),
            files: snapshot.log_data().num_files(),
            bytes,
            rows,
            days: days.len(),
            max_files_per_day: days.values().copied().max().unwrap_or(0),
        }))
    })?
}

/// Rewrite every day before `closed_before` (`YYYY-MM-DD`) that has more
/// than one file into large files sorted by the table's time.
pub fn compact_closed_days(
    data_dir: &Path,
    name: &str,
    closed_before: &str,
) -> Result<Compacted, StoreError> {
    block_on(async {
        let Some(table) = open_if_exists(data_dir, name).await? else {
            return Ok(Compacted::default());
        };
        let days: Vec<String> = files_by_day(&table, name)?
            .into_iter()
            .filter(|(day, files)| day.as_str() < closed_before && *files > 1)
            .map(|(day, _)| day)
            .collect();
        if days.is_empty() {
            return Ok(Compacted::default());
        }
        let order = day_source(name).map(str::to_owned).into_iter().collect();
        let builder = table.optimize().with_type(OptimizeType::ZOrder(order));
        let (_, compacted) = rewrite_days(builder, name, &days).await?;
        Ok(compacted)
    })?
}

/// Run `optimize` (its kind and settings chosen by the caller) over the
/// day partitions `days` of table `name`; the table after it, and what it
/// did.
pub(super) async fn rewrite_days(
    optimize: OptimizeBuilder<'_>,
    name: &str,
    days: &[String],
) -> Result<(DeltaTable, Compacted), StoreError> {
    let set: Vec<&str> = days.iter().map(String::as_str).collect();
    let filters = [(DAY_COLUMN, FilterOp::In, FilterValue::Set(set))];
    let (table, metrics) = optimize
        .with_filters(&filters)
        .await
        .map_err(delta_err(name))?;
    let compacted = Compacted {
        days: days.len(),
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
    };
    Ok((table, compacted))
}

/// Delete the files no snapshot younger than `retention` needs (removed by
/// compaction, expiry or replacement, or written by a run that never
/// committed); returns how many.
pub fn vacuum(
    data_dir: &Path,
    name: &str,
    retention: std::time::Duration,
) -> Result<usize, StoreError> {
    let retention = chrono::Duration::from_std(retention)
        .map_err(|e| StoreError::Storage(format!("vacuum retention: {e}")))?;
    block_on(async {
        let Some(table) = open_if_exists(data_dir, name).await? else {
            return Ok(0);
        };
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .await
            .map_err(delta_err(name))?;
        Ok(metrics.files_deleted.len())
    })?
}

/// Remove every day before `before` (`YYYY-MM-DD`) from the table (whole
/// partitions: no file is rewritten); returns the files removed.
pub fn expire_days_before(data_dir: &Path, name: &str, before: &str) -> Result<usize, StoreError> {
    if !before.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(StoreError::Storage(format!("{before:?} is not a day")));
    }
    block_on(async {
        let Some(table) = open_if_exists(data_dir, name).await? else {
            return Ok(0);
        };
        let (_, metrics) = table
            .delete()
            .with_predicate(format!("{DAY_COLUMN} < '{before}'"))
            .await
            .map_err(delta_err(name))?;
        Ok(metrics.num_removed_files)
    })?
}

//! Appending one run's rows to a table as one tagged commit.
//!
//! Rows are streamed into Parquet files as they come (memory stays
//! bounded however long the run); nothing is visible until
//! [`TableAppend::commit`] writes the commit (or [`ClosedFiles::commit`],
//! for a run closed with [`TableAppend::close`] while the next one's rows
//! are written). The same `TableAppend` then
//! takes the next run's rows: a stream keeps its tables open from epoch to
//! epoch and reads only the log entries added since its last commit,
//! instead of loading every table's log again at each epoch. The commit carries an
//! application transaction `(app_id, version)`: a run redone after a crash
//! finds whether its earlier attempt committed, and either leaves the
//! table as it is ([`Redo::Skip`], when the redo writes the same rows) or
//! replaces the earlier attempt's files with its own in one commit
//! ([`Redo::Replace`], when it may not). Files written by an attempt that
//! never committed are not part of the table; VACUUM removes them.

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use datafusion::object_store::ObjectStoreExt;
use deltalake::DeltaTable;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::operations::optimize::OptimizeType;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use indexmap::IndexMap;
use parquet::file::properties::WriterProperties;

use super::maintain::{Compacted, files_by_day, rewrite_days};
use super::{DAY_COLUMN, DayFiling, block_on, day_source, delta_err, open_or_create};
use crate::StoreError;

/// Bytes a file grows to before the writer starts the next one; files
/// this large are left alone by [`TableLog::compact_crowded_days`].
const TARGET_FILE_BYTES: u64 = 128 << 20;

/// Day partitions a run writes into at once. Each holds an open Parquet
/// file with a row group under construction in memory until the writer
/// finishes its files; past this many, they are finished before a new day
/// is written, so a backfill in time order holds the days it is writing,
/// not one file per day of its history.
const MAX_OPEN_DAYS: usize = 2;

/// What identifies a run's commit in a table's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitTag {
    /// The writer: a replay's run id, or the stream's name.
    pub app_id: String,
    /// The run's number for that writer (a stream's epoch; 0 for a replay,
    /// whose run id already names its input).
    pub version: i64,
    /// What a redo does when the table already has this commit.
    pub redo: Redo,
}

/// What a run redone after a crash does with a commit its earlier attempt
/// already made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redo {
    /// Keep it: the redo computes the same rows (a replay: same input,
    /// same starting state).
    Skip,
    /// Replace it: the redo may cover different records (a stream epoch
    /// ends where the clock says, not where the earlier attempt ended).
    Replace,
}

/// One table's rows of the open run, not yet committed.
pub struct TableAppend {
    name: &'static str,
    filing: DayFiling,
    /// The table's log, shared with the runs closed and not yet committed.
    log: Arc<TableLog>,
    writer: RecordBatchWriter,
    rows: u64,
    /// Days written into since the writer last finished its files.
    open_days: BTreeSet<String>,
    /// Files of the open run already finished.
    finished: Vec<deltalake::kernel::Add>,
}

impl TableAppend {
    /// Start appending to table `name` (created, partitioned by day, if
    /// it does not exist yet), filing rows by `filing`.
    pub fn open(
        data_dir: &Path,
        name: &'static str,
        schema: SchemaRef,
        filing: DayFiling,
    ) -> Result<Self, StoreError> {
        let props = crate::writer::writer_properties(&schema)?;
        block_on(async {
            let table = open_or_create(data_dir, name, &schema, true).await?;
            let writer = RecordBatchWriter::for_table(&table)
                .map_err(delta_err(name))?
                .with_writer_properties(props.clone())
                .with_target_file_size(TARGET_FILE_BYTES);
            Ok(Self {
                name,
                filing,
                log: Arc::new(TableLog {
                    name,
                    table: Mutex::new(table),
                    props,
                }),
                writer,
                rows: 0,
                open_days: BTreeSet::new(),
                finished: Vec::new(),
            })
        })?
    }

    /// Rows written so far in the open run.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// File the next run's rows by `filing` (a stream's epoch decides
    /// which times are absurd by the clock when it starts).
    pub fn set_filing(&mut self, filing: DayFiling) {
        self.filing = filing;
    }

    /// Stream a batch into the run's files.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        let rows = batch.num_rows() as u64;
        let batch = match day_source(self.name) {
            Some(time) => self.filing.refile(batch, time, DAY_COLUMN)?,
            None => batch,
        };
        let name = self.name;
        self.finish_files_past_open_days(&batch)?;
        match day_runs(&batch) {
            Some(runs) => {
                for (start, len) in runs {
                    self.write_one_day(batch.slice(start, len))?;
                }
            }
            None => block_on(self.writer.write(batch))?.map_err(delta_err(name))?,
        }
        self.rows += rows;
        Ok(())
    }

    /// Write rows that all file under one day. The writer would otherwise
    /// sort every batch by day and copy each column into per-day batches,
    /// though rows come in time order and a batch rarely spans two days.
    fn write_one_day(&mut self, rows: RecordBatch) -> Result<(), StoreError> {
        let err = delta_err(self.name);
        let encode = |what: &str| StoreError::Encode(format!("{}: {what}", self.name));
        let day_at = rows
            .schema()
            .index_of(DAY_COLUMN)
            .map_err(|e| encode(&e.to_string()))?;
        let day = ScalarExt::from_array(rows.column(day_at).as_ref(), 0)
            .ok_or_else(|| encode("the day column has no value"))?;
        let partition = IndexMap::from([(DAY_COLUMN.to_owned(), day)]);
        block_on(
            self.writer
                .write_partition(rows, &partition, WriteMode::Default),
        )?
        .map_err(err)?;
        Ok(())
    }

    /// Finish the open files first when `batch` would take the days being
    /// written past [`MAX_OPEN_DAYS`].
    fn finish_files_past_open_days(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let Some(days) = batch
            .column_by_name(DAY_COLUMN)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        else {
            return Ok(());
        };
        let new: BTreeSet<&str> = days
            .iter()
            .flatten()
            .filter(|d| !self.open_days.contains(*d))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        if self.open_days.len() + new.len() > MAX_OPEN_DAYS && !self.open_days.is_empty() {
            let name = self.name;
            let adds = block_on(self.writer.flush())?.map_err(delta_err(name))?;
            self.finished.extend(adds);
            self.open_days.clear();
            self.open_days
                .extend(days.iter().flatten().map(str::to_owned));
        } else {
            self.open_days.extend(new.into_iter().map(str::to_owned));
        }
        Ok(())
    }

    /// Make the run's rows part of the table in one commit tagged `tag`;
    /// returns the table version written, or `None` when nothing was
    /// committed (no rows and nothing to replace, or [`Redo::Skip`] of a
    /// commit already there). Afterwards the next run's rows may be
    /// written.
    pub fn commit(&mut self, tag: &CommitTag) -> Result<Option<u64>, StoreError> {
        self.close()?.commit(tag)
    }

    /// Finish the open run's files without committing them: the next
    /// run's rows may be written at once, while the closed run is
    /// committed elsewhere (see [`ClosedFiles`]).
    pub fn close(&mut self) -> Result<ClosedFiles, StoreError> {
        let name = self.name;
        let mut adds = std::mem::take(&mut self.finished);
        adds.extend(block_on(self.writer.flush())?.map_err(delta_err(name))?);
        self.open_days.clear();
        self.rows = 0;
        Ok(ClosedFiles {
            log: self.log.clone(),
            adds,
        })
    }

    /// The table's log, to compact it where the closed runs are committed.
    pub fn log(&self) -> Arc<TableLog> {
        self.log.clone()
    }
}

/// A table's Delta log as its writer sees it. Commits and compactions
/// take turns (each holds the table for the whole of it): the caller
/// commits a table's closed runs in the order closed, and compacts between
/// them.
pub struct TableLog {
    name: &'static str,
    /// Held while a commit or compaction updates it.
    table: Mutex<DeltaTable>,
    /// The writer's Parquet settings, for the files a compaction writes.
    props: WriterProperties,
}

impl TableLog {
    /// The table as last read, for one commit or compaction at a time
    /// (each brings it up to date first).
    fn table(&self) -> MutexGuard<'_, DeltaTable> {
        // A panic while holding the lock ends the service anyway.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rewrite the small files of every day partition holding more than
    /// `max_files` files into as few as the target size allows, one commit.
    ///
    /// A stream adds a file per table every epoch; left alone, the day
    /// still open would gather thousands before it closes, and every
    /// commit's snapshot update costs time in proportion to the files in
    /// the table. Call it only between runs, once the last commit can no
    /// longer be redone (the state that follows it is saved): a
    /// [`Redo::Replace`] removes the files its earlier attempt added, and
    /// a compaction would have folded them into files of other runs.
    pub fn compact_crowded_days(&self, max_files: usize) -> Result<Compacted, StoreError> {
        let name = self.name;
        let err = delta_err(name);
        let target = NonZeroU64::new(TARGET_FILE_BYTES).unwrap_or(NonZeroU64::MIN);
        let mut held = self.table();
        let table: &mut DeltaTable = &mut held;
        block_on(async {
            table.update_incremental(None).await.map_err(&err)?;
            let days: Vec<String> = files_by_day(table, name)?
                .into_iter()
                .filter(|(_, files)| *files > max_files)
                .map(|(day, _)| day)
                .collect();
            if days.is_empty() {
                return Ok(Compacted::default());
            }
            let optimize = table
                .clone()
                .optimize()
                .with_type(OptimizeType::Compact)
                .with_target_size(target)
                .with_writer_properties(self.props.clone());
            let (rewritten, compacted) = rewrite_days(optimize, name, &days).await?;
            *table = rewritten;
            Ok(compacted)
        })?
    }
}

/// A run's finished files of one table, not yet part of it.
pub struct ClosedFiles {
    log: Arc<TableLog>,
    adds: Vec<deltalake::kernel::Add>,
}

impl ClosedFiles {
    /// Make the run's rows part of the table in one commit tagged `tag`
    /// (see [`TableAppend::commit`]). Closed runs of one table are
    /// committed in the order they were closed.
    pub fn commit(self, tag: &CommitTag) -> Result<Option<u64>, StoreError> {
        let name = self.log.name;
        let err = delta_err(name);
        let mut held = self.log.table();
        let table: &mut DeltaTable = &mut held;
        let adds = self.adds;
        block_on(async {
            table.update_incremental(None).await.map_err(&err)?;
            let snapshot = table.snapshot().map_err(&err)?;
            let log_store = table.log_store();
            let done = snapshot
                .transaction_version(log_store.as_ref(), &tag.app_id)
                .await
                .map_err(&err)?
                .is_some_and(|v| v >= tag.version);
            let mut actions = Vec::new();
            if done {
                match tag.redo {
                    Redo::Skip => {
                        // This attempt's files duplicate the committed
                        // ones: delete them rather than leave them to
                        // VACUUM.
                        let store = table.object_store();
                        for add in &adds {
                            let path = deltalake::Path::from(add.path.as_str());
                            store.delete(&path).await.map_err(|e| err(e.into()))?;
                        }
                        return Ok(None);
                    }
                    Redo::Replace => {
                        actions = super::redo::removals_of(table, name, tag).await?;
                    }
                }
            }
            if adds.is_empty() && actions.is_empty() {
                return Ok(None);
            }
            actions.extend(adds.into_iter().map(Action::Add));
            let properties = CommitProperties::default()
                .with_application_transaction(Transaction::new(&tag.app_id, tag.version));
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(vec![DAY_COLUMN.to_owned()]),
                predicate: None,
            };
            let done = CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(snapshot), log_store, operation)
                .await
                .map_err(&err)?;
            Ok(Some(done.version()))
        })?
    }
}

/// The runs of rows of `batch` filed under one day, as (start, length), when
/// it has a day column without nulls; `None` leaves the split to the writer.
fn day_runs(batch: &RecordBatch) -> Option<Vec<(usize, usize)>> {
    let days = batch
        .column_by_name(DAY_COLUMN)?
        .as_any()
        .downcast_ref::<StringArray>()?;
    if days.null_count() > 0 || days.is_empty() {
        return None;
    }
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..days.len() {
        if days.value(i) != days.value(start) {
            runs.push((start, i - start));
            start = i;
        }
    }
    runs.push((start, days.len() - start));
    Some(runs)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(days: Vec<Option<&str>>) -> RecordBatch {
        let n = days.len() as i64;
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(DAY_COLUMN, DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from(days)),
            ],
        )
        .expect("a valid batch")
    }

    #[test]
    fn rows_are_split_where_the_day_changes() {
        let days = vec![Some("d1"), Some("d1"), Some("d2"), Some("d1"), Some("d1")];
        assert_eq!(day_runs(&batch(days)), Some(vec![(0, 2), (2, 1), (3, 2)]));
        assert_eq!(day_runs(&batch(vec![Some("d1")])), Some(vec![(0, 1)]));
    }

    #[test]
    fn a_missing_day_leaves_the_split_to_the_writer() {
        assert_eq!(day_runs(&batch(vec![Some("d1"), None])), None);
        assert_eq!(day_runs(&batch(vec![])), None);
    }
}

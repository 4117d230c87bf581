//! Converting a store in the layout before Delta Lake (loose Parquet files
//! per table) into Delta tables, losing nothing.
//!
//! Every old file becomes one commit, tagged with the file's name, so a
//! conversion interrupted half-way and started again adds no row twice.
//! The old files are moved aside (`pre-delta/<table>/`) only once all of
//! their table's rows are committed; the user deletes them when satisfied.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampNanosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{CommitTag, DAY_COLUMN, DayFiling, Redo, StoreError, TableAppend};

/// Where the old files go once converted.
pub const PRE_DELTA_DIR: &str = "pre-delta";

/// What the conversion of one table did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The table.
    pub table: &'static str,
    /// Old files converted.
    pub files: usize,
    /// Rows committed (the current-state rows included).
    pub rows: u64,
    /// Where the old files are now.
    pub moved_to: PathBuf,
}

/// The old snapshot file of the instances live at the end of the last run.
const OLD_LIVE_FILE: &str = "live.parquet";

/// A table's new schema and its current-state companion.
fn target(table: &str) -> Option<(SchemaRef, Option<&'static str>)> {
    match table {
        "events" => Some((crate::events_schema(), None)),
        "findings" => Some((crate::findings_schema(), None)),
        "agents" => Some((crate::agents_schema(), Some(crate::AGENTS_LIVE))),
        "edges" => Some((crate::edges_schema(), Some(crate::EDGES_LIVE))),
        crate::ACTIVITY_TABLE => Some((crate::activity_schema(), None)),
        _ => None,
    }
}

/// Convert every pipeline table of `data_dir` still in the old layout.
pub fn migrate_old_layout(data_dir: &Path) -> Result<Vec<Migrated>, StoreError> {
    let mut done = Vec::new();
    for table in crate::old_layout_tables(data_dir) {
        done.push(migrate_table(data_dir, table)?);
    }
    Ok(done)
}

fn migrate_table(data_dir: &Path, table: &'static str) -> Result<Migrated, StoreError> {
    let (Some((schema, live)), Some(day_from)) = (target(table), crate::day_source(table)) else {
        return Err(StoreError::Storage(format!(
            "{table}: not a pipeline table"
        )));
    };
    let filing = DayFiling::now();
    let dir = data_dir.join(table);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| StoreError::io(&dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    let convert = if table == crate::ACTIVITY_TABLE {
        without_superseded(&files)
    } else {
        files.clone()
    };
    let mut rows = 0u64;
    for file in &convert {
        let batches = read_converted(file, &schema, day_from)?;
        rows += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        let is_live = file.file_name().is_some_and(|n| n == OLD_LIVE_FILE);
        match live.filter(|_| is_live) {
            Some(live_table) => {
                let all = concat_batches(&schema, &batches)
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                crate::replace_current(data_dir, live_table, all, &filing)?;
            }
            None => {
                let mut append = TableAppend::open(data_dir, table, schema.clone(), filing)?;
                for b in batches {
                    append.write(b)?;
                }
                let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
                append.commit(&CommitTag {
                    app_id: format!("migrate:{table}/{}", stem.unwrap_or_default()),
                    version: 0,
                    redo: Redo::Skip,
                })?;
            }
        }
    }
    let moved_to = data_dir.join(PRE_DELTA_DIR).join(table);
    std::fs::create_dir_all(&moved_to).map_err(|e| StoreError::io(&moved_to, e))?;
    for file in &files {
        if let Some(name) = file.file_name() {
            let to = moved_to.join(name);
            std::fs::rename(file, &to).map_err(|e| StoreError::io(&to, e))?;
        }
    }
    Ok(Migrated {
        table,
        files: files.len(),
        rows,
        moved_to,
    })
}

/// The old triage log's files less those whose range of sequence numbers
/// (`<first>-<last>.parquet`) lies inside another's: inputs a compaction
/// had merged and not yet removed when it stopped. Their entries are in
/// the merged file; converting both would repeat them. (They are moved
/// aside with the rest.)
fn without_superseded(files: &[PathBuf]) -> Vec<PathBuf> {
    let range = |p: &Path| -> Option<(u64, u64)> {
        let (first, last) = p.file_stem()?.to_str()?.split_once('-')?;
        Some((first.parse().ok()?, last.parse().ok()?))
    };
    let ranges: Vec<Option<(u64, u64)>> = files.iter().map(|p| range(p)).collect();
    files
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let Some((first, last)) = ranges[*i] else {
                return true;
            };
            !ranges.iter().enumerate().any(|(j, other)| {
                j != *i
                    && other
                        .is_some_and(|(f, l)| f <= first && last <= l && (f, l) != (first, last))
            })
        })
        .map(|(_, p)| p.clone())
        .collect()
}

/// The batches of an old file in the new schema: times to microseconds,
/// counts to signed integers, the day added, columns the file predates
/// as nulls.
fn read_converted(
    path: &Path,
    schema: &SchemaRef,
    day_from: &str,
) -> Result<Vec<RecordBatch>, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Storage(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column = if field.name() == DAY_COLUMN {
                let time = batch
                    .column_by_name(day_from)
                    .ok_or_else(|| bad(&format!("no column {day_from}")))?;
                days_of(time).map_err(|e| bad(&e))?
            } else {
                match batch.column_by_name(field.name()) {
                    Some(c) => cast(c, field.data_type()).map_err(|e| bad(&e))?,
                    None => new_null_array(field.data_type(), batch.num_rows()),
                }
            };
            columns.push(column);
        }
        out.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| bad(&e))?);
    }
    Ok(out)
}

/// The day names of a column of times.
fn days_of(time: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    let ns = cast(
        time,
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
    )?;
    let ns = ns
        .as_any()
        .downcast_ref::<arrow::array::PrimitiveArray<TimestampNanosecondType>>()
        .ok_or_else(|| arrow::error::ArrowError::CastError("not a time column".into()))?;
    let days: StringArray = (0..ns.len())
        .map(|i| (!ns.is_null(i)).then(|| crate::columns::day_name(ns.value(i))))
        .collect();
    Ok(Arc::new(days))
}

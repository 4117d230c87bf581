//! Events kept as evidence after their day expires.
//!
//! Findings are kept longer than events (400 days against 90 by default),
//! and a finding is read with its evidence: the events that raised it.
//! Before a day of events is removed, the events some finding names as
//! evidence are copied into the `evidence` table (the events schema, kept
//! as long as findings), so a finding still shows what happened after the
//! rest of its day is gone. The copy is one commit tagged with the first day
//! kept: an upkeep pass cut short and run again copies nothing twice.

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;

use super::{CommitTag, DayFiling, Redo, TableAppend, block_on};
use crate::{EVIDENCE_TABLE, QueryLimits, SqlEngine, StoreError, events_schema};

/// The application id of evidence copies in the `evidence` table's log.
const EVIDENCE_APP_ID: &str = "delegraph-evidence";

/// `batch`'s columns, by name, cast to `schema`'s types (a query reads
/// strings as views and times with the table's zone).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, StoreError> {
    let bad = |what: String| StoreError::Encode(format!("keeping evidence: {what}"));
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let column = batch
                .column_by_name(f.name())
                .ok_or_else(|| bad(format!("no column {}", f.name())))?;
            cast(column, f.data_type()).map_err(|e| bad(format!("{}: {e}", f.name())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| bad(e.to_string()))
}

/// The version an evidence copy before `day` (`YYYY-MM-DD`) is tagged with:
/// its days since 1970, so each later day is a new copy.
fn day_version(day: &str) -> Result<i64, StoreError> {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| {
            d.signed_duration_since(chrono::NaiveDate::default())
                .num_days()
        })
        .map_err(|e| StoreError::Storage(format!("{day:?} is not a day: {e}")))
}

/// Copy the events of days before `before` that a finding names as
/// evidence (and that are not kept already) into the `evidence` table;
/// returns how many.
pub fn keep_evidence(data_dir: &Path, before: &str) -> Result<u64, StoreError> {
    let version = day_version(before)?;
    let schema = events_schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("e.\"{}\"", f.name()))
        .collect();
    // `before` is a checked day: digits and dashes only.
    let sql = format!(
        "SELECT {} FROM events e \
         WHERE e.day < '{before}' \
           AND e.event_id IN (SELECT DISTINCT unnest(evidence) FROM findings) \
           AND e.event_id NOT IN (SELECT event_id FROM {EVIDENCE_TABLE})",
        columns.join(", ")
    );
    let batches = block_on(async {
        let engine = SqlEngine::open(data_dir, QueryLimits::default()).await?;
        engine.query_own(&sql).await
    })??;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(0);
    }
    let mut table = TableAppend::open(data_dir, EVIDENCE_TABLE, schema.clone(), DayFiling::now())?;
    for batch in &batches {
        table.write(conform(batch, &schema)?)?;
    }
    let tag = CommitTag {
        app_id: EVIDENCE_APP_ID.to_owned(),
        version,
        redo: Redo::Skip,
    };
    Ok(table.commit(&tag)?.map_or(0, |_| rows as u64))
}

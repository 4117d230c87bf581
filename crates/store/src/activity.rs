//! The `finding_activity` table: every triage change, appended, never
//! rewritten. A finding's current state is its latest entry (the
//! `finding_state` view), so the log is the only truth and SQL sees what
//! the API sees.
//!
//! A Delta table like the pipeline's, filed by the day of each change:
//! every append is one commit (tagged with the last sequence number it
//! holds), readers see whole commits only, and upkeep compacts its closed
//! days like any other table's. Nothing expires: a finding's triage
//! history lasts as long as the store.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimestampMicrosecondType};
use datafusion::prelude::{SessionContext, col, lit};
use delegraph_model::{ActivityEntry, Disposition, TriageState, TriageStatus};

use crate::StoreError;
use crate::columns::{Col, Columns, batch, schema};
use crate::delta::{CommitTag, DayFiling, Redo, TableAppend, TableCache, block_on};

/// The table's name (a directory under the data directory).
pub const ACTIVITY_TABLE: &str = "finding_activity";

/// The writer named in the log's application transactions.
const ACTIVITY_APP_ID: &str = "delegraph-triage";

static ACTIVITY_COLUMNS: &Columns<ActivityEntry> = &[
    ("seq", false, Col::Count(|a| a.seq)),
    ("finding_id", false, Col::Text(|a| Some(&a.finding_id))),
    ("at", false, Col::Time(|a| Some(a.at))),
    ("actor", false, Col::Text(|a| Some(&a.actor))),
    ("action", false, Col::Text(|a| Some(&a.action))),
    (
        "status",
        false,
        Col::Text(|a| Some(a.state.status.as_str())),
    ),
    (
        "disposition",
        true,
        Col::Text(|a| a.state.disposition.map(Disposition::as_str)),
    ),
    ("assignee", true, Col::Text(|a| a.state.assignee.as_deref())),
    ("note", true, Col::Text(|a| a.note.as_deref())),
    ("via", false, Col::Text(|a| Some(&a.via))),
    (
        "agent_instance",
        true,
        Col::Text(|a| a.agent_instance.as_deref()),
    ),
    // The partition: the UTC day of the change.
    ("day", false, Col::Day(|a| a.at)),
];

static ACTIVITY_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(ACTIVITY_COLUMNS));

/// The Arrow schema of `finding_activity`.
pub fn activity_schema() -> SchemaRef {
    ACTIVITY_SCHEMA.clone()
}

fn activity_batch(rows: &[ActivityEntry]) -> Result<RecordBatch, StoreError> {
    batch(ACTIVITY_COLUMNS, activity_schema(), rows)
}

/// Append `entries` (in `seq` order, times to the microsecond) as one
/// commit; they are visible to queries once this returns. A log that
/// already holds a later sequence number has another writer: refused,
/// never silently skipped.
pub fn append_activity(data_dir: &Path, entries: &[ActivityEntry]) -> Result<(), StoreError> {
    let Some(last) = entries.last() else {
        return Ok(());
    };
    let mut table = TableAppend::open(
        data_dir,
        ACTIVITY_TABLE,
        activity_schema(),
        DayFiling::now(),
    )?;
    table.write(activity_batch(entries)?)?;
    let tag = CommitTag {
        app_id: ACTIVITY_APP_ID.to_owned(),
        version: i64::try_from(last.seq).unwrap_or(i64::MAX),
        redo: Redo::Skip,
    };
    match table.commit(&tag)? {
        Some(_) => Ok(()),
        None => Err(StoreError::Storage(format!(
            "{ACTIVITY_TABLE}: the log already holds entries up to seq {} or later; \
             is another server writing this data directory's triage log?",
            last.seq
        ))),
    }
}

/// Every entry in the store, in `seq` order.
pub fn read_activity(data_dir: &Path) -> Result<Vec<ActivityEntry>, StoreError> {
    ActivityLog::new(data_dir).after(0)
}

/// The triage log held open by a reader that looks often (the pipeline,
/// at every epoch): a look finds the log's new commits from its last
/// version on, and reads nothing when there are none.
pub struct ActivityLog {
    data_dir: PathBuf,
    tables: TableCache,
    /// The version last read and the last sequence number it held.
    read: Option<(u64, u64)>,
}

impl ActivityLog {
    /// The log of `data_dir` (which may not exist yet).
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            tables: TableCache::default(),
            read: None,
        }
    }

    /// The entries after `seq`, in order.
    pub fn after(&mut self, seq: u64) -> Result<Vec<ActivityEntry>, StoreError> {
        let ctx = SessionContext::new();
        let (data_dir, tables) = (&self.data_dir, &self.tables);
        let read = self.read;
        let found = block_on(async move {
            let Some((provider, version)) =
                crate::delta::snapshot_provider(&ctx, tables, data_dir, ACTIVITY_TABLE).await?
            else {
                return Ok(None);
            };
            if read.is_some_and(|(v, last)| v == version && seq >= last) {
                return Ok(Some((version, Vec::new())));
            }
            let after = i64::try_from(seq).unwrap_or(i64::MAX);
            let batches = ctx
                .read_table(provider)
                .and_then(|df| df.filter(col("seq").gt(lit(after))))
                .and_then(|df| df.sort(vec![col("seq").sort(true, false)]))
                .map_err(|e| StoreError::Storage(format!("{ACTIVITY_TABLE}: {e}")))?
                .collect()
                .await
                .map_err(|e| StoreError::Storage(format!("{ACTIVITY_TABLE}: {e}")))?;
            Ok::<_, StoreError>(Some((version, batches)))
        })??;
        let Some((version, batches)) = found else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for b in &batches {
            entries_of(b, &mut out)?;
        }
        let last = out.last().map_or(seq, |e| e.seq);
        self.read = Some((version, last.max(seq)));
        Ok(out)
    }
}

/// The entries of one batch of the table.
fn entries_of(batch: &RecordBatch, out: &mut Vec<ActivityEntry>) -> Result<(), StoreError> {
    let bad = |what: &str| StoreError::Storage(format!("{ACTIVITY_TABLE}: {what}"));
    // DataFusion may hand text back as string views: read it as plain
    // strings whatever the scan chose.
    let text = |name: &str| -> Result<StringArray, StoreError> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| bad(&format!("column {name} missing")))?;
        let plain = arrow::compute::cast(column, &DataType::Utf8)
            .map_err(|e| bad(&format!("column {name}: {e}")))?;
        Ok(plain.as_string::<i32>().clone())
    };
    let seq = batch
        .column_by_name("seq")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| bad("column seq missing"))?;
    let at = batch
        .column_by_name("at")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| bad("column at missing"))?;
    let (finding, actor, action, status) = (
        &text("finding_id")?,
        &text("actor")?,
        &text("action")?,
        &text("status")?,
    );
    let (disposition, assignee, note, via, instance) = (
        &text("disposition")?,
        &text("assignee")?,
        &text("note")?,
        &text("via")?,
        &text("agent_instance")?,
    );
    let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
    for i in 0..batch.num_rows() {
        let status = TriageStatus::parse(status.value(i))
            .ok_or_else(|| bad(&format!("unknown status {:?}", status.value(i))))?;
        let disposition = match opt(disposition, i) {
            Some(d) => Some(
                Disposition::parse(&d).ok_or_else(|| bad(&format!("unknown disposition {d:?}")))?,
            ),
            None => None,
        };
        out.push(ActivityEntry {
            seq: u64::try_from(seq.value(i)).map_err(|_| bad("negative seq"))?,
            finding_id: finding.value(i).to_owned(),
            at: at.value(i).saturating_mul(1_000),
            actor: actor.value(i).to_owned(),
            action: action.value(i).to_owned(),
            state: TriageState {
                status,
                disposition,
                assignee: opt(assignee, i),
            },
            note: opt(note, i),
            via: via.value(i).to_owned(),
            agent_instance: opt(instance, i),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> ActivityEntry {
        ActivityEntry {
            seq,
            finding_id: format!("f{}", seq % 3),
            // Whole microseconds: what the table keeps.
            at: 1_700_000_000_000_000_000 + i64::try_from(seq).unwrap_or(0) * 1_000,
            actor: "ana".into(),
            action: "close".into(),
            state: TriageState {
                status: TriageStatus::Closed,
                disposition: Some(Disposition::FalsePositiveData),
                assignee: seq.is_multiple_of(2).then(|| "ana".to_owned()),
            },
            note: Some(format!("note {seq}")),
            via: "single".into(),
            agent_instance: seq.is_multiple_of(2).then(|| format!("i{seq}")),
        }
    }

    #[test]
    fn appends_read_back_in_order_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_activity(dir.path()).unwrap().is_empty());
        append_activity(dir.path(), &[entry(1), entry(2)]).unwrap();
        append_activity(dir.path(), &[]).unwrap();
        append_activity(dir.path(), &[entry(3), entry(4)]).unwrap();
        let back = read_activity(dir.path()).unwrap();
        assert_eq!(back, (1..=4).map(entry).collect::<Vec<_>>());
        assert!(crate::is_delta_table(dir.path(), ACTIVITY_TABLE));
    }

    #[test]
    fn a_second_writer_of_the_same_entries_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        append_activity(dir.path(), &[entry(1), entry(2)]).unwrap();
        let again = append_activity(dir.path(), &[entry(2)]).unwrap_err();
        assert!(again.to_string().contains("up to seq 2"), "{again}");
        assert_eq!(read_activity(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn a_held_log_reads_only_what_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ActivityLog::new(dir.path());
        assert!(log.after(0).unwrap().is_empty());
        append_activity(dir.path(), &[entry(1), entry(2)]).unwrap();
        let first = log.after(0).unwrap();
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert!(log.after(2).unwrap().is_empty());
        append_activity(dir.path(), &[entry(3)]).unwrap();
        assert_eq!(log.after(2).unwrap(), vec![entry(3)]);
        // Asking from further back reads again.
        assert_eq!(log.after(1).unwrap().len(), 2);
    }
}

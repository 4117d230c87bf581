//! The `finding_activity` table: every triage change, appended, never
//! rewritten. A finding's current state is its latest entry (the
//! `finding_state` view), so the log is the only truth and SQL sees what
//! the API sees.
//!
//! Each append is one Parquet file named by the sequence numbers it holds
//! (`<first>-<last>.parquet`, zero-padded). Compaction writes one file
//! spanning several and then removes them; a crash in between leaves files
//! whose range lies inside another's, which [`settle_activity`] removes
//! and [`read_activity`] ignores, so no entry is lost or counted twice.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{SchemaRef, TimestampNanosecondType, UInt64Type};
use delegraph_model::{ActivityEntry, Disposition, TriageState, TriageStatus};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::columns::{Col, Columns, batch, schema};
use crate::{AtomicParquetFile, StoreError, remove_if_present};

/// The table's name (a directory under the data directory).
pub const ACTIVITY_TABLE: &str = "finding_activity";

static ACTIVITY_COLUMNS: &Columns<ActivityEntry> = &[
    ("seq", false, Col::Seq(|a| a.seq)),
    ("finding_id", false, Col::Text(|a| Some(&a.finding_id))),
    ("at", false, Col::Nanos(|a| a.at)),
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
];

static ACTIVITY_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(ACTIVITY_COLUMNS));

/// The Arrow schema of `finding_activity`.
pub fn activity_schema() -> SchemaRef {
    ACTIVITY_SCHEMA.clone()
}

fn activity_batch(rows: &[ActivityEntry]) -> Result<RecordBatch, StoreError> {
    batch(ACTIVITY_COLUMNS, activity_schema(), rows)
}

/// A published file and the sequence range it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ActivityFile {
    first: u64,
    last: u64,
    path: PathBuf,
}

fn file_name(first: u64, last: u64) -> String {
    format!("{first:020}-{last:020}")
}

/// The published files, each with its range; names not of that form are
/// not delegraph's and are left alone.
fn list_files(data_dir: &Path) -> Result<Vec<ActivityFile>, StoreError> {
    let dir = data_dir.join(ACTIVITY_TABLE);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((first, last)) = name
            .strip_suffix(".parquet")
            .and_then(|stem| stem.split_once('-'))
        else {
            continue;
        };
        if let (Ok(first), Ok(last)) = (first.parse(), last.parse()) {
            files.push(ActivityFile {
                first,
                last,
                path: entry.path(),
            });
        }
    }
    files.sort_by_key(|f| (f.first, std::cmp::Reverse(f.last)));
    Ok(files)
}

/// Files whose range lies inside another file's: left by a compaction
/// that published its result and stopped before removing its inputs.
fn superseded(files: &[ActivityFile]) -> Vec<&ActivityFile> {
    files
        .iter()
        .filter(|f| {
            files
                .iter()
                .any(|g| g.path != f.path && g.first <= f.first && f.last <= g.last)
        })
        .collect()
}

/// Append `entries` (in `seq` order) as one file; they are visible to
/// queries once this returns.
pub fn append_activity(data_dir: &Path, entries: &[ActivityEntry]) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(());
    };
    let mut file = AtomicParquetFile::create(
        data_dir,
        ACTIVITY_TABLE,
        &file_name(first.seq, last.seq),
        activity_schema(),
    )?;
    file.write(&activity_batch(entries)?)?;
    file.finish().map(|_| ())
}

/// Every entry in the store, in `seq` order.
pub fn read_activity(data_dir: &Path) -> Result<Vec<ActivityEntry>, StoreError> {
    read_activity_after(data_dir, 0)
}

/// The entries after `seq`, in order, reading only the files that hold
/// some: how the pipeline picks up the verdicts made since it last looked.
/// A file a concurrent compaction removed after the listing was taken
/// (its entries are in the merged file by then) makes it list again.
pub fn read_activity_after(data_dir: &Path, seq: u64) -> Result<Vec<ActivityEntry>, StoreError> {
    const ATTEMPTS: usize = 3;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let files = list_files(data_dir)?;
        let skip = superseded(&files);
        let mut out = Vec::new();
        let mut vanished = false;
        for f in files.iter().filter(|f| f.last > seq && !skip.contains(f)) {
            match read_file(&f.path, &mut out) {
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempt < ATTEMPTS =>
                {
                    vanished = true;
                    break;
                }
                other => other?,
            }
        }
        if vanished {
            continue;
        }
        out.retain(|a| a.seq > seq);
        out.sort_by_key(|a| a.seq);
        out.dedup_by_key(|a| a.seq);
        return Ok(out);
    }
}

/// Remove what an interrupted compaction left behind.
pub fn settle_activity(data_dir: &Path) -> Result<(), StoreError> {
    crate::remove_partials(data_dir, ACTIVITY_TABLE)?;
    let files = list_files(data_dir)?;
    for f in superseded(&files) {
        remove_if_present(&f.path)?;
    }
    Ok(())
}

/// Merge the table into one file once it has more than `max_files`;
/// returns whether it did.
pub fn compact_activity(data_dir: &Path, max_files: usize) -> Result<bool, StoreError> {
    settle_activity(data_dir)?;
    let files = list_files(data_dir)?;
    if files.len() <= max_files {
        return Ok(false);
    }
    let all = read_activity(data_dir)?;
    append_activity(data_dir, &all)?;
    let (Some(first), Some(last)) = (all.first(), all.last()) else {
        return Ok(false);
    };
    let merged = file_name(first.seq, last.seq);
    for f in files {
        if f.path.file_stem().is_some_and(|s| s != merged.as_str()) {
            remove_if_present(&f.path)?;
        }
    }
    Ok(true)
}

fn read_file(path: &Path, out: &mut Vec<ActivityEntry>) -> Result<(), StoreError> {
    let bad = |what: &str| StoreError::Storage(format!("{}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(&e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| bad(&e.to_string()))?;
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| bad(&format!("column {name} missing or not text")))
        };
        let seq = batch
            .column_by_name("seq")
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| bad("column seq missing"))?;
        let at = batch
            .column_by_name("at")
            .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
            .ok_or_else(|| bad("column at missing"))?;
        let (finding, actor, action, status) = (
            text("finding_id")?,
            text("actor")?,
            text("action")?,
            text("status")?,
        );
        let (disposition, assignee, note, via) = (
            text("disposition")?,
            text("assignee")?,
            text("note")?,
            text("via")?,
        );
        let opt = |a: &arrow::array::StringArray, i: usize| {
            (!a.is_null(i)).then(|| a.value(i).to_owned())
        };
        // Absent from files written before the log recorded instances.
        let instance = batch
            .column_by_name("agent_instance")
            .and_then(|c| c.as_string_opt::<i32>());
        for i in 0..batch.num_rows() {
            let status = TriageStatus::parse(status.value(i))
                .ok_or_else(|| bad(&format!("unknown status {:?}", status.value(i))))?;
            let disposition = match opt(disposition, i) {
                Some(d) => Some(
                    Disposition::parse(&d)
                        .ok_or_else(|| bad(&format!("unknown disposition {d:?}")))?,
                ),
                None => None,
            };
            out.push(ActivityEntry {
                seq: seq.value(i),
                finding_id: finding.value(i).to_owned(),
                at: at.value(i),
                actor: actor.value(i).to_owned(),
                action: action.value(i).to_owned(),
                state: TriageState {
                    status,
                    disposition,
                    assignee: opt(assignee, i),
                },
                note: opt(note, i),
                via: via.value(i).to_owned(),
                agent_instance: instance.and_then(|a| opt(a, i)),
            });
        }
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
            at: 1_700_000_000_000_000_000 + i64::try_from(seq).unwrap_or(0),
            actor: "ana".into(),
            action: "close".into(),
            state: TriageState {
                status: TriageStatus::Closed,
                disposition: Some(Disposition::FalsePositiveData),
                assignee: seq.is_multiple_of(2).then(|| "ana".to_owned()),
            },
            note: Some(format!("note {seq}")),
            via: "single".into(),
            agent_instance: Some(format!("i{}", seq % 2)),
        }
    }

    #[test]
    fn appends_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        append_activity(dir.path(), &[entry(3), entry(4)]).unwrap();
        append_activity(dir.path(), &[entry(1)]).unwrap();
        append_activity(dir.path(), &[]).unwrap();
        let back = read_activity(dir.path()).unwrap();
        assert_eq!(back, vec![entry(1), entry(3), entry(4)]);
    }

    #[test]
    fn compaction_keeps_every_entry_once_even_when_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        for s in 1..=5 {
            append_activity(dir.path(), &[entry(s)]).unwrap();
        }
        let all: Vec<_> = (1..=5).map(entry).collect();
        assert!(!compact_activity(dir.path(), 5).unwrap());
        assert!(compact_activity(dir.path(), 2).unwrap());
        assert_eq!(list_files(dir.path()).unwrap().len(), 1);
        assert_eq!(read_activity(dir.path()).unwrap(), all);
        // A compaction that stopped after publishing: the old files are
        // still there beside the merged one.
        // (A range inside the merged file stands for an input left behind.)
        append_activity(dir.path(), &[entry(6)]).unwrap();
        append_activity(dir.path(), &[entry(2), entry(3)]).unwrap();
        let six: Vec<_> = (1..=6).map(entry).collect();
        assert_eq!(read_activity(dir.path()).unwrap(), six);
        settle_activity(dir.path()).unwrap();
        assert_eq!(list_files(dir.path()).unwrap().len(), 2);
        assert_eq!(read_activity(dir.path()).unwrap(), six);
    }

    #[test]
    fn reads_after_a_seq_and_files_written_before_instances_were_logged() {
        let dir = tempfile::tempdir().unwrap();
        append_activity(dir.path(), &[entry(1), entry(2)]).unwrap();
        append_activity(dir.path(), &[entry(3)]).unwrap();
        // A file of the log's first layout: no agent_instance column.
        let full = activity_batch(&[entry(4)]).unwrap();
        let gone = full.schema().index_of("agent_instance").unwrap();
        let keep: Vec<usize> = (0..full.num_columns()).filter(|&i| i != gone).collect();
        let legacy = full.project(&keep).unwrap();
        let mut f = AtomicParquetFile::create(
            dir.path(),
            ACTIVITY_TABLE,
            &file_name(4, 4),
            legacy.schema(),
        )
        .unwrap();
        f.write(&legacy).unwrap();
        f.finish().unwrap();
        let after = read_activity_after(dir.path(), 2).unwrap();
        assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(after[0].agent_instance.as_deref(), Some("i1"));
        assert_eq!(after[1].agent_instance, None);
        assert!(read_activity_after(dir.path(), 4).unwrap().is_empty());
    }
}

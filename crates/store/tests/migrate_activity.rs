//! The triage log of a store written before it was a Delta table (loose
//! Parquet files named by the sequence numbers they hold, `seq` unsigned,
//! `at` in nanoseconds, as delegraph wrote them until then) is refused
//! until converted, and `migrate_old_layout` converts it losing nothing
//! and repeating nothing, a compaction's leftover input included.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use delegraph_store::{
    ACTIVITY_TABLE, PRE_DELTA_DIR, QueryLimits, SqlEngine, migrate_old_layout, read_activity,
    refuse_old_layout,
};

/// One file of the old layout holding entries `seqs` (the first file of
/// that layout had no `agent_instance` column: `with_instance` false).
fn old_file(data_dir: &Path, seqs: &[u64], with_instance: bool) {
    let n = seqs.len();
    let text = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "seq",
            Arc::new(UInt64Array::from(seqs.to_vec())) as ArrayRef,
        ),
        (
            "finding_id",
            text(seqs.iter().map(|s| Some(format!("f{}", s % 2))).collect()),
        ),
        (
            "at",
            Arc::new(
                TimestampNanosecondArray::from(
                    seqs.iter()
                        .map(|s| 1_780_000_000_123_456_789 + i64::try_from(*s).unwrap())
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ),
        ("actor", text(vec![Some("ana".into()); n])),
        ("action", text(vec![Some("close".into()); n])),
        ("status", text(vec![Some("closed".into()); n])),
        ("disposition", text(vec![Some("true_positive".into()); n])),
        ("assignee", text(vec![None; n])),
        (
            "note",
            text(seqs.iter().map(|s| Some(format!("n{s}"))).collect()),
        ),
        ("via", text(vec![Some("single".into()); n])),
    ];
    if with_instance {
        columns.push((
            "agent_instance",
            text(seqs.iter().map(|s| Some(format!("i{s}"))).collect()),
        ));
    }
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let name = format!("{:020}-{:020}", seqs[0], seqs[n - 1]);
    let dir = data_dir.join(ACTIVITY_TABLE);
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn the_old_triage_log_is_refused_then_converted_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    old_file(data, &[1, 2], false);
    // A compaction merged 3..=5 and stopped before removing its input 3..=4.
    old_file(data, &[3, 4], true);
    old_file(data, &[3, 4, 5], true);
    old_file(data, &[6], true);

    let refused = refuse_old_layout(data).unwrap_err().to_string();
    assert!(refused.contains(ACTIVITY_TABLE), "{refused}");
    assert!(refused.contains("delegraph store migrate"), "{refused}");

    let done = migrate_old_layout(data).unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].table, ACTIVITY_TABLE);
    assert_eq!(done[0].files, 4, "every old file is moved aside");
    assert_eq!(done[0].rows, 6, "the leftover input is not converted");
    refuse_old_layout(data).unwrap();
    let moved = std::fs::read_dir(data.join(PRE_DELTA_DIR).join(ACTIVITY_TABLE))
        .unwrap()
        .count();
    assert_eq!(moved, 4);

    let entries = read_activity(data).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    // Times to the microsecond; instances null where the file had none.
    assert_eq!(entries[0].at, 1_780_000_000_123_456_000);
    assert_eq!(entries[0].agent_instance, None);
    assert_eq!(entries[5].agent_instance.as_deref(), Some("i6"));
    assert_eq!(entries[5].note.as_deref(), Some("n6"));

    // SQL reads the converted log, and the state view over it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let sql = SqlEngine::open(data, QueryLimits::default()).await.unwrap();
        sql.query_to_string(
            "SELECT count(*) AS n, max(seq) AS last FROM finding_activity",
            delegraph_store::OutputFormat::Csv,
        )
        .await
        .unwrap()
    });
    assert_eq!(rows.trim(), "n,last\n6,6");
}

//! Compaction of closed days, expiry by day and VACUUM, each while readers
//! query without pause: no query fails, compaction changes no row, expiry
//! removes exactly the expired days.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use delegraph_store::{
    CommitTag, DayFiling, EdgeRow, OutputFormat, QueryLimits, Redo, SqlEngine, TableAppend,
    compact_closed_days, damaged_files, damaged_in_store, edges_batch, edges_schema,
    expire_days_before, table_stats, utc_day, vacuum,
};

const DAY: i64 = 86_400 * 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const START: i64 = 20_454 * DAY;
const DAYS: i64 = 4;
const EPOCHS: i64 = 12;
const ROWS: usize = 500;

/// Epoch `epoch` commits rows spread over every day (a stream's epoch
/// carries late events too), so every day gets a file per epoch.
fn commit_epoch(dir: &Path, epoch: i64) {
    let rows: Vec<EdgeRow> = (0..ROWS)
        .map(|i| {
            let t = START + (i as i64 % DAYS) * DAY + epoch * 60_000_000_000 + i as i64;
            EdgeRow {
                instance: format!("i-{}", i % 13),
                from: format!("e{epoch}-{i}"),
                to: format!("to-{i}"),
                first_seen: t,
                last_seen: t,
                count: 1,
                ..EdgeRow::default()
            }
        })
        .collect();
    let filing = DayFiling::at(START + DAYS * DAY, DAY, 0);
    let mut t = TableAppend::open(dir, "edges", edges_schema(), filing).unwrap();
    t.write(edges_batch(&rows).unwrap()).unwrap();
    let tag = CommitTag {
        app_id: "maintenance-test".into(),
        version: epoch,
        redo: Redo::Replace,
    };
    t.commit(&tag).unwrap();
}

async fn csv(data: &Path, sql: &str) -> String {
    let engine = SqlEngine::open(data, QueryLimits::default()).await.unwrap();
    engine
        .query_to_string(sql, OutputFormat::Csv)
        .await
        .unwrap()
}

/// Rows per day and a digest of every row, in one query.
const SUMMARY: &str = "SELECT day, count(*) AS n, \
     sum(CAST(last_seen AS BIGINT) % 1000003) AS s, min(from_node) AS lo, max(from_node) AS hi \
     FROM edges GROUP BY day ORDER BY day";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_expiry_and_vacuum_under_queries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    for epoch in 0..EPOCHS {
        commit_epoch(&data, epoch);
    }
    let before = csv(&data, SUMMARY).await;
    let stats = table_stats(&data, "edges").unwrap().unwrap();
    assert_eq!(stats.days, DAYS as usize);
    assert_eq!(stats.max_files_per_day, EPOCHS as usize);
    assert_eq!(stats.rows, (EPOCHS as u64) * ROWS as u64);

    // Readers throughout: a fresh engine per query, as the API opens.
    let stop = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicUsize::new(0));
    let readers = {
        let (data, stop, queries) = (data.clone(), stop.clone(), queries.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let engine = SqlEngine::open(&data, QueryLimits::default()).await;
                let engine = engine.unwrap_or_else(|e| panic!("open failed: {e}"));
                engine
                    .query_to_string(
                        "SELECT count(*), max(to_node) FROM edges",
                        OutputFormat::Csv,
                    )
                    .await
                    .unwrap_or_else(|e| panic!("query failed: {e}"));
                queries.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let maintenance = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            // The last day is still open; the three before it are closed.
            let last = utc_day(START + (DAYS - 1) * DAY);
            let c = compact_closed_days(&data, "edges", &last).unwrap();
            assert_eq!(c.days, 3);
            assert_eq!(c.files_removed, 3 * EPOCHS as u64);
            let after = table_stats(&data, "edges").unwrap().unwrap();
            // Compacting again finds nothing left to do.
            assert_eq!(compact_closed_days(&data, "edges", &last).unwrap().days, 0);
            std::thread::sleep(Duration::from_millis(1500));
            let deleted = vacuum(&data, "edges", Duration::from_secs(1)).unwrap();
            (after, deleted)
        })
    };
    let (after, deleted) = maintenance.await.unwrap();
    assert_eq!(after.files, 3 + EPOCHS as usize, "one file per closed day");
    assert_eq!(after.rows, stats.rows);
    assert_eq!(deleted, 3 * EPOCHS as usize, "the compacted files");
    // Compaction moved no row: same rows per day, same digest.
    assert_eq!(csv(&data, SUMMARY).await, before);

    // Expiry: the first day goes, exactly.
    let second = utc_day(START + DAY);
    let removed = expire_days_before(&data, "edges", &second).unwrap();
    assert_eq!(removed, 1);
    let kept = csv(&data, SUMMARY).await;
    let expected: Vec<&str> = before
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(kept.lines().collect::<Vec<_>>(), expected);

    stop.store(true, Ordering::Relaxed);
    readers.await.unwrap();
    assert!(
        queries.load(Ordering::Relaxed) > 3,
        "the readers barely ran"
    );
}

#[test]
fn files_missing_or_cut_short_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for epoch in 0..2 {
        commit_epoch(data, epoch);
    }
    assert_eq!(damaged_in_store(data).unwrap(), []);
    let day = data.join("edges").join(format!("day={}", utc_day(START)));
    let mut files: Vec<_> = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() - 1]).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let damaged = damaged_files(data, "edges").unwrap();
    assert_eq!(damaged.len(), 2, "{damaged:?}");
    let cut = damaged.iter().find(|d| d.stored_bytes.is_some()).unwrap();
    assert_eq!(cut.stored_bytes, Some(bytes.len() as u64 - 1));
    assert_eq!(cut.logged_bytes, bytes.len() as u64);
    assert!(cut.path.starts_with("day="), "{cut}");
    let gone = damaged.iter().find(|d| d.stored_bytes.is_none()).unwrap();
    assert!(gone.to_string().contains("is missing"), "{gone}");
    // Put back, the file is whole again; the other stays reported.
    std::fs::write(&files[0], &bytes).unwrap();
    assert_eq!(damaged_in_store(data).unwrap().len(), 1);
}

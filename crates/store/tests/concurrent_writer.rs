//! Readers query while a writer commits to the tables (a stream's epochs,
//! its current-state table replaced every epoch, an epoch redone after a
//! crash replacing its earlier attempt): no query may fail for it, and
//! every query sees whole commits, never a writer's step.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use delegraph_store::{
    CommitTag, DayFiling, EDGES_LIVE, EdgeRow, QueryLimits, Redo, SqlEngine, TableAppend,
    edges_batch, edges_schema, replace_current,
};

const ROWS: usize = 20_000;
const EPOCHS: i64 = 6;

fn edges(rows: usize) -> Vec<EdgeRow> {
    (0..rows)
        .map(|i| EdgeRow {
            instance: format!("i-{}", i % 97),
            from: format!("from-{i}"),
            to: format!("to-{i}"),
            ..EdgeRow::default()
        })
        .collect()
}

/// Commit epoch `epoch`'s rows; a second commit of the same epoch
/// replaces the first, as a redo after a crash does.
fn commit_epoch(dir: &Path, epoch: i64, rows: usize) {
    let mut t = TableAppend::open(dir, "edges", edges_schema(), DayFiling::now()).unwrap();
    t.write(edges_batch(&edges(rows)).unwrap()).unwrap();
    let tag = CommitTag {
        app_id: "test-stream".into(),
        version: epoch,
        redo: Redo::Replace,
    };
    t.commit(&tag).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_see_whole_commits_while_epochs_are_committed_and_redone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    for k in 0..EPOCHS {
        commit_epoch(&data, k, ROWS);
    }
    replace_current(
        &data,
        EDGES_LIVE,
        edges_batch(&edges(1)).unwrap(),
        &DayFiling::now(),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (data, stop) = (data.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut changes = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // The redo of the latest epoch: its rows are replaced.
                commit_epoch(&data, EPOCHS - 1, ROWS);
                // The current state: replaced, a different size each time.
                let live = 1 + (changes as usize % 7) * 1000;
                let batch = edges_batch(&edges(live)).unwrap();
                replace_current(&data, EDGES_LIVE, batch, &DayFiling::now()).unwrap();
                changes += 1;
            }
            changes
        })
    };
    let until = Instant::now() + Duration::from_secs(3);
    let mut queries = 0;
    while Instant::now() < until {
        let engine = SqlEngine::open(&data, QueryLimits::default())
            .await
            .unwrap();
        let out = engine
            .query_to_string(
                "SELECT count(*) AS n, count(DISTINCT agent_instance) AS i FROM edges",
                delegraph_store::OutputFormat::Csv,
            )
            .await;
        let text = out.unwrap_or_else(|e| panic!("query {queries} failed: {e}"));
        let n: usize = text
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let epochs = EPOCHS as usize * ROWS;
        let live = n
            .checked_sub(epochs)
            .unwrap_or_else(|| panic!("{n} rows: fewer than the {epochs} of the committed epochs"));
        assert!(
            live % 1000 == 1 && live <= 6001,
            "{n} rows: the redone epoch or the current state was seen half-replaced"
        );
        queries += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().unwrap();
    assert!(
        changes > 5 && queries > 10,
        "{changes} changes, {queries} queries"
    );
}

//! Readers query while a writer publishes, replaces and removes table files
//! (a stream's epochs, its live snapshot, an epoch redone after a crash):
//! no query may fail for it.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use delegraph_store::{
    AtomicParquetFile, EdgeRow, QueryLimits, SqlEngine, edges_batch, edges_schema, remove_run_file,
};

const ROWS: usize = 20_000;

fn publish(dir: &Path, name: &str, rows: usize) {
    let edges: Vec<EdgeRow> = (0..rows)
        .map(|i| EdgeRow {
            instance: format!("i-{}", i % 97),
            from: format!("from-{i}"),
            to: format!("to-{i}"),
            ..EdgeRow::default()
        })
        .collect();
    let mut f = AtomicParquetFile::create(dir, "edges", name, edges_schema()).unwrap();
    f.write(&edges_batch(&edges).unwrap()).unwrap();
    f.finish().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_survive_files_published_replaced_and_removed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    for k in 0..6 {
        publish(&data, &format!("epoch-{k}"), ROWS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (data, stop) = (data.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut changes = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let k = changes % 6;
                // The redo of an epoch: what it published goes, then comes back.
                remove_run_file(&data, "edges", &format!("epoch-{k}")).unwrap();
                std::thread::sleep(Duration::from_millis(15));
                publish(&data, &format!("epoch-{k}"), ROWS);
                // The live snapshot: replaced in place, a different size each time.
                publish(&data, "live", 1 + (changes as usize % 7) * 1000);
                std::thread::sleep(Duration::from_millis(15));
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
        assert!(n >= 5 * ROWS, "{n} rows: a published file was missed");
        queries += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().unwrap();
    assert!(
        changes > 10 && queries > 10,
        "{changes} changes, {queries} queries"
    );
}

//! A stream's open days: compaction of days crowded with one file per
//! epoch keeps every row and the exactly-once guarantee of later epochs,
//! and a writer shortens the log retention of tables made with the old one.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use delegraph_store::{
    CommitTag, DayFiling, EdgeRow, OutputFormat, QueryLimits, Redo, SqlEngine, TableAppend,
    edges_batch, edges_schema, table_stats,
};

const DAY: i64 = 86_400 * 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const START: i64 = 20_454 * DAY;
const ROWS: usize = 50;

/// Epoch `epoch`'s rows, over two days (a stream's epoch carries late
/// events too): each commit adds a file to each day.
fn epoch_rows(epoch: i64) -> Vec<EdgeRow> {
    (0..ROWS)
        .map(|i| {
            let t = START + (i as i64 % 2) * DAY + epoch * 1_000_000_000 + i as i64;
            EdgeRow {
                instance: format!("i-{}", i % 7),
                from: format!("e{epoch}-{i}"),
                to: format!("to-{i}"),
                first_seen: t,
                last_seen: t,
                count: 1,
                ..EdgeRow::default()
            }
        })
        .collect()
}

fn tag(epoch: i64) -> CommitTag {
    CommitTag {
        app_id: "crowded-test".into(),
        version: epoch,
        redo: Redo::Replace,
    }
}

fn open(dir: &Path) -> TableAppend {
    let filing = DayFiling::at(START + 2 * DAY, DAY, 0);
    TableAppend::open(dir, "edges", edges_schema(), filing).unwrap()
}

async fn summary(dir: &Path) -> String {
    let engine = SqlEngine::open(dir, QueryLimits::default()).await.unwrap();
    engine
        .query_to_string(
            "SELECT day, count(*) AS n, count(DISTINCT from_node) AS d, \
             sum(CAST(last_seen AS BIGINT) % 1000003) AS s FROM edges GROUP BY day ORDER BY day",
            OutputFormat::Csv,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacting_crowded_days_keeps_rows_and_later_redos_exact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let (before, after, redone, stats) = tokio::task::spawn_blocking(move || {
        let mut t = open(&data);
        for epoch in 1..=20 {
            t.write(edges_batch(&epoch_rows(epoch)).unwrap()).unwrap();
            t.commit(&tag(epoch)).unwrap();
        }
        let crowded = table_stats(&data, "edges").unwrap().unwrap();
        assert_eq!(crowded.max_files_per_day, 20);

        // Under the limit: nothing is rewritten.
        let untouched = t.log().compact_crowded_days(20).unwrap();
        assert_eq!(untouched.files_removed, 0);

        let before = block(summary(&data));
        let compacted = t.log().compact_crowded_days(8).unwrap();
        assert_eq!(compacted.days, 2);
        assert_eq!(compacted.files_removed, 40);
        assert_eq!(compacted.files_added, 2);
        let after = block(summary(&data));

        // The next epoch commits through the same writer, then is redone
        // after a "crash" by a fresh writer: replaced, not repeated.
        t.write(edges_batch(&epoch_rows(21)).unwrap()).unwrap();
        t.commit(&tag(21)).unwrap();
        let mut again = open(&data);
        again.write(edges_batch(&epoch_rows(21)).unwrap()).unwrap();
        again.commit(&tag(21)).unwrap();
        let redone = block(summary(&data));
        (
            before,
            after,
            redone,
            table_stats(&data, "edges").unwrap().unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(before, after, "compaction changed rows");
    assert!(before.contains(",500,500,"), "{before}");
    assert!(redone.contains(",525,525,"), "{redone}");
    assert_eq!(stats.max_files_per_day, 2, "{stats:?}");
}

/// Waits on a future from the blocking thread the table writer runs on.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

#[tokio::test]
async fn a_writer_shortens_the_log_retention_of_an_older_table() {
    let dir = tempfile::tempdir().unwrap();
    let table_dir = dir.path().join("edges");
    std::fs::create_dir_all(&table_dir).unwrap();
    let url = url::Url::from_directory_path(&table_dir).unwrap();
    let kernel: deltalake::kernel::StructType = {
        use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
        edges_schema().as_ref().try_into_kernel().unwrap()
    };
    deltalake::DeltaTableBuilder::from_url(url.clone())
        .unwrap()
        .build()
        .unwrap()
        .create()
        .with_columns(kernel.fields().cloned())
        .with_partition_columns(["day"])
        .with_configuration_property(
            deltalake::TableProperty::LogRetentionDuration,
            Some("interval 2 days"),
        )
        .await
        .unwrap();
    let data = dir.path().to_owned();
    tokio::task::spawn_blocking(move || open(&data))
        .await
        .unwrap();
    let table = deltalake::open_table(url).await.unwrap();
    let retention = table
        .snapshot()
        .unwrap()
        .metadata()
        .configuration()
        .get("delta.logRetentionDuration")
        .cloned();
    assert_eq!(retention.as_deref(), Some("interval 1 hours"));
}

//! The store's tables on an S3-protocol server (moto, started by
//! `scripts/s3`): replay, SQL, compaction, VACUUM, expiry and the file check
//! run there as on a local directory, with the same rows; a redone run adds
//! nothing; the objects are where the location says.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::kafka::free_port;
use common::{bin, replay, repo, run, simulate, sql_json_via, table_rows, table_rows_via};

/// A moto server on a free port, stopped on drop.
struct S3 {
    dir: tempfile::TempDir,
    port: u16,
}

impl S3 {
    fn start() -> Self {
        let s = Self {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        };
        run(Command::new(repo().join("scripts/s3"))
            .arg("start")
            .arg(s.dir.path())
            .arg(s.port.to_string()));
        s
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `delegraph` with the `AWS_*` settings that reach this server.
    fn bin(&self) -> Command {
        let mut c = bin();
        c.env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "delegraph-test")
            .env("AWS_SECRET_ACCESS_KEY", "delegraph-test")
            .env("AWS_REGION", "us-east-1");
        c
    }

    /// An S3 request with curl; its body.
    fn curl(&self, method: &str, path: &str) -> String {
        let out = run(Command::new("curl").args([
            "-sf",
            "-X",
            method,
            &format!("{}{path}", self.endpoint()),
        ]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/s3"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn replay_s3(s3: &S3, data: &Path, files: &[PathBuf]) {
    run(s3
        .bin()
        .arg("replay")
        .arg("--data-dir")
        .arg(data)
        .args(files));
}

#[test]
fn the_store_on_an_s3_server_holds_what_a_local_one_holds() {
    let s3 = S3::start();
    s3.curl("PUT", "/delegraph-tables");
    let dir = tempfile::tempdir().unwrap();
    let halves = [
        simulate(&dir.path().join("sim-a"), 7, 150, 30.0),
        simulate(&dir.path().join("sim-b"), 8, 150, 30.0),
    ];

    let local = dir.path().join("local");
    for files in &halves {
        replay(&local, files);
    }
    let want = table_rows(&local);
    assert!(want.iter().all(|(_, rows)| !rows.is_empty()));

    let data = dir.path().join("data");
    let said = run(s3
        .bin()
        .args([
            "store",
            "init",
            "--tables",
            "s3://delegraph-tables/store",
            "--data-dir",
        ])
        .arg(&data));
    assert!(String::from_utf8_lossy(&said.stdout).contains("s3://delegraph-tables/store/"));
    for files in &halves {
        replay_s3(&s3, &data, files);
    }
    // A second replay of the same input is recognised and adds nothing.
    replay_s3(&s3, &data, &halves[0]);
    assert_eq!(table_rows_via(|| s3.bin(), &data), want);

    // The tables are in the bucket, not in the directory.
    assert!(!data.join("events").exists());
    let listing = s3.curl(
        "GET",
        "/delegraph-tables?list-type=2&prefix=store/events/_delta_log/",
    );
    assert!(
        listing.contains("store/events/_delta_log/00000000000000000000.json"),
        "{listing}"
    );

    // Upkeep there changes no row and leaves every file whole.
    for action in [
        vec!["optimize", "--closed-after-hours", "0"],
        vec!["vacuum", "--retention-hours", "0"],
    ] {
        run(s3
            .bin()
            .arg("store")
            .args(&action)
            .arg("--data-dir")
            .arg(&data));
    }
    let checked = run(s3.bin().args(["store", "check", "--data-dir"]).arg(&data));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("is whole"));
    assert_eq!(table_rows_via(|| s3.bin(), &data), want);
    let stats = run(s3.bin().args(["store", "stats", "--data-dir"]).arg(&data));
    let stats = String::from_utf8_lossy(&stats.stdout);
    let events = stats.lines().find(|l| l.starts_with("events ")).unwrap();
    assert_eq!(events.split_whitespace().last(), Some("1"), "{stats}");

    // Two writers at once: each commit claims its log entry with a
    // conditional put, so the loser retries on top instead of overwriting.
    let racing = dir.path().join("racing");
    run(s3
        .bin()
        .args([
            "store",
            "init",
            "--tables",
            "s3://delegraph-tables/racing",
            "--data-dir",
        ])
        .arg(&racing));
    let writers: Vec<_> = halves
        .iter()
        .map(|files| {
            s3.bin()
                .args(["replay", "--no-state", "--data-dir"])
                .arg(&racing)
                .args(files)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().unwrap().success());
    }
    let count = "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events";
    assert_eq!(
        sql_json_via(s3.bin(), &racing, count),
        common::sql_json(&local, count)
    );

    // Another location for the same directory is refused.
    let out = s3
        .bin()
        .args([
            "store",
            "init",
            "--tables",
            "s3://elsewhere/x",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already live at"));
}

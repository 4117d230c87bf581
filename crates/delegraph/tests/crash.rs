//! Killed mid-way (SIGKILL, no chance to clean up), then run again: a
//! replay's commits and the store's upkeep leave the tables as if nothing
//! had happened, nothing lost and nothing twice. The kill points are
//! spread over each command's run from a seeded generator; the seed is in
//! every failure message.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{bin, replay, run, simulate, stratus_files, table_rows};

/// A small deterministic generator (64-bit LCG): the kill points.
struct Points(u64);

impl Points {
    /// A point in `0..max` milliseconds.
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % max.max(1)
    }
}

/// How long `cmd` takes when left alone, in milliseconds.
fn duration_ms(mut cmd: Command) -> u64 {
    let t = Instant::now();
    run(&mut cmd);
    t.elapsed().as_millis() as u64
}

/// Start `cmd`, kill it after `after`; whether it was still running.
fn kill_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(after);
    let running = child.try_wait().unwrap().is_none();
    // SIGKILL on Unix.
    let _ = child.kill();
    let _ = child.wait();
    running
}

fn replay_cmd(data: &Path, files: &[PathBuf]) -> Command {
    let mut c = bin();
    c.arg("replay").arg("--data-dir").arg(data).args(files);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

fn store_cmd(action: &str, data: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.args(["store", action, "--data-dir"])
        .arg(data)
        .args(extra);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// The store's files are whole and the tables hold what `want` holds.
fn assert_same_tables(data: &Path, want: &[(String, Vec<serde_json::Value>)], seed: u64) {
    run(bin().args(["store", "check", "--data-dir"]).arg(data));
    for ((table, got), (_, expected)) in table_rows(data).iter().zip(want) {
        assert_eq!(
            got.len(),
            expected.len(),
            "{table}: row count (seed {seed})"
        );
        assert_eq!(got, expected, "{table} differs (seed {seed})");
    }
}

/// Rounds, each on a fresh copy of `base` (at `dir/round-N`): `cut`
/// killed at a random point of its run, then `finish` run to the end; the
/// tables must equal `want` after every round. At least half the kills
/// must have landed while `cut` was still running.
fn rounds(
    dir: &Path,
    base: Option<&Path>,
    cut: impl Fn(&Path) -> Command,
    finish: impl Fn(&Path),
    want: &[(String, Vec<serde_json::Value>)],
    seed: u64,
) {
    // The shorter of two undisturbed runs: the first run of a command is
    // often the slowest (cold caches), and kill points drawn from it would
    // fall after the later runs have ended.
    let took = (0..2)
        .map(|i| {
            let timing = dir.join(format!("timing-{i}"));
            if let Some(b) = base {
                common::copy_dir(b, &timing);
            }
            duration_ms(cut(&timing))
        })
        .min()
        .unwrap_or(0);
    let mut points = Points(seed);
    let mut interrupted = 0;
    const ROUNDS: usize = 6;
    for round in 0..ROUNDS {
        let data = dir.join(format!("round-{round}"));
        if let Some(b) = base {
            common::copy_dir(b, &data);
        }
        let after = Duration::from_millis(points.next_ms(took * 3 / 4));
        interrupted += usize::from(kill_after(cut(&data), after));
        finish(&data);
        assert_same_tables(&data, want, seed);
    }
    assert!(
        interrupted >= ROUNDS / 2,
        "only {interrupted} of {ROUNDS} kills landed mid-run (seed {seed}, {took} ms a run)"
    );
}

#[test]
fn replays_killed_at_random_points_then_redone_equal_one_uninterrupted_replay() {
    let dir = tempfile::tempdir().unwrap();
    let files = simulate(&dir.path().join("sim"), 3, 300, 6.0);
    let whole = dir.path().join("whole");
    replay(&whole, &files);
    let want = table_rows(&whole);
    assert!(want.iter().all(|(_, rows)| !rows.is_empty()));
    rounds(
        dir.path(),
        None,
        |data| replay_cmd(data, &files),
        |data| {
            replay(data, &files);
        },
        &want,
        17,
    );
}

#[test]
fn upkeep_killed_at_random_points_changes_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One replay per file: several files in each day to compact.
    for f in stratus_files() {
        replay(&data, &[f]);
    }
    let want = table_rows(&data);
    assert!(!want[0].1.is_empty(), "no events");
    let optimize = |d: &Path| store_cmd("optimize", d, &["--closed-after-hours", "0"]);
    let vacuum = |d: &Path| store_cmd("vacuum", d, &["--retention-hours", "0"]);
    let both = |d: &Path| {
        run(&mut optimize(d));
        run(&mut vacuum(d));
    };
    rounds(dir.path(), Some(&data), optimize, both, &want, 23);
    // VACUUM cut short, on a compacted store with files to delete.
    let compacted = dir.path().join("compacted");
    common::copy_dir(&data, &compacted);
    run(&mut optimize(&compacted));
    let vacuumed = dir.path().join("vacuum-rounds");
    rounds(
        &vacuumed,
        Some(&compacted),
        vacuum,
        |d| {
            run(&mut vacuum(d));
        },
        &want,
        29,
    );
    let stats = run(bin()
        .args(["store", "stats", "--data-dir"])
        .arg(vacuumed.join("round-0")));
    let stats = String::from_utf8_lossy(&stats.stdout);
    let events = stats.lines().find(|l| l.starts_with("events ")).unwrap();
    // The last column: files in the day with the most.
    assert_eq!(events.split_whitespace().last(), Some("1"), "{stats}");
}

//! A replay larger than `--in-memory-mb` reads its inputs twice: first to
//! index their pieces by event time, then merged in that order, holding
//! only what overlaps in time. Its tables must be the ones a replay held
//! whole writes, row for row: origins, dead letters and which copy of a
//! record delivered twice is kept included.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{bin, fixture_inputs, run, simulate};

/// Every table's rows (dead letters without the wall-clock time they were
/// written), sorted.
fn all_rows(work: &Path, data: &str) -> Vec<(String, Vec<String>)> {
    ["events", "agents", "edges", "findings", "dead_letters"]
        .into_iter()
        .map(|table| {
            let all = if table == "dead_letters" {
                "* EXCLUDE (dead_at)"
            } else {
                "*"
            };
            let rows = common::sql_json(&work.join(data), &format!("SELECT {all} FROM {table}"));
            let mut rows: Vec<String> = rows.iter().map(ToString::to_string).collect();
            rows.sort_unstable();
            (table.to_owned(), rows)
        })
        .collect()
}

/// Replay `files` from `work` (relative paths, so origins compare) into
/// `work/<data>` with `flags`; returns the summary.
fn replay(work: &Path, data: &str, files: &[PathBuf], flags: &[&str]) -> String {
    let rel: Vec<&Path> = files
        .iter()
        .map(|f| f.strip_prefix(work).unwrap())
        .collect();
    let out = run(bin()
        .current_dir(work)
        .args(["replay", "--data-dir", data])
        .args(flags)
        .args(&rel));
    String::from_utf8(out.stdout).unwrap()
}

/// (pieces, most events held) from a merged replay's summary.
fn merged(summary: &str) -> (u64, u64) {
    let line = summary
        .lines()
        .find(|l| l.starts_with("ordered by event time in "))
        .unwrap_or_else(|| panic!("not merged:\n{summary}"));
    let numbers: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1])
}

fn events(summary: &str) -> u64 {
    summary.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_replay_merged_by_event_time_writes_the_tables_of_a_whole_one() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    // The fixtures, malformed ones included, cut at every place a piece
    // may end: lines, dead letters and duplicates must come out the same.
    let fixtures = fixture_inputs(&work.join("in/fixtures"));
    let one_thread = ["--threads", "1"];
    let whole = replay(work, "fixtures-whole", &fixtures, &one_thread);
    assert!(!whole.contains("ordered by event time"), "{whole}");
    // Held whole, every record its own piece, decoded on four threads: the
    // pipeline takes them in input order all the same.
    let threads = ["--threads", "4", "--piece-bytes", "1"];
    replay(work, "fixtures-threads", &fixtures, &threads);
    assert_eq!(
        all_rows(work, "fixtures-whole"),
        all_rows(work, "fixtures-threads")
    );
    let cut = ["--in-memory-mb", "0", "--piece-bytes", "1"];
    let pieces = replay(work, "fixtures-merged", &fixtures, &cut);
    assert!(merged(&pieces).0 > fixtures.len() as u64, "{pieces}");
    assert_eq!(
        all_rows(work, "fixtures-whole"),
        all_rows(work, "fixtures-merged")
    );
    // A simulated fleet, each source's file in time order: the merge holds
    // a small part of it at a time.
    let fleet = simulate(&work.join("in/fleet"), 9, 1500, 6.0);
    let whole = replay(work, "fleet-whole", &fleet, &one_thread);
    replay(work, "fleet-threads", &fleet, &["--threads", "3"]);
    assert_eq!(
        all_rows(work, "fleet-whole"),
        all_rows(work, "fleet-threads")
    );
    let small = ["--in-memory-mb", "0", "--piece-bytes", "65536"];
    let pieces = replay(work, "fleet-merged", &fleet, &small);
    let (n, most_held) = merged(&pieces);
    assert_eq!(events(&whole), events(&pieces));
    assert!(n > 50, "{pieces}");
    assert!(
        most_held * 10 < events(&whole),
        "held {most_held} of {} events at once",
        events(&whole)
    );
    assert_eq!(
        all_rows(work, "fleet-whole"),
        all_rows(work, "fleet-merged")
    );
}

/// `simulate` one instalment of `hours` starting `start` into `dir`.
fn instalment(dir: &Path, seed: u64, start: &str, hours: &str) -> Vec<PathBuf> {
    run(bin()
        .args(["simulate", "--seed", &seed.to_string(), "--agents", "400"])
        .args(["--hours", hours, "--start", start, "--out"])
        .arg(dir));
    common::SIM_FILES.iter().map(|f| dir.join(f)).collect()
}

#[test]
fn instalments_replayed_one_a_run_with_carry_over_write_what_one_replay_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    // Two drops, the first still holding half an hour past the second's
    // start (the first simulated fleet acts until about 05:30).
    let first = instalment(&work.join("a"), 21, "2026-03-02T00:00:00Z", "6");
    let second = instalment(&work.join("b"), 22, "2026-03-02T05:00:00Z", "6");
    let empty = work.join("end.jsonl");
    std::fs::write(&empty, "").unwrap();
    let carry = ["--carry-over", "1h"];
    let both: Vec<PathBuf> = first.iter().chain(&second).cloned().collect();
    // Together, merged in small pieces: the merge must not release what
    // is carried over either.
    let merged_carry = [
        &carry[..],
        &["--in-memory-mb", "0", "--piece-bytes", "65536"],
    ]
    .concat();
    let together = replay(work, "together", &both, &merged_carry);
    assert!(merged(&together).0 > 14, "{together}");
    replay(work, "apart", &first, &carry);
    let apart = replay(work, "apart", &second, &carry);
    assert!(
        together.contains("held over to the next replay"),
        "{together}"
    );
    assert!(apart.contains("held over to the next replay"), "{apart}");
    let spill = common::sql_json(
        &work.join("together"),
        "SELECT count(*) AS n FROM events WHERE origin LIKE 'a/%' AND event_time > \
         (SELECT min(event_time) FROM events WHERE origin LIKE 'b/%')",
    );
    assert!(spill[0]["n"].as_u64().unwrap() > 0, "no spill: {spill:?}");
    assert_eq!(all_rows(work, "together"), all_rows(work, "apart"));
    // A replay without it writes what was held.
    let flushed = replay(work, "apart", &[empty], &[]);
    assert!(!flushed.contains("held over"), "{flushed}");
    replay(work, "whole", &both, &[]);
    assert_eq!(all_rows(work, "whole"), all_rows(work, "apart"));
}

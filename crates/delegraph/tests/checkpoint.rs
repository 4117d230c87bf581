//! The checkpoint is deterministic: the same state always gives the same
//! bytes, whether two stores reach it from the same inputs or one store
//! restores it and saves it again.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{SIM_FILES, bin, repo, run};
use delegraph_pipeline::{Checkpoint, checkpoint_path};

/// Replay `files` (relative to `work`) with the rule pack into `work/data`.
fn replay(work: &Path, data: &str, files: &[PathBuf]) {
    run(bin()
        .current_dir(work)
        .args(["replay", "--data-dir", data, "--rules"])
        .arg(repo().join("rules"))
        .args(files));
}

#[test]
fn the_same_state_is_saved_as_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    run(bin()
        .current_dir(work)
        .args(["simulate", "--seed", "8", "--agents", "300", "--hours", "3"])
        .args(["--out", "sim"]));
    let mut files: Vec<PathBuf> = SIM_FILES.iter().map(|f| Path::new("sim").join(f)).collect();
    // Stratus captures feed the rule pack's correlations and sequences.
    for f in common::stratus_files() {
        let to = work.join(f.file_name().unwrap());
        std::fs::copy(&f, &to).unwrap();
        files.push(to.strip_prefix(work).unwrap().to_owned());
    }
    replay(work, "a", &files);
    replay(work, "b", &files);
    let a = std::fs::read(checkpoint_path(&work.join("a"))).unwrap();
    let b = std::fs::read(checkpoint_path(&work.join("b"))).unwrap();
    assert!(a.len() > 10_000, "checkpoint too small: {} bytes", a.len());
    assert!(a == b, "two stores saved the same state as different bytes");

    // Restored and saved again by a run that adds nothing: every part but
    // the list of applied runs is byte-identical.
    std::fs::write(work.join("empty.jsonl"), "").unwrap();
    replay(work, "a", &[PathBuf::from("empty.jsonl")]);
    let before = Checkpoint::load(&work.join("b")).unwrap().unwrap();
    let after = Checkpoint::load(&work.join("a")).unwrap().unwrap();
    assert_eq!(after.runs.len(), before.runs.len() + 1);
    assert_eq!(after.stitcher, before.stitcher, "stitcher state moved");
    assert_eq!(after.reorder, before.reorder, "reorder buffer moved");
    assert_eq!(after.seen, before.seen, "seen events moved");
    let names: Vec<&String> = before.analyzers.keys().collect();
    assert_eq!(names, ["detectors", "rules"]);
    for (name, bytes) in &before.analyzers {
        assert!(
            after.analyzers.get(name) == Some(bytes),
            "{name}: state changed when restored and saved again"
        );
    }
}

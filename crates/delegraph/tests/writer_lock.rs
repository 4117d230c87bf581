//! One writer per data directory, between real processes: a replay that
//! is still running holds its data directory; a second replay into it is
//! refused at once, naming the first, and removes none of the first's
//! unfinished files; once the first is killed (as a crash would end it),
//! the directory is free again without anyone removing a stale lock.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, repo};

/// A process killed when dropped: a failing assertion must not leave a
/// replay blocked on its pipe behind the test.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A replay that holds `data` and blocks: its input is a named pipe no
/// one writes to, so it waits in opening it after taking the directory.
fn blocked_replay(data: &Path, fifo: &Path) -> Killed {
    let made = std::process::Command::new("mkfifo")
        .arg(fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    bin()
        .arg("replay")
        .arg("--data-dir")
        .arg(data)
        .arg(fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Killed)
        .unwrap()
}

/// Wait until the lock file names `pid` (the holder writes it once it has
/// the lock).
fn wait_for_holder(data: &Path, pid: u32) {
    let started = Instant::now();
    let said = format!("(process {pid},");
    loop {
        let text = std::fs::read_to_string(delegraph_store::lock_path(data)).unwrap_or_default();
        if text.contains(&said) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first replay never took the directory: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `delegraph replay --data-dir data input`, run to its end.
fn replay_into(data: &Path, input: &Path) -> Output {
    bin()
        .arg("replay")
        .arg("--data-dir")
        .arg(data)
        .arg(input)
        .output()
        .unwrap()
}

#[test]
fn a_second_writer_is_refused_while_the_first_runs_and_admitted_after_it_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("store");
    let input = repo().join("fixtures/cloudtrail/assume-role-chain.jsonl");
    let first = blocked_replay(&data, &tmp.path().join("never-written.jsonl"));
    wait_for_holder(&data, first.0.id());

    // What the first run is writing (its checkpoint, beside its place): a
    // crash's leftover to anyone else.
    let unfinished = data.join("state").join(".checkpoint.bin.partial");
    std::fs::create_dir_all(unfinished.parent().unwrap()).unwrap();
    std::fs::write(&unfinished, b"being written").unwrap();

    let refused = replay_into(&data, &input);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a second writer ran: {stderr}");
    assert!(
        stderr.contains(&format!("is in use by a replay (process {},", first.0.id())),
        "the error names the holder: {stderr}"
    );
    assert!(
        unfinished.exists(),
        "the refused run removed the first's file"
    );
    assert!(
        !data.join("events").exists(),
        "the refused run wrote a table"
    );

    // A crash ends the holder: the kernel drops its lock with it.
    drop(first);
    let admitted = replay_into(&data, &input);
    assert!(
        admitted.status.success(),
        "{}",
        String::from_utf8_lossy(&admitted.stderr)
    );
    assert!(
        !unfinished.exists(),
        "a run after a crash removes what the crashed run left unfinished"
    );
    assert!(data.join("events/_delta_log").is_dir());
}

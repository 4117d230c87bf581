//! One writer per data directory.
//!
//! Two runs writing one data directory at once would each remove the
//! other's unfinished files as leftovers of a crash (every run starts by
//! removing `.partial` files, the checkpoint being written among them),
//! overwrite each other's checkpoint (the last one saved wins, and the
//! other run's baselines and bindings are lost), and analyse their inputs
//! without the other's state. So every run that keeps state (a replay, the
//! stream, a migration) first takes an exclusive lock on
//! `<data_dir>/.writer.lock` and holds it until it ends. Replays without
//! state (`--no-state`) share it: they read and write no checkpoint, and
//! their table commits race safely (Delta's optimistic concurrency, tested
//! on an S3 server), so several may run at once, but not beside a run that
//! keeps state. Queries only read committed table versions and take no
//! lock.
//!
//! The lock is the operating system's advisory file lock (`flock` on
//! Unix, `LockFileEx` on Windows, through `std::fs::File::try_lock`): the
//! kernel releases it when the holder exits, however it exits, so a
//! crashed run never leaves a stale lock behind. The file's contents only
//! say who holds it, for the error the next writer gets.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The lock file's name in the data directory.
const WRITER_LOCK_FILE: &str = ".writer.lock";

/// An exclusive hold on a data directory, released when dropped (or when
/// the process ends).
#[derive(Debug)]
pub struct WriterLock {
    /// The open lock file: the lock lives as long as it does.
    _file: File,
}

impl WriterLock {
    /// Take the data directory (created if missing) for this process
    /// alone, or fail at once with [`StoreError::InUse`] naming the holder:
    /// a second writer is a mistake to report, not a turn to wait for.
    /// `what` says which run holds it (`a replay`, `a stream`, …), for
    /// that error.
    pub fn acquire(data_dir: &Path, what: &str) -> Result<Self, StoreError> {
        Self::take(data_dir, what, Hold::Alone)
    }

    /// Take the data directory beside other runs without state (see the
    /// module doc), or fail at once if a run that keeps state holds it.
    pub fn acquire_shared(data_dir: &Path, what: &str) -> Result<Self, StoreError> {
        Self::take(data_dir, what, Hold::Shared)
    }

    fn take(data_dir: &Path, what: &str, hold: Hold) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
        let path = lock_path(data_dir);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let taken = match hold {
            Hold::Alone => file.try_lock(),
            Hold::Shared => file.try_lock_shared(),
        };
        match taken {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    data_dir: data_dir.display().to_string(),
                    holder: holder(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
        }
        // Who holds it, for the next writer's error. Written after the
        // lock is taken, so only holders write (runs sharing it each write
        // themselves; the error then names one of them).
        let said = format!(
            "{what} (process {}, since {})",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(said.as_bytes()))
            .map_err(|e| StoreError::io(&path, e))?;
        Ok(Self { _file: file })
    }
}

/// How a run holds the data directory.
#[derive(Debug, Clone, Copy)]
enum Hold {
    /// No one else may write: a run that keeps state.
    Alone,
    /// Beside other runs without state only.
    Shared,
}

/// Where a data directory's lock file is.
pub fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(WRITER_LOCK_FILE)
}

/// What the holder wrote into the lock file; a holder that has not
/// written yet is just "another run".
fn holder(file: &mut File) -> String {
    let mut said = String::new();
    match file.read_to_string(&mut said) {
        Ok(_) if !said.trim().is_empty() => said.trim().to_owned(),
        _ => "another run".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A second hold fails naming the first; once the first is dropped the
    /// directory can be taken again.
    #[test]
    fn a_second_writer_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = WriterLock::acquire(&data, "replay").unwrap();
        let Err(err) = WriterLock::acquire(&data, "serve") else {
            panic!("a second writer took the directory");
        };
        let text = err.to_string();
        assert!(matches!(err, StoreError::InUse { .. }), "{text}");
        assert!(
            text.contains(&format!("replay (process {}", std::process::id())),
            "names the holder: {text}"
        );
        assert!(text.contains(&data.display().to_string()), "{text}");
        drop(first);
        let again = WriterLock::acquire(&data, "serve").unwrap();
        let said = std::fs::read_to_string(lock_path(&data)).unwrap();
        assert!(said.starts_with("serve (process "), "{said}");
        drop(again);
    }

    /// Runs without state share the directory with one another, never
    /// with a run that keeps state, either way round.
    #[test]
    fn runs_without_state_share_it_but_not_with_a_run_that_keeps_state() {
        let dir = tempfile::tempdir().unwrap();
        let one = WriterLock::acquire_shared(dir.path(), "a replay without state").unwrap();
        let two = WriterLock::acquire_shared(dir.path(), "a replay without state").unwrap();
        let Err(err) = WriterLock::acquire(dir.path(), "a replay") else {
            panic!("a run keeping state took a shared directory");
        };
        assert!(
            err.to_string().contains("in use by a replay without state"),
            "{err}"
        );
        drop((one, two));
        let alone = WriterLock::acquire(dir.path(), "a replay").unwrap();
        assert!(WriterLock::acquire_shared(dir.path(), "a replay without state").is_err());
        drop(alone);
    }
}

//! Hot reload: notice that the rule files changed and load them again.
//!
//! Polled (at each stream epoch) rather than event-driven: a directory
//! listing with sizes and modification times is cheap at that pace, works
//! on every file system (network mounts, container volumes) and needs no
//! extra thread.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{RuleError, RuleSet, load_dir, rule_files};

/// Watches one rules directory.
pub struct RuleWatcher {
    dir: PathBuf,
    seen: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

impl RuleWatcher {
    /// Load the directory's rules now and watch it from here on.
    pub fn load(dir: &Path) -> Result<(Self, RuleSet), Vec<RuleError>> {
        let seen = fingerprint(dir);
        let set = load_dir(dir)?;
        Ok((
            Self {
                dir: dir.to_owned(),
                seen,
            },
            set,
        ))
    }

    /// The rules again if any file changed since the last look: the new set,
    /// or the errors that keep the previous one in force. A broken file is
    /// reported once, not on every look, until it changes again.
    pub fn poll(&mut self) -> Option<Result<RuleSet, Vec<RuleError>>> {
        let now = fingerprint(&self.dir);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(load_dir(&self.dir))
    }
}

fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    rule_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const RULE: &str = "title: T\nid: t\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName: X\n  condition: sel\n";

    #[test]
    fn changes_reload_and_a_broken_file_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), RULE).unwrap();
        let (mut w, set) = RuleWatcher::load(dir.path()).unwrap();
        assert_eq!(set.rules().len(), 1);
        assert!(w.poll().is_none(), "nothing changed");
        std::fs::write(dir.path().join("b.yml"), RULE.replace("id: t", "id: u")).unwrap();
        let set = w.poll().unwrap().unwrap();
        assert_eq!(set.rules().len(), 2);
        std::fs::write(dir.path().join("c.yml"), "title: broken\ndetection: [\n").unwrap();
        let errors = w.poll().unwrap().unwrap_err();
        assert!(errors[0].file.ends_with("c.yml"), "{errors:?}");
        assert!(
            w.poll().is_none(),
            "the same broken file is not reported again"
        );
        std::fs::remove_file(dir.path().join("c.yml")).unwrap();
        assert_eq!(w.poll().unwrap().unwrap().rules().len(), 2);
    }
}

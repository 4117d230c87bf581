//! Where the tests find the real data sets written by others (Stratus Red
//! Team CloudTrail attacks, AgentDojo sessions, tau-bench conversations).
//! They are not in the repository: they live beside the checkout, in
//! `../shared/data`, or wherever `DELEGRAPH_SHARED_DATA` says (the scripts
//! read the same variable). A test that needs one and cannot find it fails
//! saying where it looked and how to point it elsewhere, never passes on
//! no data.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variable that moves the data sets' directory.
pub const SHARED_DATA_VAR: &str = "DELEGRAPH_SHARED_DATA";

/// The directory holding the data sets: `DELEGRAPH_SHARED_DATA`, else
/// `../shared/data` beside the checkout.
pub fn shared_data_root() -> PathBuf {
    root_from(std::env::var_os(SHARED_DATA_VAR))
}

fn root_from(var: Option<OsString>) -> PathBuf {
    match var {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => checkout_root().join("../shared/data"),
    }
}

/// The checkout whose tests run (its workspace root), found when they
/// run, for tests that read its own files (`fixtures/`).
pub fn checkout_root() -> PathBuf {
    checkout(&running_crate())
}

/// The directory of the crate whose tests run, as cargo tells them when it
/// runs them. Not this crate's compile-time path: one target directory
/// shared by two checkouts (CI keeps one outside the clone) can reuse a
/// build made in the other, whose path is baked into it.
fn running_crate() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The checkout holding `crate_dir`: the nearest directory above it with
/// the workspace's `Cargo.lock`.
fn checkout(crate_dir: &Path) -> PathBuf {
    crate_dir
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(crate_dir)
        .to_path_buf()
}

/// The data set `name` (`stratus-red-team`, `agentdojo`, …), which must
/// be there.
///
/// # Panics
/// When it is not, saying where it was looked for and how to move that.
pub fn shared_data(name: &str) -> PathBuf {
    located(&shared_data_root(), name).unwrap_or_else(|message| panic!("{message}"))
}

fn located(root: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = root.join(name);
    if dir.is_dir() {
        return Ok(dir);
    }
    Err(format!(
        "the data set {name} is not at {}: the real data sets live beside the checkout in \
         ../shared/data (see the README); set {SHARED_DATA_VAR} to the directory holding them \
         if they are elsewhere",
        dir.display()
    ))
}

/// The files of `dir` whose extension is `ext`, sorted.
///
/// # Panics
/// When `dir` cannot be read.
pub fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files
}

/// The Stratus Red Team detonation logs, one JSON array per technique.
pub fn stratus_files() -> Vec<PathBuf> {
    let files = files_in(&shared_data("stratus-red-team"), "json");
    assert!(!files.is_empty(), "no Stratus Red Team captures found");
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variable moves the root; unset or empty, the root is beside
    /// the checkout.
    #[test]
    fn the_variable_moves_the_root() {
        assert_eq!(
            root_from(Some("/data/sets".into())),
            PathBuf::from("/data/sets")
        );
        let beside = checkout_root().join("../shared/data");
        for unset in [None, Some(OsString::new())] {
            assert_eq!(root_from(unset), beside);
        }
    }

    /// The checkout is found from the crate that runs, wherever it is.
    #[test]
    fn the_checkout_is_the_workspace_above_the_running_crate() {
        let here = running_crate();
        let root = checkout(&here);
        assert!(root.join("Cargo.lock").is_file());
        assert!(root.join("crates/testdata/Cargo.toml").is_file());
        assert_eq!(checkout(&here.join("src")), root);
    }

    /// A data set missing there is an error naming where it was looked
    /// for and the variable, not an empty list.
    #[test]
    fn a_missing_data_set_says_where_and_how_to_move_it() {
        // The crate as it runs: a build reused from a checkout elsewhere
        // has that checkout's path compiled in.
        let root = &running_crate();
        let Err(message) = located(&root.join("no-such-root"), "stratus-red-team") else {
            panic!("found a data set that is not there");
        };
        assert!(message.contains(SHARED_DATA_VAR), "{message}");
        assert!(
            message.contains("no-such-root/stratus-red-team"),
            "{message}"
        );
        assert_eq!(located(root, "src"), Ok(root.join("src")));
    }
}

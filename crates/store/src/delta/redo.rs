//! Finding what an earlier attempt at a run committed, to replace it.
//!
//! The attempt's commit is the latest one carrying the run's application
//! transaction; it is recent (the run was interrupted after it), so the
//! log is read backwards from its head, a bounded number of commits.

use std::time::{SystemTime, UNIX_EPOCH};

use deltalake::DeltaTable;
use deltalake::kernel::{Action, Add, Remove, Transaction};
use serde::Deserialize;

use super::CommitTag;
use crate::StoreError;

/// Most commits read back looking for the earlier attempt (maintenance
/// and other writers may have committed after it).
const MAX_COMMITS_BACK: u64 = 1_000;

/// One line of a commit file, as far as a redo cares.
#[derive(Deserialize)]
struct Line {
    txn: Option<Transaction>,
    add: Option<Add>,
}

/// Remove actions for every file the latest commit tagged `tag` added.
pub(super) async fn removals_of(
    table: &DeltaTable,
    name: &str,
    tag: &CommitTag,
) -> Result<Vec<Action>, StoreError> {
    let err = super::delta_err(name);
    let Some(head) = table.version() else {
        return Ok(Vec::new());
    };
    let log_store = table.log_store();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let oldest = head.saturating_sub(MAX_COMMITS_BACK);
    let mut version = head;
    loop {
        let bytes = log_store.read_commit_entry(version).await.map_err(&err)?;
        let adds = match bytes {
            Some(bytes) => tagged_adds(&bytes, tag).map_err(|e| {
                StoreError::Storage(format!("table {name}: commit {version} unreadable: {e}"))
            })?,
            None => None,
        };
        if let Some(adds) = adds {
            return Ok(adds
                .into_iter()
                .map(|add| Action::Remove(removal(add, now)))
                .collect());
        }
        if version <= oldest {
            return Err(StoreError::Storage(format!(
                "table {name}: the commit of {} {} is not among the last {MAX_COMMITS_BACK}",
                tag.app_id, tag.version
            )));
        }
        version -= 1;
    }
}

/// The files a commit added, if it carries `tag`'s transaction.
fn tagged_adds(bytes: &[u8], tag: &CommitTag) -> Result<Option<Vec<Add>>, serde_json::Error> {
    let mut tagged = false;
    let mut adds = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line: Line = serde_json::from_slice(line)?;
        if let Some(t) = line.txn {
            tagged |= t.app_id == tag.app_id && t.version == tag.version;
        }
        adds.extend(line.add);
    }
    Ok(tagged.then_some(adds))
}

/// The removal of a file a commit added.
fn removal(add: Add, deleted_at_ms: i64) -> Remove {
    Remove {
        path: add.path,
        data_change: true,
        deletion_timestamp: Some(deleted_at_ms),
        extended_file_metadata: Some(true),
        partition_values: Some(add.partition_values),
        size: Some(add.size),
        tags: add.tags,
        deletion_vector: add.deletion_vector,
        base_row_id: add.base_row_id,
        default_row_commit_version: add.default_row_commit_version,
    }
}

//! The pipeline's tables as Delta Lake tables (delta-rs).
//!
//! Each table is a directory under the data directory with its
//! transaction log (`_delta_log/`) and Parquet files filed by UTC day
//! (`day=YYYY-MM-DD/`). A run or a stream epoch is one commit per table,
//! tagged with an application transaction ([`CommitTag`]) so that a run
//! redone after a crash neither loses nor repeats rows (see [`append`]).
//! Readers open a snapshot of the log, so a writer never changes the files
//! under a running query.
//!
//! delta-rs is async; the pipeline is not. [`block_on`] runs delta-rs on
//! the store's own runtime, from any thread, inside a runtime or not.

mod append;
mod current;
mod evidence;
mod filing;
mod integrity;
mod location;
mod maintain;
mod read;
mod redo;
mod shallow_filters;
mod upkeep;

use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;

use arrow::datatypes::SchemaRef;
use deltalake::DeltaTable;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

pub use append::{ClosedFiles, CommitTag, Redo, TableAppend, TableLog};
pub use current::{CurrentTable, replace_current};
pub use evidence::keep_evidence;
pub use filing::{DayFiling, FilingLimits, day_source};
pub use integrity::{DamagedFile, damaged_files, damaged_in_store};
pub use location::{LOCATION_FILE, record_location, recorded_location};
pub use maintain::{
    Compacted, TableStats, compact_closed_days, expire_days_before, newest_day, table_stats, vacuum,
};
pub(crate) use read::{TableCache, register_pipeline_table, snapshot_provider};
pub use upkeep::{Upkeep, UpkeepReport};

use crate::StoreError;

/// How long a table's log keeps entries older than its latest checkpoint.
///
/// A stream commits every few seconds, and every commit's snapshot update
/// lists the whole log directory; the log serves only readers of the
/// latest snapshot (no time travel: a reader whose snapshot is older than
/// the retention is brought up to date from the newest log checkpoint).
/// An hour keeps the log at about 800 entries per table with 5-second
/// epochs (two days kept 35,000).
const LOG_RETENTION: &str = "interval 1 hours";

/// The partition column of every pipeline table.
pub const DAY_COLUMN: &str = "day";

/// The runtime delta-rs runs on: one worker, shared by every table of the
/// process (the work is file I/O and Parquet encoding, done in bursts).
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("delegraph-delta")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Storage(format!("starting the table runtime: {e}")))
}

/// Run `fut` to completion on the store's runtime. From a thread that is
/// itself inside a runtime (the stream's), the wait happens on a scoped
/// thread, since a runtime cannot block on another from its own workers.
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output, StoreError>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(fut));
    }
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(fut))
            .join()
            .map_err(|_| StoreError::Storage("a table operation panicked".into()))
    })
}

/// A delta-rs error, naming the table.
pub(crate) fn delta_err(table: &str) -> impl Fn(deltalake::DeltaTableError) -> StoreError + '_ {
    move |source| StoreError::Delta {
        table: table.to_owned(),
        source: Box::new(source),
    }
}

/// The URL of table `name` of `data_dir`: under the directory, or under
/// the object-storage location recorded for it (see [`location`]).
pub(crate) fn table_url(data_dir: &Path, name: &str) -> Result<url::Url, StoreError> {
    if let Some(root) = recorded_location(data_dir)? {
        return root
            .join(&format!("{name}/"))
            .map_err(|e| StoreError::Storage(format!("{root}{name}: {e}")));
    }
    let dir = data_dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let abs = std::path::absolute(&dir).map_err(|e| StoreError::io(&dir, e))?;
    url::Url::from_directory_path(&abs)
        .map_err(|()| StoreError::Storage(format!("{}: not a usable table path", abs.display())))
}

/// Whether `data_dir/name` holds a Delta table in the directory itself
/// (see [`table_exists`] for tables on object storage): a log with at
/// least one version in it. A log directory without one is what a run
/// killed while creating the table leaves; the next run creates it.
pub fn is_delta_table(data_dir: &Path, name: &str) -> bool {
    let log = data_dir.join(name).join("_delta_log");
    // Commits, checkpoints and their checksums are named after their
    // version; a commit being written is a `_commit_*` temporary.
    std::fs::read_dir(log).is_ok_and(|mut entries| {
        entries.any(|e| {
            e.is_ok_and(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .first()
                    .is_some_and(u8::is_ascii_digit)
            })
        })
    })
}

/// Whether table `name` of `data_dir` exists, wherever it lives.
pub(crate) async fn table_exists(data_dir: &Path, name: &str) -> Result<bool, StoreError> {
    if recorded_location(data_dir)?.is_none() {
        return Ok(is_delta_table(data_dir, name));
    }
    let table = deltalake::DeltaTableBuilder::from_url(table_url(data_dir, name)?)
        .map_err(delta_err(name))?
        .build()
        .map_err(delta_err(name))?;
    table
        .verify_deltatable_existence()
        .await
        .map_err(delta_err(name))
}

/// Table `name` at its latest version, or `None` when it does not exist.
pub(crate) async fn open_if_exists(
    data_dir: &Path,
    name: &str,
) -> Result<Option<DeltaTable>, StoreError> {
    if !table_exists(data_dir, name).await? {
        return Ok(None);
    }
    let mut table = DeltaTable::try_from_url(table_url(data_dir, name)?)
        .await
        .map_err(delta_err(name))?;
    table.load().await.map_err(delta_err(name))?;
    Ok(Some(table))
}

/// Open table `name`, creating it with `schema` (partitioned by
/// [`DAY_COLUMN`] when `partitioned`) if it does not exist yet.
pub(crate) async fn open_or_create(
    data_dir: &Path,
    name: &str,
    schema: &SchemaRef,
    partitioned: bool,
) -> Result<DeltaTable, StoreError> {
    let err = delta_err(name);
    let url = table_url(data_dir, name)?;
    if table_exists(data_dir, name).await? {
        let mut table = DeltaTable::try_from_url(url).await.map_err(&err)?;
        if table.version().is_none() {
            table.load().await.map_err(&err)?;
        }
        return with_log_retention(table, name).await;
    }
    // Not loaded: there is no log to read yet.
    let table = deltalake::DeltaTableBuilder::from_url(url)
        .map_err(&err)?
        .build()
        .map_err(&err)?;
    let kernel: StructType = schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| err(e.into()))?;
    let partitions: Vec<String> = if partitioned {
        vec![DAY_COLUMN.to_owned()]
    } else {
        Vec::new()
    };
    let created = table
        .create()
        .with_table_name(name)
        .with_columns(kernel.fields().cloned())
        .with_partition_columns(partitions)
        // Instead of Delta's thirty days of log (see LOG_RETENTION).
        .with_configuration_property(
            deltalake::TableProperty::LogRetentionDuration,
            Some(LOG_RETENTION),
        )
        .with_save_mode(deltalake::protocol::SaveMode::Ignore)
        .await;
    match created {
        Ok(t) => Ok(t),
        // Another writer created it first: open theirs.
        Err(_) if table_exists(data_dir, name).await? => {
            let mut t = DeltaTable::try_from_url(table_url(data_dir, name)?)
                .await
                .map_err(&err)?;
            t.load().await.map_err(&err)?;
            Ok(t)
        }
        Err(e) => Err(err(e)),
    }
}

/// `table` with [`LOG_RETENTION`] as its log retention: a table created
/// with another (two days, by earlier versions) is changed by one commit
/// when a writer first opens it.
async fn with_log_retention(table: DeltaTable, name: &str) -> Result<DeltaTable, StoreError> {
    let err = delta_err(name);
    let key = deltalake::TableProperty::LogRetentionDuration.as_ref();
    let snapshot = table.snapshot().map_err(&err)?;
    let current = snapshot.metadata().configuration().get(key);
    if current.map(String::as_str) == Some(LOG_RETENTION) {
        return Ok(table);
    }
    table
        .set_tbl_properties()
        .with_properties([(key.to_owned(), LOG_RETENTION.to_owned())].into())
        .await
        .map_err(err)
}

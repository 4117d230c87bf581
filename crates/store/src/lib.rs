//! delegraph's store: the pipeline's tables as Delta Lake tables under a
//! data directory, and read-only SQL over them with DataFusion.
//!
//! This is the only crate that knows Arrow, Parquet, Delta Lake or DataFusion; the rest
//! of the workspace hands it model types and gets rows or text back.

mod activity;
mod columns;
mod dead_letters;
mod delta;
mod events;
mod exclusions;
mod finding_query;
mod findings;
mod graph_tables;
mod layout;
mod migrate;
mod page_reads;
mod result_cache;
mod sql;
mod sql_guard;
mod triage_views;
mod views;
mod writer;
mod writer_lock;

use std::path::Path;

pub use activity::{ACTIVITY_TABLE, ActivityLog, activity_schema, append_activity, read_activity};
/// The rows the batch builders return, for callers that hold them.
pub use arrow::array::RecordBatch;
pub use columns::day_name as utc_day;
pub use dead_letters::{DEAD_LETTER_TABLE, DeadLetterRow, dead_letters_batch, dead_letters_schema};
pub use delta::{
    ClosedFiles, CommitTag, Compacted, CurrentTable, DAY_COLUMN, DamagedFile, DayFiling,
    FilingLimits, LOCATION_FILE, Redo, TableAppend, TableLog, TableStats, Upkeep, UpkeepReport,
    compact_closed_days, damaged_files, damaged_in_store, day_source, expire_days_before,
    is_delta_table, keep_evidence, record_location, recorded_location, replace_current,
    table_stats, vacuum,
};
pub use events::{events_batch, events_schema};
pub use exclusions::EXCLUDABLE;
pub use finding_query::{FACETS, FindingPage, FindingQuery, FindingSort};
pub use findings::{findings_batch, findings_schema};
pub use graph_tables::{AgentRow, EdgeRow, agents_batch, agents_schema, edges_batch, edges_schema};
pub use layout::{old_layout_tables, refuse_old_layout};
pub use migrate::{Migrated, PRE_DELTA_DIR, migrate_old_layout};
pub use sql::{OutputFormat, QueryLimits, QueryRuntime, SqlEngine, render};
pub use sql_guard::{MAX_OPERATORS, MAX_SQL_BYTES};
pub use triage_views::TRIAGE_VIEWS;
pub use views::InstanceGraph;
pub use writer::{
    WrittenAside, remove_if_present, remove_partials, write_aside, write_file_atomic,
    write_file_atomic_with,
};
pub use writer_lock::{WriterLock, lock_path};

/// Every table: a Delta table partitioned by UTC day, under the data
/// directory (or the location recorded for the tables), and a SQL table.
/// The five every run appends to, the evidence upkeep keeps, and the
/// triage log the API appends to.
pub const TABLES: [&str; 7] = [
    "events",
    "findings",
    "edges",
    "agents",
    DEAD_LETTER_TABLE,
    EVIDENCE_TABLE,
    ACTIVITY_TABLE,
];

/// Events a finding names as evidence, kept (as long as findings) once
/// their own day of events has expired.
pub const EVIDENCE_TABLE: &str = "evidence";

/// The current-state tables: the instances live at the end of the latest
/// run or epoch, and their edges. SQL's `agents` and `edges` are the
/// retired instances' tables with these.
pub const CURRENT_TABLES: [(&str, &str); 2] = [("agents", AGENTS_LIVE), ("edges", EDGES_LIVE)];

/// Instances still live, replaced at every run's end.
pub const AGENTS_LIVE: &str = "agents_live";
/// Edges of instances still live, replaced at every run's end.
pub const EDGES_LIVE: &str = "edges_live";

/// What went wrong in the store, and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data directory is in the layout before Delta Lake.
    #[error(
        "{data_dir}: tables {tables} are loose Parquet files, the layout before Delta Lake; \
         run `delegraph store migrate --data-dir {data_dir}` to convert them (nothing is lost)"
    )]
    OldLayout {
        /// The data directory.
        data_dir: String,
        /// The tables still in the old layout.
        tables: String,
    },
    /// Another run is writing the data directory (see [`WriterLock`]).
    #[error(
        "data directory {data_dir} is in use by {holder}: two runs writing one directory \
         would remove each other's unfinished files and overwrite each other's checkpoint; \
         wait for that run to end, or give this one another --data-dir"
    )]
    InUse {
        /// The data directory.
        data_dir: String,
        /// Who holds it, as the holder wrote it (what, process id, since).
        holder: String,
    },
    /// A Delta table could not be read or written.
    #[error("table {table}: {source}")]
    Delta {
        /// The table.
        table: String,
        /// What delta-rs reported.
        source: Box<deltalake::DeltaTableError>,
    },
    /// Converting to Arrow or writing Parquet failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The statement is not allowed (DDL, DML, COPY, file access).
    #[error("refused: {0}")]
    Refused(String),
    /// The statement failed to plan or run (its own fault: a name, a type,
    /// a cast).
    #[error("query failed: {0}")]
    Query(String),
    /// The store's files could not be read (a corrupt or vanished file, an
    /// I/O error), or one of delegraph's own statements failed: not the
    /// caller's fault.
    #[error("the store could not be read: {0}")]
    Storage(String),
    /// The shared query memory is in use by other queries; try again.
    #[error("query memory exhausted: {0}")]
    Exhausted(String),
    /// The query ran past its time limit.
    #[error("query exceeded its {0:?} time limit")]
    Timeout(std::time::Duration),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

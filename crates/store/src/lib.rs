//! delegraph's store: Arrow record batches written as Parquet under a data
//! directory, and read-only SQL over them with DataFusion.
//!
//! This is the only crate that knows Arrow, Parquet or DataFusion; the rest
//! of the workspace hands it model types and gets rows or text back.

mod activity;
mod columns;
mod events;
mod exclusions;
mod finding_query;
mod findings;
mod graph_tables;
mod page_reads;
mod result_cache;
mod sql;
mod sql_guard;
mod triage_views;
mod views;
mod writer;

use std::path::Path;

pub use activity::{
    ACTIVITY_TABLE, activity_schema, append_activity, compact_activity, read_activity,
    read_activity_after, settle_activity,
};
pub use events::{events_batch, events_schema};
pub use exclusions::EXCLUDABLE;
pub use finding_query::{FACETS, FindingPage, FindingQuery, FindingSort};
pub use findings::{findings_batch, findings_schema};
pub use graph_tables::{AgentRow, EdgeRow, agents_batch, agents_schema, edges_batch, edges_schema};
pub use sql::{OutputFormat, QueryLimits, QueryRuntime, SqlEngine, render};
pub use sql_guard::{MAX_OPERATORS, MAX_SQL_BYTES};
pub use triage_views::TRIAGE_VIEWS;
pub use views::InstanceGraph;
pub use writer::{
    AtomicParquetFile, remove_if_present, remove_partials, remove_run_file, write_file_atomic,
};

/// Table names, as directories under the data directory and as SQL tables.
pub const TABLES: [&str; 5] = ["events", "findings", "edges", "agents", ACTIVITY_TABLE];

/// The tables the pipeline writes (the API writes `finding_activity`, so
/// the pipeline's clean-up after a crash never touches its files).
pub const PIPELINE_TABLES: [&str; 4] = ["events", "findings", "edges", "agents"];

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

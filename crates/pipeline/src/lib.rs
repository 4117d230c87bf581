//! The one pipeline replay and serve share: read documents, decode them,
//! send bad records to the dead-letter sink, and store the events.
//!
//! Replay of files and (later) Kafka streaming call the same
//! [`EventPipeline`], so a record gives the same rows whichever way it came.

mod analyzers;
mod checkpoint;
mod dead_letter;
mod decode_lane;
mod dedup;
mod graph_rows;
mod in_order;
mod live_tables;
mod ocsf;
mod pipeline;
mod replay;
mod rule_tests;
mod run_files;
mod settings;
mod stats;
mod stream;
mod stream_metrics;
mod table_writer;

pub use checkpoint::{Checkpoint, checkpoint_path};
pub use dead_letter::{DeadLetters, MAX_DEAD_LETTER_RAW};
pub use ocsf::{OCSF_VERSION, detection_finding, write_ocsf_lines};
pub use pipeline::{
    EventPipeline, LiveRowsWanted, PipelineOptions, STREAM_APP_ID, SealTimings, Sealed,
};
pub use replay::{
    DEFAULT_IN_MEMORY_BYTES, DEFAULT_PIECE_BYTES, Progress, ReplayConfig, replay_files,
};
pub use rule_tests::{Expect, RuleTestError, RuleTestOutcome, run_rule_tests, test_cases};
pub use settings::{AnalysisSettings, DEFAULT_BATCH_ROWS};
pub use stats::{MergedReplay, RunStats};
pub use stream::{FindingsRelease, StreamConfig, TopicSource, run_stream};
pub use stream_metrics::StreamMetrics;

/// What stopped a run. Bad records never do: they are dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An input could not be read.
    #[error(transparent)]
    Ingest(#[from] delegraph_ingest::IngestError),
    /// The store could not be written.
    #[error(transparent)]
    Store(#[from] delegraph_store::StoreError),
    /// Saved state could not be read or written.
    #[error("state {path}: {message}")]
    State {
        /// The checkpoint (or the part being saved).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An analyzer's saved state could not be read or written.
    #[error("state {path}: {source}")]
    AnalyzerState {
        /// The checkpoint (or the part being saved).
        path: String,
        /// Which analyzer, and what went wrong.
        #[source]
        source: delegraph_model::AnalyzerStateError,
    },
    /// Kafka could not be read or written.
    #[error(transparent)]
    Kafka(Box<delegraph_ingest::kafka::KafkaError>),
    /// The rules do not load (each error with file and line).
    #[error("rules:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<delegraph_rules::RuleError>),
    /// A decoding sink failed with an error of another kind than the
    /// pipeline's own.
    #[error(transparent)]
    Sink(delegraph_decode::SinkError),
    /// An input read in pieces changed between the replay's two passes
    /// (a log still being written): its index no longer describes it.
    #[error(
        "{path}: changed while it was replayed ({detail}); replay it again once it is complete"
    )]
    InputChanged {
        /// The path given.
        path: String,
        /// What differed.
        detail: String,
    },
    /// The dead-letter sink could not be written.
    #[error("dead-letter sink {path}: {source}")]
    DeadLetter {
        /// The sink's path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A thread writing a table (events, findings) could not be started.
    #[error("starting a table's writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
    /// A thread writing a table died without saying why (a panic), taking
    /// the run's unwritten rows with it.
    #[error("a table's writer thread stopped unexpectedly")]
    WriterGone,
    /// The thread making a sealed epoch durable could not be started.
    #[error("starting the thread that makes epoch {epoch} durable: {source}")]
    SealThread {
        /// The epoch sealed.
        epoch: u64,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The thread making a sealed epoch durable panicked: the epoch may
    /// not be durable, and the restart redoes it.
    #[error("the thread making epoch {epoch} durable panicked")]
    SealPanicked {
        /// The epoch sealed.
        epoch: u64,
    },
}

impl From<delegraph_ingest::kafka::KafkaError> for PipelineError {
    fn from(e: delegraph_ingest::kafka::KafkaError) -> Self {
        PipelineError::Kafka(Box::new(e))
    }
}

impl PipelineError {
    /// The pipeline's own error back from the decoder it stopped: the
    /// pipeline is the sink, so what the sink wrapped is a `PipelineError`.
    pub(crate) fn from_sink(e: delegraph_decode::SinkError) -> Self {
        match e.into_inner().downcast::<PipelineError>() {
            Ok(own) => *own,
            Err(other) => PipelineError::Sink(delegraph_decode::SinkError::from(other)),
        }
    }
}

/// A file under the repository's `fixtures/`, for unit tests. Found
/// through `CARGO_MANIFEST_DIR` read when the test runs, not compiled in:
/// test binaries are reused between checkouts (see ARCHITECTURE).
#[cfg(test)]
pub(crate) fn fixture(relative: &str) -> std::path::PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    std::path::Path::new(&manifest)
        .join("../../fixtures")
        .join(relative)
}

//! Where records come from and where results go out: files (plain or
//! gzip, or standard input) and Kafka. Only this crate knows Kafka.

mod file;
pub mod kafka;

pub use file::{FileDocument, read_document};

/// Reading a source failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The (decompressed) input is larger than allowed.
    #[error("{path}: larger than the {limit}-byte input limit")]
    TooLarge {
        /// The path given.
        path: String,
        /// The configured limit.
        limit: u64,
    },
}

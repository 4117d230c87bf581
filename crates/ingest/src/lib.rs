//! Where records come from and where results go out: files (plain or
//! gzip, or standard input) and Kafka. Only this crate knows Kafka.

mod file;
pub mod kafka;
mod pieces;

pub use file::{FileDocument, read_document};
pub use pieces::{DocumentPieces, Piece};

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
    /// A gzip input expands beyond the allowed ratio (a decompression bomb).
    #[error("{path}: {compressed} compressed bytes expand more than {ratio} times")]
    Bomb {
        /// The path given.
        path: String,
        /// Its size on disk.
        compressed: u64,
        /// The ratio allowed.
        ratio: u64,
    },
}

impl IngestError {
    /// The dead-letter reason when the input is set aside rather than the
    /// run stopped (an input too large or a bomb); `None` for errors that
    /// stop it (a file that cannot be opened is the caller's mistake).
    pub fn input_reason(&self) -> Option<&'static str> {
        match self {
            IngestError::Io { .. } => None,
            IngestError::TooLarge { .. } => Some("input_too_large"),
            IngestError::Bomb { .. } => Some("decompression_limit"),
        }
    }
}

//! Drift detectors, per-agent baselines, risk and findings.
//!
//! Pure logic over attributed events (the stitcher's output), in event-time
//! order: each instance keeps a [`profile::Profile`] of what it did; when it
//! closes, its agent's [`baseline::AgentBaseline`] learns it (unless its own
//! findings were risky). Detectors compare an instance against its agent's
//! baseline with proper tail probabilities (statrs) and explain what was
//! expected, what was seen, how rare, and from how much history.

pub mod baseline;
mod coincidence;
mod config;
mod detectors;
mod engine;
pub mod features;
mod finding;
pub mod profile;
mod risk;
pub mod stats;

pub use config::{AgentSettings, DETECTORS, DetectConfig, DetectorSettings, Effective};
pub use engine::{DetectStats, Detectors};
pub use finding::finding_id;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The detector configuration is invalid.
    #[error("{origin}: {message}")]
    Config {
        /// File the configuration came from.
        origin: String,
        /// What is wrong with it.
        message: String,
    },
    /// Saved state could not be written or read back.
    #[error("detector state: {0}")]
    State(String),
}

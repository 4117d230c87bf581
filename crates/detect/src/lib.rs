//! Drift detectors, per-agent baselines, risk and findings.
//!
//! Pure logic over attributed events (the stitcher's output), in event-time
//! order: the engine keeps each open instance's behaviour record
//! ([`instance::Instance`]); every detector implements one contract
//! (`detector::Detector`: observe, follow up, settle and close, learn,
//! forget, save and restore) and keeps its own state; when an instance
//! closes, its agent's [`baseline::AgentBaseline`] learns it (unless its own
//! findings were risky). Detectors compare an instance against its agent's
//! baseline with proper tail probabilities (statrs) and explain what was
//! expected, what was seen, how rare, and from how much history. Adding a
//! detector is one file in `detectors/` and one line in its registry.

pub mod baseline;
mod calibration;
mod coincidence;
mod config;
mod counted;
mod credentials;
mod detector;
mod detectors;
mod engine;
pub mod features;
mod finding;
mod id;
pub mod instance;
pub mod intent;
mod per_instance;
mod risk;
mod small_set;
pub mod stats;
mod timing;
mod values;

pub use config::{AgentSettings, DETECTORS, DetectConfig, DetectorSettings, Effective};
pub use engine::{DETECTORS_ANALYZER, DetectStats, Detectors};
pub use id::DetectorId;
pub use timing::DetectorTiming;

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

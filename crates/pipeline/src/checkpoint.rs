//! The pipeline's state between runs: stitcher bindings and graphs,
//! detector profiles and baselines, and which inputs were already applied.
//! One file, replaced atomically after the run's tables are published, so
//! a crash leaves the state of the last complete run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::PipelineError;

/// Where the checkpoint lives under a data directory.
pub fn checkpoint_path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("checkpoint.json")
}

/// What a checkpoint holds.
#[derive(Serialize, Deserialize)]
pub struct Checkpoint {
    /// Run ids (input hashes) already applied, oldest first.
    pub runs: Vec<String>,
    /// [`delegraph_graph::Stitcher::save`] output.
    pub stitcher: Box<RawValue>,
    /// [`delegraph_detect::Detectors::save`] output.
    pub detectors: Box<RawValue>,
}

/// Most run ids remembered.
const MAX_RUNS: usize = 10_000;

fn bad(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Checkpoint {
    /// The data directory's checkpoint, if it has one.
    pub fn load(data_dir: &Path) -> Result<Option<Self>, PipelineError> {
        let path = checkpoint_path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| bad(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(bad(&path, e)),
        }
    }

    /// Assemble from saved parts.
    pub fn new(
        mut runs: Vec<String>,
        stitcher: Vec<u8>,
        detectors: Vec<u8>,
    ) -> Result<Self, PipelineError> {
        if runs.len() > MAX_RUNS {
            runs.drain(..runs.len() - MAX_RUNS);
        }
        let raw = |b: Vec<u8>| {
            String::from_utf8(b)
                .map_err(|e| e.to_string())
                .and_then(|s| RawValue::from_string(s).map_err(|e| e.to_string()))
        };
        let path = Path::new("state");
        Ok(Self {
            runs,
            stitcher: raw(stitcher).map_err(|e| bad(path, e))?,
            detectors: raw(detectors).map_err(|e| bad(path, e))?,
        })
    }

    /// Replace the data directory's checkpoint atomically.
    pub fn store(&self, data_dir: &Path) -> Result<PathBuf, PipelineError> {
        let path = checkpoint_path(data_dir);
        let bytes = serde_json::to_vec(self).map_err(|e| bad(&path, e))?;
        delegraph_store::write_file_atomic(&path, &bytes)?;
        Ok(path)
    }
}

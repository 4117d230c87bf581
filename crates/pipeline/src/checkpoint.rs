//! The pipeline's state between runs: stitcher bindings and graphs,
//! detector profiles and baselines, and which inputs were already applied.
//! One file, replaced atomically after the run's tables are published, so
//! a crash leaves the state of the last complete run. Binary (postcard):
//! floats round-trip exactly, so a continued run scores like an unbroken one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::PipelineError;

/// Where the checkpoint lives under a data directory.
pub fn checkpoint_path(data_dir: &Path) -> PathBuf {
    data_dir.join("state").join("checkpoint.bin")
}

/// Format version; a checkpoint of another version is refused, not misread.
const VERSION: u32 = 1;

/// What a checkpoint holds.
#[derive(Serialize, Deserialize)]
pub struct Checkpoint {
    version: u32,
    /// Run ids (input hashes) already applied, oldest first.
    pub runs: Vec<String>,
    /// [`delegraph_graph::Stitcher::save`] output.
    pub stitcher: Vec<u8>,
    /// [`delegraph_detect::Detectors::save`] output.
    pub detectors: Vec<u8>,
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
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(&path, e)),
        };
        let c: Checkpoint = postcard::from_bytes(&bytes).map_err(|e| bad(&path, e))?;
        if c.version != VERSION {
            return Err(bad(
                &path,
                format!(
                    "checkpoint version {} (this build reads {VERSION})",
                    c.version
                ),
            ));
        }
        Ok(Some(c))
    }

    /// Assemble from saved parts.
    pub fn new(mut runs: Vec<String>, stitcher: Vec<u8>, detectors: Vec<u8>) -> Self {
        if runs.len() > MAX_RUNS {
            runs.drain(..runs.len() - MAX_RUNS);
        }
        Self {
            version: VERSION,
            runs,
            stitcher,
            detectors,
        }
    }

    /// Replace the data directory's checkpoint atomically.
    pub fn store(&self, data_dir: &Path) -> Result<PathBuf, PipelineError> {
        let path = checkpoint_path(data_dir);
        let bytes = postcard::to_stdvec(self).map_err(|e| bad(&path, e))?;
        delegraph_store::write_file_atomic(&path, &bytes)?;
        Ok(path)
    }
}

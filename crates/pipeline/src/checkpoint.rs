//! The pipeline's state between runs: stitcher bindings and graphs, each
//! analyzer's state (detectors' profiles and baselines, rules' windows) by
//! its id, and which inputs were already applied.
//! One file, replaced atomically after the run's tables are published, so
//! a crash leaves the state of the last complete run. Binary (postcard):
//! floats round-trip exactly, so a continued run scores like an unbroken one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use delegraph_model::PartitionOffset;
use serde::{Deserialize, Serialize};

use crate::PipelineError;

/// The data directory's folder for the checkpoint.
pub(crate) const STATE_DIR: &str = "state";

/// Where the checkpoint lives under a data directory.
pub fn checkpoint_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATE_DIR).join("checkpoint.bin")
}

/// Format version; a checkpoint of another version is refused, with what
/// to do, rather than misread. Version 3 kept the detectors' state in one
/// blob of per-instance profiles and the rules' as JSON; 4 keeps each
/// analyzer's state under its id; 5 adds clue rates to agent baselines and
/// value tracing to `data_flow`'s state; 6 adds each agent's intent model
/// (how its requests account for its tools) and request words to value
/// provenance; 7 saves each stitcher binding once, with when its keys were
/// last used; 8 adds when each credential the detectors know was last seen;
/// 9 saves each open instance's record and each detector's state of it as
/// their own bytes (restored packed, decoded by the instance's next event),
/// an instance's closing time in its record, and a stitcher session key's
/// last use beside its binding; 10 saves each credential the detectors
/// know as its own bytes too (restored packed); 11 saves the approval
/// book's envelopes as their JSON text (an envelope without some optional
/// field could not be read back before).
const VERSION: u32 = 11;

/// What a checkpoint holds. Every part is postcard over ordered
/// collections, so the same state always gives the same bytes.
#[derive(Serialize, Deserialize)]
pub struct Checkpoint {
    version: u32,
    /// Run ids (input hashes) already applied, oldest first.
    pub runs: Vec<String>,
    /// [`delegraph_graph::Stitcher::save`] output.
    #[serde(with = "serde_bytes")]
    pub stitcher: Vec<u8>,
    /// Events still held for ordering ([`delegraph_graph::ReorderBuffer::save`];
    /// empty after a replay, which releases everything at its end).
    #[serde(with = "serde_bytes")]
    pub reorder: Vec<u8>,
    /// Hashes of recently seen event ids, oldest first (duplicates dropped).
    pub seen: Vec<u64>,
    /// Streaming: the last epoch whose tables this state includes.
    pub epoch: u64,
    /// Streaming: next offset per (topic, partition) that this state
    /// includes; messages below it are already in the store.
    pub offsets: Vec<PartitionOffset>,
    /// Each analyzer's saved state ([`delegraph_model::Analyzer::save`]),
    /// by its id. An analyzer with no entry starts empty.
    #[serde(with = "bytes_by_id")]
    pub analyzers: BTreeMap<String, Vec<u8>>,
}

/// Byte strings are written whole (`serde_bytes`): as a sequence of `u8`,
/// postcard writes the same bytes one call each, and saving a 21 MB
/// checkpoint took 0.10-0.16 s instead of a few milliseconds. This is that
/// for the analyzers' map.
mod bytes_by_id {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(
        parts: &BTreeMap<String, Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(parts.iter().map(|(id, bytes)| (id, Bytes::new(bytes))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let parts = BTreeMap::<String, ByteBuf>::deserialize(d)?;
        Ok(parts
            .into_iter()
            .map(|(id, bytes)| (id, bytes.into_vec()))
            .collect())
    }
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
        // The version comes first and is read alone, so an older layout is
        // reported as such rather than as a decoding error.
        let (version, _) = postcard::take_from_bytes::<u32>(&bytes).map_err(|e| bad(&path, e))?;
        if version != VERSION {
            return Err(bad(
                &path,
                format!(
                    "checkpoint version {version} (this build reads {VERSION}: the \
                     approval book's envelopes are saved as JSON text since version 11); replay the inputs into a new data \
                     directory, or remove its state/ to rebuild baselines from scratch (the \
                     tables are kept)"
                ),
            ));
        }
        postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| bad(&path, e))
    }

    /// Assemble from saved parts (no stream position).
    pub fn new(
        mut runs: Vec<String>,
        stitcher: Vec<u8>,
        analyzers: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        if runs.len() > MAX_RUNS {
            runs.drain(..runs.len() - MAX_RUNS);
        }
        Self {
            version: VERSION,
            runs,
            stitcher,
            reorder: Vec::new(),
            seen: Vec::new(),
            epoch: 0,
            offsets: Vec::new(),
            analyzers,
        }
    }

    /// Replace the data directory's checkpoint atomically. The parts are
    /// written as they are, not assembled into one buffer first (a large
    /// state would be copied whole once more).
    pub fn store(&self, data_dir: &Path) -> Result<PathBuf, PipelineError> {
        let aside = self.write_aside(data_dir)?;
        let path = aside.path().to_owned();
        aside.put_in_place()?;
        Ok(path)
    }

    /// The first half of [`store`](Self::store): the checkpoint written
    /// and synced beside the data directory's, which stays in force until
    /// this one is put in its place. An epoch's end writes it while its
    /// tables commit, and puts it in place once they have.
    pub fn write_aside(
        &self,
        data_dir: &Path,
    ) -> Result<delegraph_store::WrittenAside, PipelineError> {
        let path = checkpoint_path(data_dir);
        let mut unserialisable = None;
        let written = delegraph_store::write_aside(&path, |w| {
            let mut w = KeepIoError {
                inner: w,
                error: None,
            };
            let result = postcard::to_io(self, &mut w).map(|_| ());
            match (result, w.error) {
                (Ok(()), _) => Ok(()),
                // The file failed: that error, with the file's name.
                (Err(_), Some(io)) => Err(io),
                // The state itself could not be serialised.
                (Err(e), None) => {
                    let text = e.to_string();
                    unserialisable = Some(e);
                    Err(std::io::Error::other(text))
                }
            }
        });
        if let Some(e) = unserialisable {
            return Err(bad(&path, e));
        }
        let aside = written?;
        // What a state's size is made of, for an operator watching it grow.
        let analyzers: Vec<(&str, usize)> = self
            .analyzers
            .iter()
            .map(|(id, state)| (id.as_str(), state.len()))
            .collect();
        tracing::debug!(
            bytes = aside.bytes(),
            stitcher = self.stitcher.len(),
            reorder = self.reorder.len(),
            seen = self.seen.len(),
            ?analyzers,
            "checkpoint"
        );
        Ok(aside)
    }
}

/// A writer that keeps the I/O error it met, which postcard reports only
/// as its own.
struct KeepIoError<'a> {
    inner: &'a mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl std::io::Write for KeepIoError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(dir: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(dir.join("state")).unwrap();
        std::fs::write(checkpoint_path(dir), bytes).unwrap();
    }

    #[test]
    fn an_older_layout_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let old =
            postcard::to_stdvec(&(1u32, vec!["run".to_owned()], vec![1u8], vec![2u8])).unwrap();
        write(dir.path(), &old);
        let err = Checkpoint::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("checkpoint version 1 (this build reads {VERSION}"))
                && err.contains("replay the inputs into a new data directory"),
            "{err}"
        );
        let analyzers = BTreeMap::from([("detectors".to_owned(), vec![4])]);
        let c = Checkpoint::new(vec!["r".into()], vec![3], analyzers.clone());
        c.store(dir.path()).unwrap();
        let back = Checkpoint::load(dir.path()).unwrap().unwrap();
        assert_eq!(
            (back.runs, back.stitcher, back.analyzers),
            (vec!["r".to_owned()], vec![3], analyzers)
        );
    }

    /// Byte strings written whole are the bytes the element-by-element
    /// encoding wrote, so checkpoints saved before still load.
    #[test]
    fn byte_strings_are_saved_as_the_same_bytes_as_before() {
        #[derive(Serialize)]
        struct ByElement {
            version: u32,
            runs: Vec<String>,
            stitcher: Vec<u8>,
            reorder: Vec<u8>,
            seen: Vec<u64>,
            epoch: u64,
            offsets: Vec<PartitionOffset>,
            analyzers: BTreeMap<String, Vec<u8>>,
        }
        let stitcher: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let analyzers = BTreeMap::from([
            ("detectors".to_owned(), vec![0, 255, 128, 1]),
            ("rules".to_owned(), Vec::new()),
        ]);
        let mut c = Checkpoint::new(vec!["r".into()], stitcher.clone(), analyzers.clone());
        c.reorder = vec![200; 130];
        c.seen = vec![1, u64::MAX];
        c.epoch = 4;
        let before = ByElement {
            version: VERSION,
            runs: c.runs.clone(),
            stitcher,
            reorder: c.reorder.clone(),
            seen: c.seen.clone(),
            epoch: 4,
            offsets: Vec::new(),
            analyzers,
        };
        let saved = postcard::to_stdvec(&c).unwrap();
        assert_eq!(saved, postcard::to_stdvec(&before).unwrap());
        let back: Checkpoint = postcard::from_bytes(&saved).unwrap();
        assert_eq!(
            (back.stitcher, back.reorder, back.analyzers),
            (before.stitcher, before.reorder, before.analyzers)
        );
    }
}

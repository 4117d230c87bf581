//! The dead-letter file: one JSON line per rejected record.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use delegraph_model::DeadLetter;

use crate::PipelineError;

/// How much of a rejected record's text is kept; the origin points at the
/// full record.
pub const MAX_DEAD_LETTER_RAW: usize = 64 * 1024;

/// Writes dead letters as JSON lines to a hidden file renamed into place on
/// [`finish`](Self::finish), like the Parquet tables.
pub struct DeadLetterFile {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
    count: u64,
}

impl DeadLetterFile {
    /// A sink for `DIR/dead_letter/<name>.jsonl`; the file is created on the
    /// first dead letter only.
    pub fn new(data_dir: &Path, name: &str) -> Self {
        let dir = data_dir.join("dead_letter");
        Self {
            tmp: dir.join(format!(".{name}.jsonl.partial")),
            dest: dir.join(format!("{name}.jsonl")),
            out: None,
            count: 0,
        }
    }

    /// Remove `DIR/dead_letter/<name>.jsonl` if an earlier attempt at the
    /// same run published it.
    pub fn remove_published(data_dir: &Path, name: &str) -> Result<(), PipelineError> {
        let path = data_dir.join("dead_letter").join(format!("{name}.jsonl"));
        Ok(delegraph_store::remove_if_present(&path)?)
    }

    fn err(&self, source: std::io::Error) -> PipelineError {
        PipelineError::DeadLetter {
            path: self.dest.display().to_string(),
            source,
        }
    }

    /// Record one rejected record (its text cut to [`MAX_DEAD_LETTER_RAW`]).
    pub fn write(&mut self, mut letter: DeadLetter) -> Result<(), PipelineError> {
        if letter.raw.len() > MAX_DEAD_LETTER_RAW {
            let cut = (0..=MAX_DEAD_LETTER_RAW)
                .rev()
                .find(|i| letter.raw.is_char_boundary(*i))
                .unwrap_or(0);
            let total = letter.raw.len();
            letter.raw.truncate(cut);
            letter
                .raw
                .push_str(&format!("…[cut: {total} bytes in all]"));
        }
        if self.out.is_none() {
            let dir = self.tmp.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir).map_err(|e| self.err(e))?;
            let f = File::create(&self.tmp).map_err(|e| self.err(e))?;
            self.out = Some(BufWriter::new(f));
        }
        let line = serde_json::to_string(&letter).map_err(|e| self.err(e.into()))?;
        if let Some(out) = self.out.as_mut() {
            let r = out
                .write_all(line.as_bytes())
                .and_then(|_| out.write_all(b"\n"));
            r.map_err(|e| PipelineError::DeadLetter {
                path: self.dest.display().to_string(),
                source: e,
            })?;
        }
        self.count += 1;
        Ok(())
    }

    /// Publish the file; returns its path if anything was written.
    pub fn finish(mut self) -> Result<Option<PathBuf>, PipelineError> {
        let Some(out) = self.out.take() else {
            return Ok(None);
        };
        let file = out.into_inner().map_err(|e| self.err(e.into_error()))?;
        file.sync_all().map_err(|e| self.err(e))?;
        fs::rename(&self.tmp, &self.dest).map_err(|e| self.err(e))?;
        Ok(Some(self.dest.clone()))
    }
}

//! The files one run (a replay, or one epoch of a stream) publishes:
//! events, findings, agents, edges and dead letters, all named after the
//! run, all made visible together at the end of the run.

use std::path::{Path, PathBuf};

use delegraph_model::DeadLetter;
use delegraph_store::{
    AtomicParquetFile, agents_schema, edges_schema, events_schema, findings_schema, remove_run_file,
};

use crate::{DeadLetterFile, PipelineError};

/// Tables a run writes a file to.
const RUN_TABLES: [&str; 4] = ["events", "findings", "agents", "edges"];

/// Open output files of one run, with the rows each received.
pub(crate) struct RunFiles {
    pub events: AtomicParquetFile,
    pub findings: AtomicParquetFile,
    pub agents: AtomicParquetFile,
    pub edges: AtomicParquetFile,
    pub dead: DeadLetterFile,
    pub event_rows: u64,
    pub finding_rows: u64,
    pub instance_rows: u64,
}

impl RunFiles {
    /// Start the files of run `name`, first removing whatever an earlier,
    /// interrupted attempt at the same run published.
    pub fn create(data_dir: &Path, name: &str) -> Result<Self, PipelineError> {
        for table in RUN_TABLES {
            remove_run_file(data_dir, table, name)?;
        }
        DeadLetterFile::remove_published(data_dir, name)?;
        Ok(Self {
            events: AtomicParquetFile::create(data_dir, "events", name, events_schema())?,
            findings: AtomicParquetFile::create(data_dir, "findings", name, findings_schema())?,
            agents: AtomicParquetFile::create(data_dir, "agents", name, agents_schema())?,
            edges: AtomicParquetFile::create(data_dir, "edges", name, edges_schema())?,
            dead: DeadLetterFile::new(data_dir, name),
            event_rows: 0,
            finding_rows: 0,
            instance_rows: 0,
        })
    }

    /// Record a dead letter.
    pub fn dead_letter(&mut self, letter: DeadLetter) -> Result<(), PipelineError> {
        self.dead.write(letter)
    }

    /// Publish the files that received rows (and drop the others); returns
    /// the published paths.
    pub fn publish(self) -> Result<Vec<PathBuf>, PipelineError> {
        let mut out = Vec::new();
        let mut one = |file: AtomicParquetFile, rows: u64| -> Result<(), PipelineError> {
            if rows > 0 {
                out.push(file.finish()?);
            } else {
                file.discard()?;
            }
            Ok(())
        };
        one(self.events, self.event_rows)?;
        one(self.findings, self.finding_rows)?;
        one(self.agents, self.instance_rows)?;
        one(self.edges, self.instance_rows)?;
        if let Some(path) = self.dead.finish()? {
            out.push(path);
        }
        Ok(out)
    }
}

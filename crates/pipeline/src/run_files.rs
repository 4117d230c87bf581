//! What one run (a replay, or one epoch of a stream) adds to the store:
//! rows of events, findings, agents and edges, streamed into each table's
//! files as they come and committed together at the end of the run, one
//! tagged commit per table, its dead letters included. A stream keeps one
//! `RunFiles` from epoch to epoch: the tables stay open and each epoch's
//! commit reads only what the log gained since the last. An epoch's files
//! are finished ([`RunFiles::close`]) apart from their commit
//! ([`ClosedRun::commit`]), which a stream makes beside its loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use delegraph_model::{DeadLetter, NormEvent};
use delegraph_store::{
    ClosedFiles, CommitTag, DayFiling, FilingLimits, RecordBatch, TableAppend, TableLog,
    agents_schema, edges_schema, events_batch, events_schema, findings_schema,
};

use crate::table_writer::{ClosingFiles, TableWriter};
use crate::{DeadLetters, PipelineError};

/// Files a day partition may gather from a stream's commits before they
/// are compacted (each epoch adds one per table and day it wrote to).
const CROWDED_DAY_FILES: usize = 32;

/// Publishes between looks for crowded days.
const PUBLISHES_PER_LOOK: u32 = 16;

/// Open output of one run.
pub(crate) struct RunFiles {
    /// Written on threads of their own (see [`TableWriter`]), batches
    /// built there ...
    pub events: TableWriter<Vec<NormEvent>>,
    /// ... or here.
    pub findings: TableWriter<RecordBatch>,
    pub agents: TableAppend,
    pub edges: TableAppend,
    pub dead: DeadLetters,
    data_dir: PathBuf,
    /// Publishes since the last look for crowded days.
    publishes: u32,
}

impl RunFiles {
    /// Start a run's output. What an interrupted earlier attempt at the
    /// same run committed is found by the commit's tag (see
    /// [`Self::publish`]).
    pub fn create(data_dir: &Path, limits: &FilingLimits) -> Result<Self, PipelineError> {
        // Rows with absurd times go under the day the run started.
        let filing = DayFiling::now_within(limits);
        Ok(Self {
            events: TableWriter::new(
                TableAppend::open(data_dir, "events", events_schema(), filing)?,
                |events| Ok(events_batch(&events)?),
                "events",
            ),
            findings: TableWriter::new(
                TableAppend::open(data_dir, "findings", findings_schema(), filing)?,
                Ok,
                "findings",
            ),
            agents: TableAppend::open(data_dir, "agents", agents_schema(), filing)?,
            edges: TableAppend::open(data_dir, "edges", edges_schema(), filing)?,
            dead: DeadLetters::open(data_dir, filing)?,
            data_dir: data_dir.to_owned(),
            publishes: 0,
        })
    }

    /// File the next run's rows by the clock now (after a publish).
    pub fn restart(&mut self, limits: &FilingLimits) -> Result<(), PipelineError> {
        let filing = DayFiling::now_within(limits);
        self.events.set_filing(filing)?;
        self.findings.set_filing(filing)?;
        for (_, table) in self.graph_tables() {
            table.set_filing(filing);
        }
        self.dead.set_filing(filing);
        Ok(())
    }

    /// The tables of rows written on this thread, by name (the events
    /// and findings have their own writers, the dead letters their
    /// buffer).
    fn graph_tables(&mut self) -> [(&'static str, &mut TableAppend); 2] {
        [("agents", &mut self.agents), ("edges", &mut self.edges)]
    }

    /// Record a dead letter.
    pub fn dead_letter(&mut self, letter: DeadLetter) -> Result<(), PipelineError> {
        self.dead.write(letter)
    }

    /// Commit the run's rows to every table under `tag`, its dead letters
    /// included; returns the tables committed to. The next run's rows may
    /// then be written (filed anew by [`Self::restart`]).
    pub fn publish(&mut self, tag: &CommitTag) -> Result<Vec<PathBuf>, PipelineError> {
        self.close()?.commit(tag)
    }

    /// Finish the run's files in every table for [`ClosedRun::commit`],
    /// which may run on another thread while the next run's rows are
    /// written.
    pub fn close(&mut self) -> Result<ClosedRun, PipelineError> {
        self.publishes = self.publishes.saturating_add(1);
        let written = [
            ("events", self.events.close()?),
            ("findings", self.findings.close()?),
        ];
        let mut tables = Vec::new();
        for (name, table) in self.graph_tables() {
            tables.push((name, table.close()?));
        }
        tables.push((delegraph_store::DEAD_LETTER_TABLE, self.dead.close()?));
        Ok(ClosedRun {
            written,
            tables,
            data_dir: self.data_dir.clone(),
        })
    }

    /// Every [`PUBLISHES_PER_LOOK`] publishes, the tables' logs, for
    /// compacting their crowded days once the last publish can no longer
    /// be redone (see [`CrowdedDays`]).
    pub fn crowded_days_due(&mut self) -> Option<CrowdedDays> {
        if self.publishes < PUBLISHES_PER_LOOK {
            return None;
        }
        self.publishes = 0;
        let mut logs = vec![
            ("events", self.events.log()),
            ("findings", self.findings.log()),
        ];
        for (name, table) in self.graph_tables() {
            logs.push((name, table.log()));
        }
        logs.push((delegraph_store::DEAD_LETTER_TABLE, self.dead.log()));
        Some(CrowdedDays(logs))
    }
}

/// A run's files, finished in every table and not committed yet.
pub(crate) struct ClosedRun {
    /// Being finished after the rows handed over before them.
    written: [(&'static str, ClosingFiles); 2],
    tables: Vec<(&'static str, ClosedFiles)>,
    data_dir: PathBuf,
}

impl ClosedRun {
    /// Commit the files to their tables under `tag`; returns the tables
    /// committed to. Runs are committed in the order they were closed.
    pub fn commit(self, tag: &CommitTag) -> Result<Vec<PathBuf>, PipelineError> {
        let mut committed = Vec::new();
        let mut closed = Vec::new();
        for (name, files) in self.written {
            closed.push((name, files.wait()?));
        }
        for (name, files) in closed.into_iter().chain(self.tables) {
            if files.commit(tag)?.is_some() {
                committed.push(self.data_dir.join(name));
            }
        }
        Ok(committed)
    }
}

/// The tables' logs, to compact the days holding more than
/// [`CROWDED_DAY_FILES`] files. Only once the last publish can no longer
/// be redone (see [`TableLog::compact_crowded_days`]). A compaction that
/// fails is reported and tried again at the next look: ingestion goes on.
pub(crate) struct CrowdedDays(Vec<(&'static str, Arc<TableLog>)>);

impl CrowdedDays {
    pub fn compact(self) {
        for (name, log) in self.0 {
            match log.compact_crowded_days(CROWDED_DAY_FILES) {
                Ok(c) if c.files_removed > 0 => tracing::debug!(
                    table = name,
                    days = c.days,
                    removed = c.files_removed,
                    added = c.files_added,
                    "compacted crowded days"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(table = name, error = %e, "compacting crowded days"),
            }
        }
    }
}

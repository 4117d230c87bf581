//! Decode → dead-letter / store, shared by every way records arrive.

use std::path::Path;
use std::sync::{Arc, Mutex};

use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_detect::DetectConfig;
use delegraph_graph::{ReorderBuffer, StitchConfig, StitchStats, Stitcher};
use delegraph_model::{Analyzer, DeadLetter, Finding, NormEvent, Origin};
use delegraph_rules::{RuleEngine, RuleSet};
use delegraph_store::{
    ActivityLog, FilingLimits, agents_batch, edges_batch, findings_batch, remove_partials,
};

use crate::checkpoint::Checkpoint;
use crate::dedup::{DEFAULT_SEEN, SeenEvents, SeenLog};
use crate::live_tables::LiveTables;
use crate::run_files::RunFiles;
use crate::{PipelineError, RunStats};

mod finish;
mod pieces;
mod release;
mod seal;

use seal::lock_live;
pub use seal::{LiveRowsWanted, SealTimings, Sealed};

/// The application id a stream's epochs are committed under (each epoch's
/// number is its transaction version).
pub const STREAM_APP_ID: &str = "delegraph-stream";

/// How a pipeline starts: limits, detector settings, and whether it
/// continues from (and saves) the data directory's checkpoint.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Events per Arrow batch.
    pub batch_rows: usize,
    /// Stitcher limits.
    pub stitch: StitchConfig,
    /// Detector thresholds.
    pub detect: DetectConfig,
    /// Continue from the checkpoint and save one at the end.
    pub persist: bool,
    /// Sigma rules to run (none by default).
    pub rules: Arc<RuleSet>,
    /// Which times are filed under their own day.
    pub filing: FilingLimits,
}

impl PipelineOptions {
    /// Defaults with `batch_rows`, not persisted.
    pub fn new(batch_rows: usize) -> Self {
        Self {
            batch_rows,
            stitch: StitchConfig::default(),
            detect: DetectConfig::default(),
            persist: false,
            rules: Arc::new(RuleSet::empty()),
            filing: FilingLimits::default(),
        }
    }
}

/// One run's worth of output: rows of every table, dead letters, counts.
pub struct EventPipeline {
    files: RunFiles,
    /// The current-state tables (instances live now, their edges), held
    /// open between epochs; replaced where a sealed epoch is made durable.
    live: Arc<Mutex<LiveTables>>,
    /// Which times are filed under their own day.
    filing: FilingLimits,
    data_dir: std::path::PathBuf,
    name: String,
    /// Detectors and rules, driven alike (see [`crate::analyzers`]).
    analyzers: Vec<Box<dyn Analyzer>>,
    /// The rule set in force.
    rules: Arc<RuleSet>,
    /// Event-time clock: the latest event time released.
    clock: i64,
    findings: Vec<Finding>,
    /// Applied runs, when persisting.
    runs: Option<Vec<String>>,
    reorder: ReorderBuffer,
    seen: SeenEvents,
    /// Streaming: the recent event ids as the last checkpoint saved them,
    /// brought up to date where an epoch is made durable (see [`SeenLog`]).
    seen_log: Option<Arc<Mutex<SeenLog>>>,
    stitcher: Stitcher,
    buffer: Vec<NormEvent>,
    batch_rows: usize,
    stats: RunStats,
    /// Streaming: findings and dead letters of the current epoch, kept for
    /// publishing once the epoch's files are durable.
    kept: Option<(Vec<Finding>, Vec<DeadLetter>)>,
    /// The stream position of the checkpoint this run continues from.
    position: (u64, Vec<delegraph_model::PartitionOffset>),
    /// The triage log, held open between looks.
    verdicts: ActivityLog,
    /// The last triage log entry handed to the analyzers.
    verdicts_after: u64,
    /// Event time at the end of the run kept held for the next one.
    carry_over: Option<i64>,
    /// Events from this time on are held until the end (the carry-over).
    hold_from: i64,
    /// Releases of at least this many events run the analyzers on a
    /// thread of their own (see `release`).
    two_threads_from: usize,
}

impl EventPipeline {
    /// Start a run whose output files are named `name` (fresh state).
    pub fn new(data_dir: &Path, name: &str, batch_rows: usize) -> Result<Self, PipelineError> {
        Self::open(data_dir, name, PipelineOptions::new(batch_rows), None)
    }

    /// Start a run; with `opts.persist`, continue from `checkpoint` (the
    /// data directory's, see [`Checkpoint::load`]) and save one at the end.
    /// Whatever an interrupted earlier attempt at the same run published is
    /// removed first.
    pub fn open(
        data_dir: &Path,
        name: &str,
        opts: PipelineOptions,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Self, PipelineError> {
        delegraph_store::refuse_old_layout(data_dir)?;
        remove_all_partials(data_dir)?;
        let state_err = |message: String| PipelineError::State {
            path: crate::checkpoint::checkpoint_path(data_dir)
                .display()
                .to_string(),
            message,
        };
        let lateness = opts.stitch.lateness_ns;
        // A replay into a data directory a stream also fills keeps the
        // stream's position.
        let position = checkpoint
            .as_ref()
            .filter(|_| opts.persist)
            .map(|c| (c.epoch, c.offsets.clone()))
            .unwrap_or_default();
        let mut analyzers = crate::analyzers::registry(&opts);
        let resumed = opts.persist && checkpoint.is_some();
        let (stitcher, reorder, seen, runs) = match checkpoint.filter(|_| opts.persist) {
            Some(c) => {
                crate::analyzers::restore(&mut analyzers, &c.analyzers).map_err(|source| {
                    PipelineError::AnalyzerState {
                        path: crate::checkpoint::checkpoint_path(data_dir)
                            .display()
                            .to_string(),
                        source,
                    }
                })?;
                (
                    Stitcher::restore(opts.stitch, &c.stitcher)
                        .map_err(|e| state_err(e.to_string()))?,
                    ReorderBuffer::restore(lateness, &c.reorder)
                        .map_err(|e| state_err(e.to_string()))?,
                    SeenEvents::restore(DEFAULT_SEEN, &c.seen),
                    Some(c.runs),
                )
            }
            None => (
                Stitcher::new(opts.stitch),
                ReorderBuffer::new(lateness),
                SeenEvents::new(DEFAULT_SEEN),
                opts.persist.then(Vec::new),
            ),
        };
        let mut p = Self {
            files: RunFiles::create(data_dir, &opts.filing)?,
            live: Arc::new(Mutex::new(LiveTables::new(data_dir, resumed))),
            filing: opts.filing,
            data_dir: data_dir.to_owned(),
            name: name.to_owned(),
            analyzers,
            rules: opts.rules,
            clock: i64::MIN,
            findings: Vec::new(),
            runs,
            reorder,
            seen,
            seen_log: None,
            stitcher,
            buffer: Vec::with_capacity(opts.batch_rows.clamp(1, 1 << 16)),
            batch_rows: opts.batch_rows.max(1),
            stats: RunStats::default(),
            kept: None,
            carry_over: None,
            hold_from: i64::MAX,
            two_threads_from: release::TWO_THREADS_FROM,
            position,
            verdicts: ActivityLog::new(data_dir),
            verdicts_after: 0,
        };
        if p.runs.is_some() {
            p.take_verdicts();
        }
        Ok(p)
    }

    /// Hand the analysts' verdicts recorded in the triage log since the
    /// last look to every analyzer, oldest first (a persisted run at its
    /// start, a stream at every epoch). Analyzers remember the last one
    /// they applied, so reading the log from its start again after a
    /// restart applies none twice. A log that cannot be read is skipped
    /// with a warning and read again next time: triage never stops
    /// ingestion.
    fn take_verdicts(&mut self) {
        let entries = match self.verdicts.after(self.verdicts_after) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "reading analysts' verdicts from the triage log");
                return;
            }
        };
        for v in entries
            .iter()
            .filter_map(delegraph_model::ActivityEntry::verdict)
        {
            for a in &mut self.analyzers {
                a.verdict(&v);
            }
        }
        if let Some(last) = entries.last() {
            self.verdicts_after = last.seq;
        }
    }

    /// Keep each epoch's findings and dead letters for [`seal`](Self::seal)
    /// to hand over (streaming).
    pub fn keep_outputs(&mut self) {
        self.kept.get_or_insert_with(Default::default);
    }

    /// The open epoch's findings from the `from`-th on (counting from the
    /// epoch's first), in the order found: for publishing them before the
    /// epoch is sealed. Empty unless outputs are kept.
    pub fn epoch_findings_from(&self, from: usize) -> impl Iterator<Item = &Finding> {
        let (flushed, pending) = match &self.kept {
            Some((kept, _)) => (kept.as_slice(), self.findings.as_slice()),
            None => (&[][..], &[][..]),
        };
        from_nth(flushed, pending, from)
    }

    /// Decode one document and route its records.
    pub fn ingest(
        &mut self,
        decoder: &DocumentDecoder,
        bytes: &[u8],
        base: &OriginBase,
        raw_len: u64,
    ) -> Result<(), PipelineError> {
        self.count_document(raw_len);
        decoder
            .decode_document(bytes, base, self)
            .map_err(PipelineError::from_sink)
    }

    /// An input that could not be read whole (too large, a decompression
    /// bomb, a compressed stream cut short): one dead letter naming the file
    /// and why, and the run goes on with the others.
    pub fn reject_input(
        &mut self,
        path: &str,
        reason: &str,
        detail: String,
    ) -> Result<(), PipelineError> {
        self.dead_letter(DeadLetter {
            reason: reason.to_owned(),
            detail,
            origin: Origin::File {
                path: path.to_owned(),
                line: 0,
                index: None,
            },
            source: None,
            raw: String::new(),
        })
    }

    fn dead_letter(&mut self, letter: DeadLetter) -> Result<(), PipelineError> {
        *self
            .stats
            .dead_by_reason
            .entry(letter.reason.clone())
            .or_default() += 1;
        if let Some((_, kept)) = self.kept.as_mut() {
            kept.push(letter.clone());
        }
        self.files.dead_letter(letter)
    }

    /// Counts so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Classify identities with the SOC's agent inventory.
    pub fn set_inventory(&mut self, inventory: delegraph_graph::Inventory) {
        self.stitcher.set_inventory(inventory);
    }

    /// Attribution counters so far.
    pub fn stitch_stats(&self) -> StitchStats {
        self.stitcher.stats()
    }

    /// Agent instances with live graphs.
    pub fn live_instances(&self) -> usize {
        self.stitcher.instances().len()
    }

    /// Events held back for event-time ordering.
    pub fn held_events(&self) -> usize {
        self.reorder.held()
    }

    /// Replace the rules in force (hot reload); correlation windows of
    /// rules still loaded are kept.
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        for a in &mut self.analyzers {
            if let Some(engine) = a.as_any_mut().downcast_mut::<RuleEngine>() {
                engine.replace(rules.clone());
            }
        }
        self.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    fn flush(&mut self) -> Result<(), PipelineError> {
        self.flush_with(None)
    }

    /// Write what is buffered, with the instances retired by now: `retired`
    /// when they were taken from the stitcher already (a release on two
    /// threads, where it runs ahead), else the stitcher's.
    fn flush_with(
        &mut self,
        retired: Option<Vec<delegraph_graph::Instance>>,
    ) -> Result<(), PipelineError> {
        if !self.buffer.is_empty() {
            let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.batch_rows));
            self.files.events.write(full)?;
        }
        if !self.findings.is_empty() {
            self.files.findings.write(findings_batch(&self.findings)?)?;
            self.stats.findings_written += self.findings.len() as u64;
            match self.kept.as_mut() {
                Some((kept, _)) => kept.append(&mut self.findings),
                None => self.findings.clear(),
            }
        }
        let retired = retired.unwrap_or_else(|| self.stitcher.drain_retired());
        self.write_instances(retired.iter())
    }

    /// Write instances to the `agents` and `edges` tables.
    fn write_instances<'a>(
        &mut self,
        instances: impl Iterator<Item = &'a delegraph_graph::Instance>,
    ) -> Result<(), PipelineError> {
        let mut agents = Vec::new();
        let mut edges = Vec::new();
        for i in instances {
            agents.push(crate::graph_rows::agent_row(i));
            edges.extend(crate::graph_rows::edge_rows(i));
        }
        if agents.is_empty() {
            return Ok(());
        }
        self.files.agents.write(agents_batch(&agents)?)?;
        self.files.edges.write(edges_batch(&edges)?)?;
        Ok(())
    }

    /// Replace the live tables if epochs since the last replacement left
    /// them behind the stitcher (a stream gone idle, or stopping); whether
    /// they were.
    pub fn refresh_live(&mut self) -> Result<bool, PipelineError> {
        lock_live(&self.live).refresh_stale(&self.stitcher, &self.filing)
    }

    /// Copy the stitcher's, reorder buffer's and detectors' counters into
    /// the run's stats (at the end of an epoch or run).
    fn refresh_stats(&mut self) {
        self.stats.stitch = self.stitcher.stats();
        self.stats.late_events = self.reorder.late();
        self.stats.analyzers = crate::analyzers::stats(&self.analyzers);
    }
}

/// Remove what interrupted writes left in every table directory and
/// beside the checkpoint (a crash while it was written aside).
pub(crate) fn remove_all_partials(data_dir: &Path) -> Result<(), PipelineError> {
    for table in delegraph_store::TABLES {
        remove_partials(data_dir, table)?;
    }
    remove_partials(data_dir, crate::checkpoint::STATE_DIR)?;
    Ok(())
}

impl EventSink for EventPipeline {
    fn event(&mut self, event: NormEvent) -> Result<(), SinkError> {
        self.event_boxed(Box::new(event))
    }

    fn event_boxed(&mut self, event: Box<NormEvent>) -> Result<(), SinkError> {
        let mut due = Vec::new();
        self.reorder.push_boxed(event, |e| due.push(e));
        for e in due {
            self.release(e).map_err(SinkError::new)?;
        }
        Ok(())
    }

    fn reject(&mut self, error: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError> {
        self.dead_letter(DeadLetter {
            reason: error.reason().to_owned(),
            detail: error.to_string(),
            origin,
            source: error.format(),
            raw: raw.to_owned(),
        })
        .map_err(SinkError::new)
    }
}

/// Items of `first` then `second` from the `n`-th on, without walking the
/// `n` before it.
fn from_nth<'a, T>(first: &'a [T], second: &'a [T], n: usize) -> impl Iterator<Item = &'a T> {
    let in_second = n.saturating_sub(first.len());
    first
        .get(n..)
        .unwrap_or_default()
        .iter()
        .chain(second.get(in_second..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{from_nth, remove_all_partials};

    /// A crash while a table file or the checkpoint was being written
    /// leaves a `.partial` beside it; the next run starts without them,
    /// and keeps what is whole.
    #[test]
    fn a_run_starts_without_the_partial_files_a_crash_left() {
        let data = tempfile::tempdir().unwrap();
        let checkpoint = crate::checkpoint::checkpoint_path(data.path());
        let state = checkpoint.parent().unwrap();
        let events = data.path().join("events");
        for dir in [state, &events] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(".half-written.partial"), b"half").unwrap();
        }
        std::fs::write(&checkpoint, b"whole").unwrap();
        remove_all_partials(data.path()).unwrap();
        for dir in [state, &events] {
            assert!(!dir.join(".half-written.partial").exists(), "{dir:?}");
        }
        assert!(checkpoint.exists());
    }

    /// Whatever the split between flushed and pending findings, the ones
    /// from the n-th on are the same as in one list: none sent twice or
    /// skipped when a flush moves pending ones between two sends.
    #[test]
    fn items_from_the_nth_across_two_slices() {
        let all: Vec<u32> = (0..7).collect();
        for split in 0..=all.len() {
            let (first, second) = all.split_at(split);
            for n in 0..=all.len() + 2 {
                let got: Vec<u32> = from_nth(first, second, n).copied().collect();
                assert_eq!(
                    got,
                    all.get(n..).unwrap_or_default(),
                    "split {split}, n {n}"
                );
            }
        }
    }
}

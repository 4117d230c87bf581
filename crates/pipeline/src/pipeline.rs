//! Decode → dead-letter / store, shared by every way records arrive.

use std::path::Path;

use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase};
use delegraph_detect::{DetectConfig, Detectors};
use delegraph_graph::{ReorderBuffer, StitchConfig, StitchStats, Stitcher};
use delegraph_model::{DeadLetter, Finding, NormEvent, Origin};
use delegraph_store::{
    AtomicParquetFile, agents_batch, agents_schema, edges_batch, edges_schema, events_batch,
    events_schema, findings_batch, findings_schema, remove_partials,
};

use crate::checkpoint::Checkpoint;
use crate::{DeadLetterFile, PipelineError, RunStats};

/// Name of the `agents` / `edges` files holding instances still live at the
/// end of the last run (replaced every run, so no instance is listed twice).
pub const LIVE_SNAPSHOT: &str = "live";

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
}

impl PipelineOptions {
    /// Defaults with `batch_rows`, not persisted.
    pub fn new(batch_rows: usize) -> Self {
        Self {
            batch_rows,
            stitch: StitchConfig::default(),
            detect: DetectConfig::default(),
            persist: false,
        }
    }
}

/// One run's worth of output: events table file, dead-letter file, counts.
pub struct EventPipeline {
    events: AtomicParquetFile,
    agents: AtomicParquetFile,
    edges: AtomicParquetFile,
    findings_file: AtomicParquetFile,
    data_dir: std::path::PathBuf,
    name: String,
    instances_written: u64,
    detectors: Detectors,
    findings: Vec<Finding>,
    /// Applied runs, when persisting.
    runs: Option<Vec<String>>,
    dead: DeadLetterFile,
    reorder: ReorderBuffer,
    stitcher: Stitcher,
    buffer: Vec<NormEvent>,
    batch_rows: usize,
    stats: RunStats,
    error: Option<PipelineError>,
}

impl EventPipeline {
    /// Start a run whose output files are named `name` (fresh state).
    pub fn new(data_dir: &Path, name: &str, batch_rows: usize) -> Result<Self, PipelineError> {
        Self::open(data_dir, name, PipelineOptions::new(batch_rows), None)
    }

    /// Start a run; with `opts.persist`, continue from `checkpoint` (the
    /// data directory's, see [`Checkpoint::load`]) and save one at the end.
    pub fn open(
        data_dir: &Path,
        name: &str,
        opts: PipelineOptions,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Self, PipelineError> {
        remove_all_partials(data_dir)?;
        let state_err = |message: String| PipelineError::State {
            path: crate::checkpoint::checkpoint_path(data_dir)
                .display()
                .to_string(),
            message,
        };
        let (stitcher, detectors, runs) = match checkpoint.filter(|_| opts.persist) {
            Some(c) => (
                Stitcher::restore(opts.stitch, &c.stitcher)
                    .map_err(|e| state_err(e.to_string()))?,
                Detectors::restore(opts.detect.clone(), &c.detectors)
                    .map_err(|e| state_err(e.to_string()))?,
                Some(c.runs),
            ),
            None => (
                Stitcher::new(opts.stitch),
                Detectors::new(opts.detect.clone()),
                opts.persist.then(Vec::new),
            ),
        };
        Ok(Self {
            agents: AtomicParquetFile::create(data_dir, "agents", name, agents_schema())?,
            edges: AtomicParquetFile::create(data_dir, "edges", name, edges_schema())?,
            findings_file: AtomicParquetFile::create(
                data_dir,
                "findings",
                name,
                findings_schema(),
            )?,
            data_dir: data_dir.to_owned(),
            name: name.to_owned(),
            instances_written: 0,
            detectors,
            findings: Vec::new(),
            runs,
            reorder: ReorderBuffer::new(opts.stitch.lateness_ns),
            stitcher,
            events: AtomicParquetFile::create(data_dir, "events", name, events_schema())?,
            dead: DeadLetterFile::new(data_dir, name),
            buffer: Vec::with_capacity(opts.batch_rows.clamp(1, 1 << 16)),
            batch_rows: opts.batch_rows.max(1),
            stats: RunStats::default(),
            error: None,
        })
    }

    /// Decode one document and route its records.
    pub fn ingest(
        &mut self,
        decoder: &DocumentDecoder,
        bytes: &[u8],
        base: &OriginBase,
        raw_len: u64,
    ) -> Result<(), PipelineError> {
        self.stats.documents += 1;
        self.stats.bytes += raw_len;
        decoder.decode_document(bytes, base, self);
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
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

    /// Stitch an event the reorder buffer released, run the detectors on
    /// it and buffer it for the store.
    fn release(&mut self, mut event: NormEvent) {
        self.stitcher.attribute(&mut event);
        let before = self.findings.len();
        self.detectors.observe(&event, &mut self.findings);
        for f in &self.findings[before..] {
            self.stats.note_finding(f);
        }
        self.buffer.push(event);
        if self.buffer.len() >= self.batch_rows
            && self.error.is_none()
            && let Err(e) = self.flush()
        {
            self.error = Some(e);
        }
    }

    fn flush(&mut self) -> Result<(), PipelineError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = events_batch(&self.buffer)?;
        self.events.write(&batch)?;
        self.buffer.clear();
        if !self.findings.is_empty() {
            self.findings_file.write(&findings_batch(&self.findings)?)?;
            self.stats.findings_written += self.findings.len() as u64;
            self.findings.clear();
        }
        let retired = self.stitcher.drain_retired();
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
        self.instances_written += agents.len() as u64;
        self.agents.write(&agents_batch(&agents)?)?;
        self.edges.write(&edges_batch(&edges)?)?;
        Ok(())
    }

    /// Write what is buffered and publish the run's files; with
    /// persistence, then save the checkpoint (tables first, so a crash in
    /// between only means the run is done again, with the same output).
    pub fn finish(mut self) -> Result<RunStats, PipelineError> {
        let mut held = Vec::new();
        self.reorder.flush(|e| held.push(e));
        for e in held {
            self.release(e);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.flush()?;
        self.stats.stitch = self.stitcher.stats();
        self.stats.late_events = self.reorder.late();
        self.stats.detect = self.detectors.stats();
        if self.stats.events() > 0 {
            let path = self.events.finish()?;
            self.stats.outputs.push(path);
        }
        if self.stats.findings_written > 0 {
            self.stats.outputs.push(self.findings_file.finish()?);
        }
        if self.instances_written > 0 {
            self.stats.outputs.push(self.agents.finish()?);
            self.stats.outputs.push(self.edges.finish()?);
        }
        write_live(&self.data_dir, &self.stitcher, &mut self.stats.outputs)?;
        if let Some(path) = self.dead.finish()? {
            self.stats.outputs.push(path);
        }
        if let Some(mut runs) = self.runs.take() {
            runs.push(self.name.clone());
            let stitcher = self.stitcher.save().map_err(|e| PipelineError::State {
                path: "stitcher".into(),
                message: e.to_string(),
            })?;
            let detectors = self.detectors.save().map_err(|e| PipelineError::State {
                path: "detectors".into(),
                message: e.to_string(),
            })?;
            let path = Checkpoint::new(runs, stitcher, detectors).store(&self.data_dir)?;
            self.stats.outputs.push(path);
        }
        Ok(self.stats)
    }
}

/// Remove what interrupted writes left in every table directory.
pub(crate) fn remove_all_partials(data_dir: &Path) -> Result<(), PipelineError> {
    for table in delegraph_store::TABLES {
        remove_partials(data_dir, table)?;
    }
    Ok(())
}

/// Replace the live-instance snapshot of `agents` and `edges`.
fn write_live(
    data_dir: &Path,
    stitcher: &Stitcher,
    outputs: &mut Vec<std::path::PathBuf>,
) -> Result<(), PipelineError> {
    let mut live: Vec<&delegraph_graph::Instance> = stitcher.instances().live().collect();
    live.sort_by(|a, b| a.id.cmp(&b.id));
    let agents: Vec<_> = live
        .iter()
        .map(|i| crate::graph_rows::agent_row(i))
        .collect();
    let edges: Vec<_> = live
        .iter()
        .flat_map(|i| crate::graph_rows::edge_rows(i))
        .collect();
    let mut a = AtomicParquetFile::create(data_dir, "agents", LIVE_SNAPSHOT, agents_schema())?;
    a.write(&agents_batch(&agents)?)?;
    let mut e = AtomicParquetFile::create(data_dir, "edges", LIVE_SNAPSHOT, edges_schema())?;
    e.write(&edges_batch(&edges)?)?;
    outputs.push(a.finish()?);
    outputs.push(e.finish()?);
    Ok(())
}

impl EventSink for EventPipeline {
    fn event(&mut self, event: NormEvent) {
        *self.stats.events_by_source.entry(event.source).or_default() += 1;
        let mut due = Vec::new();
        self.reorder.push(event, |e| due.push(e));
        for e in due {
            self.release(e);
        }
    }

    fn reject(&mut self, error: DecodeError, origin: Origin, raw: &str) {
        *self
            .stats
            .dead_by_reason
            .entry(error.reason().to_owned())
            .or_default() += 1;
        let letter = DeadLetter {
            reason: error.reason().to_owned(),
            detail: error.to_string(),
            origin,
            source: error.format(),
            raw: raw.to_owned(),
        };
        if let Err(e) = self.dead.write(letter) {
            self.error.get_or_insert(e);
        }
    }
}

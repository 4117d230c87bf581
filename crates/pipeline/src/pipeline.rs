//! Decode → dead-letter / store, shared by every way records arrive.

use std::path::Path;

use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase};
use delegraph_graph::{ReorderBuffer, StitchConfig, StitchStats, Stitcher};
use delegraph_model::{DeadLetter, NormEvent, Origin};
use delegraph_store::{
    AtomicParquetFile, agents_batch, agents_schema, edges_batch, edges_schema, events_batch,
    events_schema, remove_partials,
};

use crate::{DeadLetterFile, PipelineError, RunStats};

/// One run's worth of output: events table file, dead-letter file, counts.
pub struct EventPipeline {
    events: AtomicParquetFile,
    agents: AtomicParquetFile,
    edges: AtomicParquetFile,
    instances_written: u64,
    dead: DeadLetterFile,
    reorder: ReorderBuffer,
    stitcher: Stitcher,
    buffer: Vec<NormEvent>,
    batch_rows: usize,
    stats: RunStats,
    error: Option<PipelineError>,
}

impl EventPipeline {
    /// Start a run whose output files are named `name`.
    pub fn new(data_dir: &Path, name: &str, batch_rows: usize) -> Result<Self, PipelineError> {
        Self::with_stitching(data_dir, name, batch_rows, StitchConfig::default())
    }

    /// Start a run with explicit stitcher limits.
    pub fn with_stitching(
        data_dir: &Path,
        name: &str,
        batch_rows: usize,
        stitch: StitchConfig,
    ) -> Result<Self, PipelineError> {
        for table in ["events", "agents", "edges"] {
            remove_partials(data_dir, table)?;
        }
        Ok(Self {
            agents: AtomicParquetFile::create(data_dir, "agents", name, agents_schema())?,
            edges: AtomicParquetFile::create(data_dir, "edges", name, edges_schema())?,
            instances_written: 0,
            reorder: ReorderBuffer::new(stitch.lateness_ns),
            stitcher: Stitcher::new(stitch),
            events: AtomicParquetFile::create(data_dir, "events", name, events_schema())?,
            dead: DeadLetterFile::new(data_dir, name),
            buffer: Vec::with_capacity(batch_rows.clamp(1, 1 << 16)),
            batch_rows: batch_rows.max(1),
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

    /// Stitch an event the reorder buffer released and buffer it for the store.
    fn release(&mut self, mut event: NormEvent) {
        self.stitcher.attribute(&mut event);
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

    /// Write what is buffered and publish the run's files.
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
        let mut live: Vec<delegraph_graph::Instance> =
            self.stitcher.instances().live().cloned().collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        self.write_instances(live.iter())?;
        if self.stats.events() > 0 {
            let path = self.events.finish()?;
            self.stats.outputs.push(path);
        }
        if self.instances_written > 0 {
            self.stats.outputs.push(self.agents.finish()?);
            self.stats.outputs.push(self.edges.finish()?);
        }
        if let Some(path) = self.dead.finish()? {
            self.stats.outputs.push(path);
        }
        Ok(self.stats)
    }
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

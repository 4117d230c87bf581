//! Events leave the reorder buffer: each is stitched, every analyzer looks
//! at it, and it is buffered for the store with its findings.
//!
//! One event at a time as they come due, or many at once (the end of a
//! replay releases its whole input; a merged replay a piece's worth). A
//! batch of many is released on two threads: this one stitches while an
//! analysis thread runs the analyzers, a few hundred events behind, and
//! hands each event back with its findings to be buffered here, in order.
//! Stitching never reads what the analyzers found, so the stitcher can run
//! ahead, and the analyzers see the events, the clock and the agent
//! context they would have seen on one thread: the output is the same,
//! row for row (the `agents` and `edges` rows too: the instances the
//! stitcher retired are taken where one thread would have taken them, at
//! the event whose row fills a batch).

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Mutex, PoisonError};

use delegraph_model::{AgentContext, Analyzer, AttributedEvent, EventSignals, Finding, NormEvent};

use super::EventPipeline;
use crate::PipelineError;

/// Events handed to the analysis thread at a time.
const CHUNK: usize = 256;
/// Chunks stitched and not yet analysed, at most: how far the stitcher
/// runs ahead (and how many events are in flight).
const CHUNKS_AHEAD: usize = 4;
/// Releases of fewer events stay on one thread: a thread is not worth
/// starting for them.
pub(super) const TWO_THREADS_FROM: usize = 2 * CHUNK;

/// An event stitched, on its way through the analyzers and back.
struct InFlight {
    event: NormEvent,
    context: AgentContext,
    /// The event-time clock the analyzers see with it.
    clock: i64,
    found: Vec<Finding>,
    /// Instances the stitcher retired, taken at this event because its
    /// row fills a batch (where one thread takes them, see [`flush_with`]).
    ///
    /// [`flush_with`]: EventPipeline::flush_with
    retired: Option<Vec<delegraph_graph::Instance>>,
}

/// What every analyzer finds in one attributed event, in registry order.
fn analyze(
    analyzers: &mut [Box<dyn Analyzer>],
    event: &NormEvent,
    context: AgentContext,
    clock: i64,
) -> Vec<Finding> {
    let attributed = AttributedEvent { event, context };
    let mut found = Vec::new();
    let mut signals = EventSignals::default();
    for a in analyzers {
        a.expire(clock, &mut found);
        a.observe(&attributed, &mut signals, clock, &mut found);
    }
    found
}

impl EventPipeline {
    /// Stitch an event the reorder buffer released (unless it repeats one
    /// released before), run every analyzer on it and buffer it for the
    /// store.
    pub(super) fn release(&mut self, mut event: NormEvent) -> Result<(), PipelineError> {
        let Some(context) = self.stitch(&mut event) else {
            return Ok(());
        };
        let found = analyze(&mut self.analyzers, &event, context, self.clock);
        self.keep(event, found, None)
    }

    /// [`release`](Self::release) each of `events`, in order, on two
    /// threads when they are many (see the module doc).
    pub(super) fn release_many(
        &mut self,
        mut events: impl ExactSizeIterator<Item = NormEvent>,
    ) -> Result<(), PipelineError> {
        if events.len() < self.two_threads_from {
            return events.try_for_each(|e| self.release(e));
        }
        let analyzers = Mutex::new(std::mem::take(&mut self.analyzers));
        let (to_analysis, stitched) = sync_channel::<Vec<InFlight>>(CHUNKS_AHEAD);
        let (to_store, analysed) = channel::<Vec<InFlight>>();
        let outcome = std::thread::scope(|scope| {
            let held = &analyzers;
            let worker = std::thread::Builder::new()
                .name("delegraph-analyze".into())
                .spawn_scoped(scope, move || analyse_chunks(held, stitched, to_store));
            let Ok(worker) = worker else {
                // No thread to be had: the same work on this one, the
                // analyzers lent back for it.
                let mut lent = held.lock().unwrap_or_else(PoisonError::into_inner);
                std::mem::swap(&mut self.analyzers, &mut lent);
                let outcome = events.try_for_each(|e| self.release(e));
                std::mem::swap(&mut self.analyzers, &mut lent);
                return outcome;
            };
            let mut outcome = self.stitch_and_keep(events, &to_analysis, &analysed);
            drop(to_analysis);
            // The worker ends once everything sent is analysed; what comes
            // back is kept only while all went well.
            for chunk in &analysed {
                if outcome.is_ok() {
                    outcome = self.keep_all(chunk);
                }
            }
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
            outcome
        });
        self.analyzers = analyzers
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        outcome
    }

    /// This thread's half of a release on two threads: stitch, send in
    /// chunks, and keep what comes back analysed meanwhile. Stops at the
    /// first error (or when the analysis thread is gone: it panicked, and
    /// joining it raises the panic here).
    fn stitch_and_keep(
        &mut self,
        events: impl Iterator<Item = NormEvent>,
        to_analysis: &SyncSender<Vec<InFlight>>,
        analysed: &Receiver<Vec<InFlight>>,
    ) -> Result<(), PipelineError> {
        // Rows buffered once every event stitched so far is kept: where
        // one thread would flush, and take the retired instances.
        let mut rows = self.buffer.len();
        let mut chunk = Vec::with_capacity(CHUNK);
        for mut event in events {
            let Some(context) = self.stitch(&mut event) else {
                continue;
            };
            rows += 1;
            let retired = (rows >= self.batch_rows).then(|| {
                rows = 0;
                self.stitcher.drain_retired()
            });
            chunk.push(InFlight {
                event,
                context,
                clock: self.clock,
                found: Vec::new(),
                retired,
            });
            if chunk.len() == CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                if to_analysis.send(full).is_err() {
                    return Ok(());
                }
                while let Ok(done) = analysed.try_recv() {
                    self.keep_all(done)?;
                }
            }
        }
        if !chunk.is_empty() {
            // A failed send means the worker panicked: raised at its join.
            let _ = to_analysis.send(chunk);
        }
        Ok(())
    }

    /// Drop a repeat (`None`), else attribute the event and move the
    /// clock: what the analyzers then see with it.
    fn stitch(&mut self, event: &mut NormEvent) -> Option<AgentContext> {
        // Repeats are dropped as they leave the reorder buffer, where
        // copies of one record leave in input order: the copy kept is the
        // first in the input, however the input was fed.
        if self.seen.repeat(event.source.as_str(), &event.event_id) {
            self.stats.duplicates += 1;
            return None;
        }
        *self.stats.events_by_source.entry(event.source).or_default() += 1;
        // The stitcher hands back the agent context rules read, so nothing
        // reads back into its tables.
        let context = self.stitcher.attribute(event);
        self.clock = self.clock.max(event.event_time.nanos());
        Some(context)
    }

    fn keep_all(&mut self, chunk: Vec<InFlight>) -> Result<(), PipelineError> {
        chunk
            .into_iter()
            .try_for_each(|f| self.keep(f.event, f.found, f.retired))
    }

    /// Buffer an analysed event and its findings; a full buffer is written
    /// with the instances retired by then (`retired`, or the stitcher's).
    fn keep(
        &mut self,
        event: NormEvent,
        mut found: Vec<Finding>,
        retired: Option<Vec<delegraph_graph::Instance>>,
    ) -> Result<(), PipelineError> {
        for f in &found {
            self.stats.note_finding(f);
        }
        self.findings.append(&mut found);
        self.buffer.push(event);
        if self.buffer.len() >= self.batch_rows {
            self.flush_with(retired)?;
        }
        Ok(())
    }
}

/// The analysis thread: every chunk through the analyzers, back in order.
fn analyse_chunks(
    analyzers: &Mutex<Vec<Box<dyn Analyzer>>>,
    stitched: Receiver<Vec<InFlight>>,
    to_store: std::sync::mpsc::Sender<Vec<InFlight>>,
) {
    let mut analyzers = analyzers.lock().unwrap_or_else(PoisonError::into_inner);
    for mut chunk in stitched {
        for f in &mut chunk {
            f.found = analyze(&mut analyzers, &f.event, f.context, f.clock);
        }
        if to_store.send(chunk).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use delegraph_decode::{DocumentDecoder, OriginBase};
    use delegraph_graph::StitchConfig;

    use super::*;
    use crate::checkpoint::checkpoint_path;
    use crate::pipeline::PipelineOptions;

    /// Every file of a small simulated fleet (every source, misbehaving
    /// instances among them): a few thousand events.
    fn fleet_documents() -> Vec<(String, Vec<u8>)> {
        let dir = tempfile::tempdir().unwrap();
        delegraph_sim::simulate(delegraph_sim::SimConfig::default(), dir.path()).unwrap();
        let mut docs: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                !matches!(&*name, "truth.jsonl" | "scenarios.jsonl")
            })
            .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
            .collect();
        docs.sort();
        docs
    }

    /// Replay the fleet, everything held to the end and released at
    /// once, with releases of `two_threads_from` events or more on two
    /// threads. Small batches and a small instance table, so batches fill
    /// and instances retire (and some are dropped unwritten) throughout.
    fn replay(
        docs: &[(String, Vec<u8>)],
        two_threads_from: usize,
    ) -> (crate::RunStats, u64, Vec<Finding>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = PipelineOptions::new(8);
        opts.persist = true;
        opts.stitch = StitchConfig {
            lateness_ns: i64::MAX,
            max_instances: 4,
            ..StitchConfig::default()
        };
        let mut p = EventPipeline::open(dir.path(), "run", opts, None).unwrap();
        p.two_threads_from = two_threads_from;
        p.keep_outputs();
        let decoder = DocumentDecoder::default();
        for (path, bytes) in docs {
            let base = OriginBase::File { path: path.clone() };
            p.ingest(&decoder, bytes, &base, bytes.len() as u64)
                .unwrap();
        }
        assert!(
            p.held_events() > 2 * CHUNK,
            "the fleet fills several chunks"
        );
        p.release_held().unwrap();
        let dropped = p.stitcher.instances().retired_dropped();
        let (stats, findings) = p.finish_keeping().unwrap();
        let checkpoint = std::fs::read(checkpoint_path(dir.path())).unwrap();
        (stats, dropped, findings, checkpoint)
    }

    #[test]
    fn two_threads_release_what_one_does() {
        let docs = fleet_documents();
        let (one, one_dropped, one_found, one_state) = replay(&docs, usize::MAX);
        let (two, two_dropped, two_found, two_state) = replay(&docs, 1);
        assert!(one.events() > 500 && !one_found.is_empty());
        assert!(
            one_dropped > 0,
            "some retired instances are dropped unwritten"
        );
        assert_eq!(two_dropped, one_dropped);
        assert!(two_found == one_found, "the findings differ");
        assert_eq!(two.stitch, one.stitch);
        assert_eq!(two.analyzers, one.analyzers);
        assert_eq!(two.events_by_source, one.events_by_source);
        assert_eq!(
            (two.duplicates, two.findings_written, two.outputs.len()),
            (one.duplicates, one.findings_written, one.outputs.len())
        );
        assert!(two_state == one_state, "the checkpoints differ");
    }
}

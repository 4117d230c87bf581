//! The end of a run: what is still held is released (or carried over to
//! the next run), the files are published and the state is saved.

use delegraph_graph::{ReorderBuffer, Stitcher};
use delegraph_model::{Analyzer, Finding};
use delegraph_store::{CommitTag, Redo};

use super::EventPipeline;
use crate::checkpoint::Checkpoint;
use crate::dedup::SeenEvents;
use crate::{PipelineError, RunStats};

impl EventPipeline {
    /// Release every event held for ordering now (a stream gone idle: no
    /// later event will come to move the watermark past them).
    pub fn release_held(&mut self) -> Result<(), PipelineError> {
        let held = self.reorder.drain_in_order();
        self.release_many(held)
    }

    /// At the end of this run, keep the events within `ns` of event time
    /// of the newest one held, in the checkpoint, instead of releasing
    /// them: inputs delivered in instalments whose files spill into the
    /// next one's hours (a day's drop holding the first minutes of the
    /// next day) are then ordered with the next instalment, and replaying
    /// them one by one gives what replaying them together gives. A caller
    /// that releases events early (a merged replay) names the `newest`
    /// event time to come, and nothing from `newest - ns` on is released
    /// before the end. Without persistence there is no next run, and
    /// everything is released.
    pub fn carry_over(&mut self, ns: i64, newest: Option<i64>) {
        let ns = ns.max(0);
        self.carry_over = Some(ns);
        if let Some(t) = newest {
            // Events carried over from the run before may be newer still.
            self.hold_from = t.max(self.reorder.newest()).saturating_sub(ns);
        }
    }

    /// Release what the run ends with: everything, or all but what is
    /// carried over (see [`carry_over`](Self::carry_over)).
    fn release_at_end(&mut self) -> Result<(), PipelineError> {
        match self.carry_over.filter(|_| self.runs.is_some()) {
            Some(ns) => {
                // `hold_from` is never earlier than this.
                self.release_before(self.reorder.newest().saturating_sub(ns))?;
                self.stats.carried_over = self.reorder.held() as u64;
                Ok(())
            }
            None => self.release_held(),
        }
    }

    /// Write what is buffered and publish the run's files; with
    /// persistence, then save the checkpoint (tables first, so a crash in
    /// between only means the run is done again, with the same output).
    pub fn finish(self) -> Result<RunStats, PipelineError> {
        self.finish_keeping().map(|(stats, _)| stats)
    }

    /// [`finish`](Self::finish), handing over the run's findings when
    /// [`keep_outputs`](Self::keep_outputs) was asked for (else none).
    pub fn finish_keeping(mut self) -> Result<(RunStats, Vec<Finding>), PipelineError> {
        self.release_at_end()?;
        self.flush()?;
        self.refresh_stats();
        let EventPipeline {
            mut files,
            live,
            data_dir,
            name,
            analyzers,
            runs,
            reorder,
            seen,
            stitcher,
            mut stats,
            position: (epoch, offsets),
            filing,
            kept,
            ..
        } = self;
        // A replay's rows follow from its input and the state it starts
        // from, both fixed by the run: a redo writes the same rows.
        let tag = CommitTag {
            app_id: name.clone(),
            version: 0,
            redo: Redo::Skip,
        };
        stats.outputs.extend(files.publish(&tag)?);
        super::lock_live(&live).write(&stitcher, &filing, &mut stats.outputs)?;
        if let Some(mut runs) = runs {
            runs.push(name);
            let parts = (&stitcher, &reorder, Some(&seen));
            let c = snapshot(parts, &analyzers, runs, epoch, offsets)?;
            stats.outputs.push(c.store(&data_dir)?);
        }
        Ok((stats, kept.map(|(f, _)| f).unwrap_or_default()))
    }
}

/// Everything the next run needs to continue where this one stands (the
/// recent event ids left to the caller without `seen`).
pub(super) fn snapshot(
    (stitcher, reorder, seen): (&Stitcher, &ReorderBuffer, Option<&SeenEvents>),
    analyzers: &[Box<dyn Analyzer>],
    runs: Vec<String>,
    epoch: u64,
    offsets: Vec<delegraph_model::PartitionOffset>,
) -> Result<Checkpoint, PipelineError> {
    let err = |part: &str, e: String| PipelineError::State {
        path: part.into(),
        message: e,
    };
    // The stitcher's and the analyzers' states are the bulk, and
    // independent: saved on two threads.
    let (stitched, saved) = std::thread::scope(|scope| {
        let stitched = scope.spawn(|| stitcher.save().map_err(|e| e.to_string()));
        let saved = crate::analyzers::save(analyzers);
        let stitched = stitched
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (stitched, saved)
    });
    let saved = saved.map_err(|source| PipelineError::AnalyzerState {
        path: "analyzers".into(),
        source,
    })?;
    let stitched = stitched.map_err(|e| err("stitcher", e))?;
    let mut c = Checkpoint::new(runs, stitched, saved);
    c.reorder = reorder
        .save()
        .map_err(|e| err("reorder buffer", e.to_string()))?;
    c.seen = seen.map(SeenEvents::save).unwrap_or_default();
    c.epoch = epoch;
    c.offsets = offsets;
    Ok(c)
}

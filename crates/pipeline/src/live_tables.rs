//! The current-state tables (`agents_live`, `edges_live`): the instances
//! live now and their edges, replaced as a whole from the stitcher.
//!
//! A replacement costs time in proportion to the live state (every live
//! instance and every edge it has gathered), not to what the last epoch
//! changed. A stream with a large live state that wrote them at every
//! 5-second epoch would spend most of each epoch rewriting rows that did
//! not change. So a busy stream replaces them at most [`DUTY`] of the
//! time: after a replacement that took `t`, the next waits `t × (1/DUTY
//! − 1)`. Epochs skipped in between leave the tables marked stale, and
//! [`LiveTables::refresh_stale`] replaces them once the stream is idle or
//! stopping, so what they show is never behind for long. They are views of
//! the stitcher's state, not part of what an epoch commits exactly once:
//! the checkpoint holds that state, and the next replacement writes it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use delegraph_graph::Stitcher;
use delegraph_store::{
    AGENTS_LIVE, CurrentTable, DayFiling, EDGES_LIVE, FilingLimits, agents_batch, edges_batch,
};

use crate::PipelineError;

/// Largest share of a busy stream's time spent replacing the live tables.
const DUTY: f64 = 0.1;

/// The current-state tables, held open between replacements.
pub(crate) struct LiveTables {
    agents: CurrentTable,
    edges: CurrentTable,
    /// When the last replacement ended, and how long it took.
    last: Option<(Instant, Duration)>,
    /// Whether the stitcher changed since the last replacement.
    stale: bool,
}

impl LiveTables {
    /// `resumed`: the state comes from a checkpoint, which may be newer
    /// than the tables (a stop between saving it and replacing them), so
    /// they count as stale until replaced.
    pub fn new(data_dir: &Path, resumed: bool) -> Self {
        Self {
            agents: CurrentTable::new(data_dir, AGENTS_LIVE),
            edges: CurrentTable::new(data_dir, EDGES_LIVE),
            last: None,
            stale: resumed,
        }
    }

    /// After an epoch changed the stitcher: replace the tables if the
    /// duty share allows it now, else mark them stale. Tables replaced
    /// join `outputs`.
    pub fn epoch_ended(
        &mut self,
        stitcher: &Stitcher,
        limits: &FilingLimits,
        outputs: &mut Vec<PathBuf>,
    ) -> Result<(), PipelineError> {
        self.stale = true;
        let due = self.last.is_none_or(|(ended, took)| {
            ended.elapsed().as_secs_f64() >= took.as_secs_f64() * (1.0 / DUTY - 1.0)
        });
        if due {
            self.write(stitcher, limits, outputs)?;
        }
        Ok(())
    }

    /// Replace the tables if an epoch left them stale; whether it did.
    pub fn refresh_stale(
        &mut self,
        stitcher: &Stitcher,
        limits: &FilingLimits,
    ) -> Result<bool, PipelineError> {
        if !self.stale {
            return Ok(false);
        }
        self.write(stitcher, limits, &mut Vec::new())?;
        Ok(true)
    }

    /// Replace both with the stitcher's live instances; their tables join
    /// `outputs`.
    pub fn write(
        &mut self,
        stitcher: &Stitcher,
        limits: &FilingLimits,
        outputs: &mut Vec<PathBuf>,
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        let mut live: Vec<_> = stitcher.instances().live().collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        let agents: Vec<_> = live
            .iter()
            .map(|i| crate::graph_rows::agent_row(i))
            .collect();
        let edges: Vec<_> = live
            .iter()
            .flat_map(|i| crate::graph_rows::edge_rows(i))
            .collect();
        let filing = DayFiling::now_within(limits);
        self.agents.replace(agents_batch(&agents)?, &filing)?;
        self.edges.replace(edges_batch(&edges)?, &filing)?;
        outputs.push(self.agents.path());
        outputs.push(self.edges.path());
        self.last = Some((Instant::now(), started.elapsed()));
        self.stale = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use delegraph_graph::StitchConfig;

    fn version(dir: &Path) -> u64 {
        delegraph_store::table_stats(dir, AGENTS_LIVE)
            .unwrap()
            .unwrap()
            .version
    }

    #[test]
    fn a_busy_stream_defers_the_replacement_and_an_idle_one_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let stitcher = Stitcher::new(StitchConfig::default());
        let limits = FilingLimits::default();
        let mut live = LiveTables::new(dir.path(), false);
        let mut out = Vec::new();
        live.epoch_ended(&stitcher, &limits, &mut out).unwrap();
        assert_eq!(out.len(), 2, "the first epoch writes both tables");
        let first = version(dir.path());

        // The last replacement took an hour: the next epoch may not spend
        // another so soon.
        live.last = Some((Instant::now(), Duration::from_secs(3600)));
        out.clear();
        live.epoch_ended(&stitcher, &limits, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(version(dir.path()), first);

        assert!(live.refresh_stale(&stitcher, &limits).unwrap());
        assert_eq!(version(dir.path()), first + 1);
        assert!(!live.refresh_stale(&stitcher, &limits).unwrap());
        assert_eq!(version(dir.path()), first + 1);
    }
}

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

use delegraph_store::RecordBatch;

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

    /// After an epoch changed the stitcher: the tables are stale; whether
    /// the duty share allows replacing them now (with
    /// [`LiveRows::of`] the stitcher as the epoch left it, handed to
    /// [`replace`](Self::replace) once the epoch is durable).
    pub fn epoch_ended(&mut self) -> bool {
        self.stale = true;
        self.last.is_none_or(|(ended, took)| {
            ended.elapsed().as_secs_f64() >= took.as_secs_f64() * (1.0 / DUTY - 1.0)
        })
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
        self.replace(LiveRows::of(stitcher)?, limits, outputs)
    }

    /// Replace both with `rows`; their tables join `outputs`.
    pub fn replace(
        &mut self,
        rows: LiveRows,
        limits: &FilingLimits,
        outputs: &mut Vec<PathBuf>,
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        let filing = DayFiling::now_within(limits);
        self.agents.replace(rows.agents, &filing)?;
        self.edges.replace(rows.edges, &filing)?;
        outputs.push(self.agents.path());
        outputs.push(self.edges.path());
        self.last = Some((Instant::now(), rows.built + started.elapsed()));
        self.stale = false;
        Ok(())
    }
}

/// The rows of both tables as of one moment of the stitcher.
pub(crate) struct LiveRows {
    agents: RecordBatch,
    edges: RecordBatch,
    /// How long building them took (part of a replacement's cost).
    pub built: Duration,
}

impl LiveRows {
    /// The stitcher's live instances and their edges, by instance id.
    pub fn of(stitcher: &Stitcher) -> Result<Self, PipelineError> {
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
        Ok(Self {
            agents: agents_batch(&agents)?,
            edges: edges_batch(&edges)?,
            built: started.elapsed(),
        })
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
        assert!(live.epoch_ended(), "the first epoch replaces both tables");
        let mut out = Vec::new();
        let rows = LiveRows::of(&stitcher).unwrap();
        live.replace(rows, &limits, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let first = version(dir.path());

        // The last replacement took an hour: the next epoch may not spend
        // another so soon.
        live.last = Some((Instant::now(), Duration::from_secs(3600)));
        assert!(!live.epoch_ended());
        assert_eq!(version(dir.path()), first);

        assert!(live.refresh_stale(&stitcher, &limits).unwrap());
        assert_eq!(version(dir.path()), first + 1);
        assert!(!live.refresh_stale(&stitcher, &limits).unwrap());
        assert_eq!(version(dir.path()), first + 1);
    }
}

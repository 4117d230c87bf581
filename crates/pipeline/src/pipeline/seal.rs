//! The end of a stream's epoch, in two halves. [`EventPipeline::seal`]
//! does what needs the pipeline, on the thread that runs it: the epoch's
//! rows written and its files finished, the state serialised, and, if
//! their duty share allows, the live tables' rows ([`LiveRowsWanted`],
//! taken once the second half has started, so as not to delay it).
//! [`Sealed::make_durable`]
//! does the rest on any thread, while the pipeline takes the next epoch's
//! events: the table commits, the caller's delivery downstream, the
//! checkpoint, then the compaction of crowded days and the live tables.
//! The second half is what an epoch's end used to stop the stream for
//! (commits and checkpoint: tens of milliseconds, more with a busy store;
//! the checkpoint is written while the tables commit).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use delegraph_model::{DeadLetter, Finding};
use delegraph_store::{CommitTag, FilingLimits, Redo};

use super::{EventPipeline, STREAM_APP_ID, finish};
use crate::PipelineError;
use crate::checkpoint::Checkpoint;
use crate::dedup::SeenLog;
use crate::live_tables::{LiveRows, LiveTables};
use crate::run_files::{ClosedRun, CrowdedDays};

/// An epoch sealed: its files are finished and its state serialised. What
/// is left is [`Sealed::make_durable`]; the epoch is durable once it
/// returns.
pub struct Sealed {
    /// Findings the epoch wrote.
    pub findings: Vec<Finding>,
    /// Records the epoch dead-lettered.
    pub dead_letters: Vec<DeadLetter>,
    /// State including the epoch.
    pub checkpoint: Checkpoint,
    /// Files published (once durable).
    pub outputs: Vec<std::path::PathBuf>,
    /// Where the seal's time went.
    pub timings: SealTimings,
    /// When the checkpoint was stored (once durable).
    pub durable_at: Option<Instant>,
    data_dir: std::path::PathBuf,
    tag: CommitTag,
    /// Finished and not committed; taken by the commit.
    files: Option<ClosedRun>,
    /// Due for compaction once the checkpoint is saved.
    crowded: Option<CrowdedDays>,
    /// The live tables' rows as the epoch left them, to come when their
    /// duty share allows replacing them.
    live: Option<LiveReplacement>,
    /// The recent event ids, when the checkpoint's are brought up to date
    /// from the lookups since the last instead of taken from the LRU.
    seen: Option<SeenUpdate>,
}

struct SeenUpdate {
    log: Arc<Mutex<SeenLog>>,
    touched: Vec<u64>,
}

struct LiveReplacement {
    tables: Arc<Mutex<LiveTables>>,
    /// Nothing comes if the [`LiveRowsWanted`] is dropped unsent.
    rows: Receiver<LiveRows>,
    filing: FilingLimits,
}

/// The live tables' rows an epoch's seal wants, to be taken from the
/// pipeline before it takes another event: [`send`](Self::send) them.
pub struct LiveRowsWanted(SyncSender<LiveRows>);

impl LiveRowsWanted {
    /// Take the rows from `pipeline` as the sealed epoch left it.
    pub fn send(self, pipeline: &EventPipeline) -> Result<(), PipelineError> {
        let rows = LiveRows::of(&pipeline.stitcher)?;
        // The epoch failed to become durable: nobody wants them.
        let _ = self.0.send(rows);
        Ok(())
    }
}

/// Where an epoch's seal spent its time: what grows with the tables
/// (`commits`) and what grows with the live state (`live`, `state`), on
/// the pipeline's thread (`held`: it took no event meanwhile) or after.
#[derive(Debug, Clone, Copy, Default)]
pub struct SealTimings {
    /// The caller's: taking in what the decoding threads still held when
    /// the epoch ended, before anything is sealed.
    pub drain: Duration,
    /// Writing the epoch's last rows and finishing its files.
    pub close: Duration,
    /// Serialising the state into the checkpoint.
    pub state: Duration,
    /// Building the live tables' rows and replacing the tables (zero
    /// when their duty share skipped it).
    pub live: Duration,
    /// The caller's: how long the pipeline took no event for the seal
    /// (drain, close, state, and the live tables' rows when wanted).
    pub held: Duration,
    /// Committing the epoch's files to every table, and writing the
    /// checkpoint beside its place meanwhile (the longer of the two) ...
    pub commits: Duration,
    /// ... publishing findings and dead letters to their topics until
    /// delivered ...
    pub publish: Duration,
    /// ... putting the checkpoint in its place (a rename) ...
    pub checkpoint: Duration,
    /// ... and, once it is saved, compacting the days the epoch's files
    /// crowd.
    pub compaction: Duration,
}

/// The live tables, from any thread (a panic while holding them ends the
/// service anyway).
pub(super) fn lock_live(live: &Mutex<LiveTables>) -> MutexGuard<'_, LiveTables> {
    live.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventPipeline {
    /// Keep the checkpoints' recent event ids from the lookups made from
    /// now on (a stream, before it takes its first message), so that no
    /// seal walks the LRU of recent ids, the first one included. A
    /// pipeline that does not seals its first epoch with a walk.
    pub fn follow_seen_ids(&mut self) {
        if self.seen_log.is_none() {
            self.follow_seen_ids_from(self.seen.save());
        }
    }

    /// Follow the lookups from `ids`: the recent ids as they are now.
    fn follow_seen_ids_from(&mut self, ids: Vec<u64>) {
        self.seen.track();
        let log = SeenLog::new(ids, self.seen.cap());
        self.seen_log = Some(Arc::new(Mutex::new(log)));
    }

    /// End the epoch numbered `epoch`: finish its files and continue into
    /// files named `next_name`. Events still held for ordering stay held
    /// (they go into the checkpoint, with `epoch` and the source `offsets`
    /// the epoch covers). Nothing is committed or stored here: see
    /// [`Sealed::make_durable`], which must return before the next epoch
    /// is sealed. The live tables' rows, if wanted, are sent before the
    /// pipeline takes another event.
    pub fn seal(
        &mut self,
        next_name: &str,
        epoch: u64,
        offsets: Vec<delegraph_model::PartitionOffset>,
    ) -> Result<(Sealed, Option<LiveRowsWanted>), PipelineError> {
        let started = Instant::now();
        self.flush()?;
        self.take_verdicts();
        self.refresh_stats();
        let files = self.files.close()?;
        self.files.restart(&self.filing)?;
        let crowded = self.files.crowded_days_due();
        let serialising = Instant::now();
        self.name = next_name.to_owned();
        self.position = (epoch, offsets.clone());
        let seen = self.seen_log.as_ref().map(|log| SeenUpdate {
            log: log.clone(),
            touched: self.seen.take_touched(),
        });
        let walk = seen.is_none().then_some(&self.seen);
        let checkpoint = finish::snapshot(
            (&self.stitcher, &self.reorder, walk),
            &self.analyzers,
            self.runs.clone().unwrap_or_default(),
            epoch,
            offsets,
        )?;
        if self.seen_log.is_none() {
            // The first epoch's ids as walked; later ones follow the
            // lookups.
            self.follow_seen_ids_from(checkpoint.seen.clone());
        }
        let serialised = Instant::now();
        let (live, wanted) = match lock_live(&self.live).epoch_ended() {
            true => {
                let (send, rows) = sync_channel(1);
                let live = LiveReplacement {
                    tables: self.live.clone(),
                    rows,
                    filing: self.filing,
                };
                (Some(live), Some(LiveRowsWanted(send)))
            }
            false => (None, None),
        };
        let timings = SealTimings {
            close: serialising.duration_since(started),
            state: serialised.duration_since(serialising),
            ..SealTimings::default()
        };
        let (findings, dead_letters) = self.kept.as_mut().map(std::mem::take).unwrap_or_default();
        let sealed = Sealed {
            findings,
            dead_letters,
            checkpoint,
            outputs: Vec::new(),
            timings,
            durable_at: None,
            data_dir: self.data_dir.clone(),
            tag: CommitTag {
                app_id: STREAM_APP_ID.to_owned(),
                version: i64::try_from(epoch).unwrap_or(i64::MAX),
                redo: Redo::Replace,
            },
            files: Some(files),
            crowded,
            live,
            seen,
        };
        Ok((sealed, wanted))
    }
}

impl Sealed {
    /// Make the epoch durable, in this order: commit its files to every
    /// table; `deliver` (its findings and dead letters downstream, until
    /// delivered); put the checkpoint in its place (written beside it while
    /// the tables commit: a failure before leaves the last one in force).
    /// Then, as the checkpoint now follows the commits, compact the days
    /// their files crowd (not before: a redo of an epoch whose state was
    /// lost replaces the files it committed, which a compaction would have
    /// merged away) and replace the live tables (views of the state, not
    /// part of what an epoch makes durable: a failure there is logged and
    /// they stay stale until replaced). Epochs are made durable in the
    /// order sealed. When the seal wanted the live tables' rows, they must
    /// have been sent (or the [`LiveRowsWanted`] dropped) from another
    /// thread or before: this waits for them.
    pub fn make_durable(
        mut self,
        deliver: impl FnOnce(&Self) -> Result<(), PipelineError>,
    ) -> Result<Self, PipelineError> {
        let committing = Instant::now();
        let files = self.files.take();
        let seen = self.seen.take();
        let (checkpoint, data_dir, tag) = (&mut self.checkpoint, &self.data_dir, &self.tag);
        // The checkpoint is written beside its place while the tables
        // commit (both mostly wait for the disk), and put in its place
        // only once they have and the delivery is done.
        let (committed, aside) = std::thread::scope(|scope| {
            let aside = scope.spawn(move || write_checkpoint_aside(checkpoint, seen, data_dir));
            let committed = files.map(|f| f.commit(tag)).transpose();
            let aside = aside
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (committed, aside)
        });
        self.outputs = committed?.unwrap_or_default();
        let aside = aside?;
        let publishing = Instant::now();
        self.timings.commits = publishing.duration_since(committing);
        deliver(&self)?;
        let saving = Instant::now();
        self.timings.publish = saving.duration_since(publishing);
        aside.put_in_place()?;
        let compacting = Instant::now();
        self.durable_at = Some(compacting);
        self.timings.checkpoint = compacting.duration_since(saving);
        if let Some(crowded) = self.crowded.take() {
            crowded.compact();
        }
        self.timings.compaction = compacting.elapsed();
        if let Some(l) = self.live.take()
            && let Ok(rows) = l.rows.recv()
        {
            self.timings.held += rows.built;
            self.timings.live = rows.built;
            let replacing = Instant::now();
            let mut outputs = Vec::new();
            if let Err(e) = lock_live(&l.tables).replace(rows, &l.filing, &mut outputs) {
                tracing::warn!(error = %e, "live tables not replaced; retried later");
            }
            self.timings.live += replacing.elapsed();
        }
        Ok(self)
    }
}

/// Write the checkpoint beside its place, with the recent event ids
/// brought up to date here if the seal left them out.
fn write_checkpoint_aside(
    checkpoint: &mut Checkpoint,
    seen: Option<SeenUpdate>,
    data_dir: &std::path::Path,
) -> Result<delegraph_store::WrittenAside, PipelineError> {
    let Some(seen) = seen else {
        return checkpoint.write_aside(data_dir);
    };
    // A panic while holding it ends the service anyway.
    let mut log = seen.log.lock().unwrap_or_else(|p| p.into_inner());
    log.advance(&seen.touched);
    checkpoint.seen = std::mem::take(&mut log.ids);
    let written = checkpoint.write_aside(data_dir);
    log.ids = std::mem::take(&mut checkpoint.seen);
    written
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use delegraph_decode::{DocumentDecoder, OriginBase};

    use super::*;
    use crate::checkpoint::STATE_DIR;

    /// Take in every record of a published MCP gateway sample, and
    /// release them from the reorder buffer (where their ids are looked
    /// up).
    fn take_in_sample(p: &mut EventPipeline, times: u64) {
        let decoder = DocumentDecoder::default();
        let text = std::fs::read(crate::fixture("mcp/gateway.jsonl")).unwrap();
        let base = OriginBase::File {
            path: "gateway.jsonl".into(),
        };
        for _ in 0..times {
            p.ingest(&decoder, &text, &base, text.len() as u64).unwrap();
        }
        p.release_held().unwrap();
    }

    /// Seal an epoch for each of `takes` from `first` on, each taking in
    /// the sample that many times; each checkpoint's recent event ids must
    /// be what a walk of the LRU gives, repeats and all. Returns whether
    /// each seal followed the lookups.
    fn seal_epochs_checking_the_recent_ids(
        p: &mut EventPipeline,
        dir: &std::path::Path,
        first: u64,
        takes: &[u64],
    ) -> Vec<bool> {
        let mut followed = Vec::new();
        for (epoch, times) in (first..).zip(takes) {
            take_in_sample(p, *times);
            let (sealed, _) = p
                .seal(&format!("kafka-{}", epoch + 1), epoch, Vec::new())
                .unwrap();
            followed.push(sealed.seen.is_some());
            sealed.make_durable(|_| Ok(())).unwrap();
            let saved = Checkpoint::load(dir).unwrap().unwrap();
            assert!(!saved.seen.is_empty());
            assert_eq!(saved.seen, p.seen.save(), "epoch {epoch}");
        }
        followed
    }

    /// After the first epoch the checkpoint's recent event ids follow the
    /// lookups instead of a walk of the LRU.
    #[test]
    fn each_epoch_saves_the_recent_ids_a_walk_of_the_lru_would() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = EventPipeline::new(dir.path(), "kafka-1", 64).unwrap();
        // The second epoch sees every record again.
        let followed = seal_epochs_checking_the_recent_ids(&mut p, dir.path(), 1, &[1, 2, 1]);
        assert_eq!(followed, [false, true, true]);
    }

    /// A stream follows the lookups from its start, the first seal
    /// included, whether it starts empty or from a checkpoint's ids.
    #[test]
    fn a_pipeline_following_the_lookups_from_its_start_never_walks() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = EventPipeline::new(dir.path(), "kafka-1", 64).unwrap();
        p.follow_seen_ids();
        let followed = seal_epochs_checking_the_recent_ids(&mut p, dir.path(), 1, &[1, 2]);
        assert_eq!(followed, [true, true]);
        drop(p);
        let mut opts = crate::PipelineOptions::new(64);
        opts.persist = true;
        let saved = Checkpoint::load(dir.path()).unwrap();
        let mut resumed = EventPipeline::open(dir.path(), "kafka-3", opts, saved).unwrap();
        assert!(
            !resumed.seen.save().is_empty(),
            "restored from the checkpoint"
        );
        resumed.follow_seen_ids();
        // Its first epoch looks nothing up: its ids are the restored ones.
        let followed = seal_epochs_checking_the_recent_ids(&mut resumed, dir.path(), 3, &[0, 1]);
        assert_eq!(followed, [true, true]);
    }

    /// Make `sealed` durable with a delivery that fails: the epoch fails.
    fn fail_delivery(sealed: Sealed) {
        let failed = sealed.make_durable(|_| {
            Err(PipelineError::State {
                path: "topic".into(),
                message: "not delivered".into(),
            })
        });
        assert!(failed.is_err());
    }

    /// The checkpoint follows the tables and the topics: an epoch whose
    /// delivery fails stores no checkpoint (the restart redoes it, and
    /// replaces the files it committed), and the next epoch to succeed
    /// stores one covering both.
    #[test]
    fn a_failed_delivery_stores_no_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = EventPipeline::new(dir.path(), "kafka-1", 64).unwrap();
        take_in_sample(&mut p, 1);
        let (sealed, _) = p.seal("kafka-2", 1, Vec::new()).unwrap();
        fail_delivery(sealed);
        assert!(Checkpoint::load(dir.path()).unwrap().is_none());
        // Nor anything beside its place: the one written aside is removed.
        let state = dir.path().join(STATE_DIR);
        assert_eq!(std::fs::read_dir(state).unwrap().count(), 0);
        let (sealed, _) = p.seal("kafka-3", 2, Vec::new()).unwrap();
        let durable = sealed.make_durable(|_| Ok(())).unwrap();
        assert!(durable.durable_at.is_some());
        assert_eq!(Checkpoint::load(dir.path()).unwrap().unwrap().epoch, 2);
    }

    /// The ids looked up in an epoch that failed to become durable still
    /// count: the next checkpoint's recent ids are what the LRU holds, not
    /// what it held before the failed epoch.
    #[test]
    fn the_lookups_of_a_failed_epoch_reach_the_next_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = EventPipeline::new(dir.path(), "kafka-1", 64).unwrap();
        let (sealed, _) = p.seal("kafka-2", 1, Vec::new()).unwrap();
        sealed.make_durable(|_| Ok(())).unwrap();
        take_in_sample(&mut p, 1);
        let (sealed, _) = p.seal("kafka-3", 2, Vec::new()).unwrap();
        fail_delivery(sealed);
        let (sealed, _) = p.seal("kafka-4", 3, Vec::new()).unwrap();
        sealed.make_durable(|_| Ok(())).unwrap();
        let saved = Checkpoint::load(dir.path()).unwrap().unwrap();
        assert_eq!(saved.epoch, 3);
        assert!(!saved.seen.is_empty());
        assert_eq!(saved.seen, p.seen.save());
    }
}

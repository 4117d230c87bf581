//! `delegraph serve`'s ingest loop: Kafka topics through the same pipeline
//! as replay, in epochs.
//!
//! An epoch ends every `epoch_interval` (or `epoch_max_messages`). Ending
//! one does, in this order: finish the epoch's table files and serialise
//! the state (on the loop, which takes no message meanwhile); then, on a
//! thread of its own while the loop takes the next epoch's messages
//! ([`sealing`]): commit the files to their tables, publish its findings
//! (OCSF) and dead letters to their topics (findings may have gone out as
//! found: see [`publish`]) and wait for delivery, put the checkpoint
//! (graphs, baselines, held events, the next offset per partition),
//! written beside its place while the files commit, in its place; once
//! a later turn sees it durable, commit those offsets to the group
//! ([`epochs`]). The next epoch is sealed only after the one before is
//! durable. The live tables, views of the state rather than part of what
//! an epoch makes durable, are replaced after the checkpoint is in place,
//! with the rows the epoch left. Messages are decoded on threads of their
//! own (`decode_lane`) and all taken back into the pipeline before an
//! epoch ends. A crash anywhere in between redoes the epoch from the
//! previous checkpoint under the same epoch name, replacing its files, so
//! the store holds every event and finding once; the topics may see an
//! epoch's findings twice, under the same deterministic `finding_id` key,
//! and may keep one the redo does not make again (see [`publish`]).
//! Messages below the checkpoint's offsets (redelivered because the
//! commit did not happen) are skipped.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use delegraph_decode::DocumentDecoder;
use delegraph_ingest::kafka::{KafkaSettings, KafkaSource, RebalanceHandler, SourceMessage};
use delegraph_model::{PartitionOffset, Source};
use delegraph_rules::RuleWatcher;

use crate::checkpoint::Checkpoint;
use crate::decode_lane::{Consumed, DecodeLane, DecodedMessage};
use crate::pipeline::EventPipeline;
use crate::settings::AnalysisSettings;
use crate::stream_metrics::StreamMetrics;
use crate::{PipelineError, RunStats};

mod epochs;
mod positions;
mod publish;
mod sealing;
#[cfg(test)]
mod tests;

use epochs::Turn;
use positions::Positions;
pub use publish::FindingsRelease;
use publish::Publisher;
use sealing::Sealing;

/// A topic to consume and how to decode it.
#[derive(Debug, Clone)]
pub struct TopicSource {
    /// Topic name.
    pub topic: String,
    /// Decode every message as this format (`None`: detect per record).
    pub format: Option<Source>,
}

/// Settings of the streaming service.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Where tables and state are written.
    pub data_dir: PathBuf,
    /// Brokers, group and librdkafka properties.
    pub kafka: KafkaSettings,
    /// Topics to consume.
    pub topics: Vec<TopicSource>,
    /// Where findings go as OCSF Detection Findings (none: not published).
    pub findings_topic: Option<String>,
    /// Where rejected records go (none: the `dead_letters` table only).
    pub dead_letter_topic: Option<String>,
    /// When findings are sent to `findings_topic`.
    pub findings_release: FindingsRelease,
    /// Longest time between epochs.
    pub epoch_interval: Duration,
    /// Most messages in one epoch (give or take the few batches still
    /// being decoded when it is reached, which the epoch takes in too).
    pub epoch_max_messages: u64,
    /// How long a message may wait for delivery downstream before the
    /// service stops (a restart then redoes the epoch: nothing is lost).
    pub publish_timeout: Duration,
    /// After this long without a message, events held for ordering are
    /// released (nothing later will move the watermark past them).
    pub idle_release: Duration,
    /// Sigma rules directory to watch. When set, its rules as loaded when
    /// the stream starts are the ones in force (in place of
    /// `analysis.rules`), and changes are picked up between epochs.
    pub rules_dir: Option<PathBuf>,
    /// Threads decoding messages beside the one consuming them and running
    /// the pipeline (0: one per core but one, at least one).
    pub decode_threads: usize,
    /// What is done with the records (shared with replay).
    pub analysis: AnalysisSettings,
}

/// A stream's sources arrive together, so a short bound keeps results
/// timely and the events held for ordering few.
const LATENESS_NS: i64 = 5 * 60 * 1_000_000_000;

impl StreamConfig {
    /// Defaults for `data_dir` and `kafka`, no topics.
    pub fn new(data_dir: impl Into<PathBuf>, kafka: KafkaSettings) -> Self {
        Self {
            data_dir: data_dir.into(),
            kafka,
            topics: Vec::new(),
            findings_topic: None,
            dead_letter_topic: None,
            findings_release: FindingsRelease::AtSeal,
            epoch_interval: Duration::from_secs(5),
            epoch_max_messages: 100_000,
            publish_timeout: Duration::from_secs(300),
            idle_release: Duration::from_secs(30),
            rules_dir: None,
            decode_threads: 0,
            analysis: AnalysisSettings::new(LATENESS_NS),
        }
    }
}

/// File name of an epoch's outputs.
fn epoch_name(epoch: u64) -> String {
    format!("kafka-{epoch:012}")
}

/// The loop's state, shared with the rebalance callback.
struct StreamState {
    cfg: Arc<StreamConfig>,
    pipeline: EventPipeline,
    publisher: Option<Publisher>,
    decoders: HashMap<String, Arc<DocumentDecoder>>,
    /// Messages being decoded, taken back in the order consumed.
    lane: DecodeLane,
    /// Last sealed epoch.
    epoch: u64,
    /// Next offset per partition, including the open epoch.
    offsets: Positions,
    /// Next offset per partition as of the last epoch seen durable (its
    /// checkpoint stored).
    durable: Positions,
    /// Messages the pipeline took in the open epoch (and idle releases).
    pending: u64,
    /// The last epoch sealed, while it is being made durable.
    sealing: Option<Sealing>,
    opened: Instant,
    last_message: Instant,
    /// The partitions assigned to us: only offsets of these are committed
    /// (a revoked partition's position stays, to skip what the store holds
    /// if it comes back, but its new owner commits it), and only while some
    /// are assigned can silence mean a quiet stream.
    owned: BTreeSet<(String, i32)>,
    /// A step failed: nothing more is sealed or committed (not even by the
    /// revocation that leaving the group calls), so the restart redoes
    /// from the last checkpoint.
    broken: bool,
    metrics: Arc<StreamMetrics>,
    /// An error met inside a rebalance callback, for the loop to raise.
    failed: Option<PipelineError>,
}

impl StreamState {
    /// A stream's state as of `epoch` (sealed) at the `durable` offsets,
    /// with its decoding threads started.
    fn new(
        cfg: Arc<StreamConfig>,
        pipeline: EventPipeline,
        publisher: Option<Publisher>,
        epoch: u64,
        durable: Positions,
        metrics: Arc<StreamMetrics>,
    ) -> Result<Self, PipelineError> {
        let decoders = cfg
            .topics
            .iter()
            .map(|t| (t.topic.clone(), Arc::new(cfg.analysis.decoder(t.format))))
            .collect();
        let lane = DecodeLane::start(decode_threads(cfg.decode_threads))?;
        Ok(Self {
            cfg,
            pipeline,
            publisher,
            decoders,
            lane,
            epoch,
            offsets: durable.clone(),
            durable,
            pending: 0,
            sealing: None,
            opened: Instant::now(),
            last_message: Instant::now(),
            owned: BTreeSet::new(),
            broken: false,
            metrics,
            failed: None,
        })
    }

    /// Hand a consumed message over to be decoded (unless the store
    /// already holds it), then take in what is decoded.
    fn accept(&mut self, m: &SourceMessage<'_>) -> Result<(), PipelineError> {
        self.accept_message(m.topic(), m.partition(), m.offset(), m.payload())
    }

    fn accept_message(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
    ) -> Result<(), PipelineError> {
        if self
            .durable
            .next(topic, partition)
            .is_some_and(|next| offset < next)
        {
            // Already in the store: the commit after the last checkpoint
            // did not happen before a crash or rebalance.
            self.metrics.note_redelivered();
            return Ok(());
        }
        let decoder = self
            .decoders
            .entry(topic.to_owned())
            .or_insert_with(|| Arc::new(self.cfg.analysis.decoder(None)))
            .clone();
        self.lane.push(Consumed {
            topic: topic.to_owned(),
            partition,
            offset,
            payload: payload.to_vec(),
            decoder,
        })?;
        self.metrics.note_message();
        self.last_message = Instant::now();
        self.take_decoded()
    }

    /// Route what the decoding threads finished, in the order consumed;
    /// first wait while more than [`MAX_BATCHES_OUT`] batches or
    /// [`MAX_BYTES_OUT`] bytes are out.
    fn take_decoded(&mut self) -> Result<(), PipelineError> {
        loop {
            let (batches, bytes) = self.lane.sent_not_taken();
            let wait = batches > MAX_BATCHES_OUT || bytes > MAX_BYTES_OUT;
            let Some(batch) = self.lane.next(wait)? else {
                return Ok(());
            };
            for m in batch {
                self.route(m)?;
            }
        }
    }

    /// Route every message handed over, the batch being filled included.
    fn take_all_decoded(&mut self) -> Result<(), PipelineError> {
        self.lane.send()?;
        while let Some(batch) = self.lane.next(true)? {
            for m in batch {
                self.route(m)?;
            }
        }
        Ok(())
    }

    fn route(&mut self, m: DecodedMessage) -> Result<(), PipelineError> {
        self.pipeline.count_document(m.raw_len);
        self.pipeline.ingest_decoded(m.decoded)?;
        self.offsets.set(&m.topic, m.partition, m.offset + 1);
        self.pending += 1;
        Ok(())
    }

    /// One turn of the loop with what `poll` returned. A batch being
    /// filled is sent as soon as nothing more is fetched.
    fn step(&mut self, message: Option<&SourceMessage<'_>>) -> Result<Turn, PipelineError> {
        match message {
            Some(m) => self.accept(m)?,
            None if self.lane.filling() => self.lane.send()?,
            None => {
                self.take_decoded()?;
                self.release_if_idle()?;
            }
        }
        // Before a seal too: what this turn found need not wait for the
        // epoch's commits.
        self.publish_found()?;
        let mut turn = Turn {
            ended: false,
            commit: self.collect_durable(false)?,
        };
        if self.due() {
            turn.commit = self.collect_durable(true)?.or(turn.commit);
            turn.ended = self.start_seal()?;
        }
        Ok(turn)
    }

    /// As found: queue the open epoch's findings not sent yet.
    fn publish_found(&mut self) -> Result<(), PipelineError> {
        match self.publisher.as_mut() {
            Some(p) => p.found(&self.pipeline),
            None => Ok(()),
        }
    }

    /// The stream went quiet: process what is held for ordering, and bring
    /// the live tables up to date if busy epochs left them behind.
    fn release_if_idle(&mut self) -> Result<(), PipelineError> {
        let idle = self.last_message.elapsed() >= self.cfg.idle_release;
        if idle {
            self.take_all_decoded()?;
        }
        if idle && self.pending == 0 && self.sealing.is_none() {
            self.pipeline.refresh_live()?;
        }
        if idle && !self.owned.is_empty() && self.pipeline.held_events() > 0 {
            self.pipeline.release_held()?;
            // The released events changed state: the next epoch saves it.
            self.pending += 1;
        }
        Ok(())
    }
}

/// The shared state, and the rebalance handler the consumer calls.
struct Shared(Mutex<StreamState>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        // A panic while holding the lock ends the service anyway.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RebalanceHandler for Shared {
    fn revoking(&self, partitions: &[(String, i32)]) -> Vec<PartitionOffset> {
        let mut st = self.lock();
        tracing::info!(?partitions, "partitions revoked; ending the epoch first");
        let offsets = match st.seal() {
            Ok(offsets) => offsets,
            Err(e) => {
                st.failed.get_or_insert(e);
                Vec::new()
            }
        };
        for p in partitions {
            st.owned.remove(p);
        }
        offsets
    }

    fn assigned(&self, partitions: &[(String, i32)]) {
        tracing::info!(?partitions, "partitions assigned");
        let mut st = self.lock();
        st.owned.extend(partitions.iter().cloned());
        // Silence is measured from now: the new partitions' messages have
        // not had a chance to arrive.
        st.last_message = Instant::now();
    }
}

/// Consume until `stop` is set, then end the open epoch, commit and leave
/// the group. Returns the totals.
pub fn run_stream(
    mut cfg: StreamConfig,
    stop: Arc<AtomicBool>,
    metrics: Arc<StreamMetrics>,
) -> Result<RunStats, PipelineError> {
    let started = Instant::now();
    // Held until the stream ends: nothing else may write its directory.
    let _writer = delegraph_store::WriterLock::acquire(&cfg.data_dir, "a stream (serve)")?;
    crate::pipeline::remove_all_partials(&cfg.data_dir)?;
    let checkpoint = Checkpoint::load(&cfg.data_dir)?;
    let (epoch, durable) = match &checkpoint {
        Some(c) => (c.epoch, Positions::from_checkpoint(&c.offsets)),
        None => (0, Positions::default()),
    };
    let mut watcher = match &cfg.rules_dir {
        Some(dir) => {
            let (w, set) = RuleWatcher::load(dir).map_err(PipelineError::Rules)?;
            tracing::info!(rules = set.rules().len(), correlations = set.correlations().len(), sequences = set.sequences().len(), dir = %dir.display(), "rules loaded");
            cfg.analysis.rules = Arc::new(set);
            Some(w)
        }
        None => None,
    };
    let cfg = Arc::new(cfg);
    let mut pipeline =
        cfg.analysis
            .open_pipeline(&cfg.data_dir, &epoch_name(epoch + 1), true, checkpoint)?;
    pipeline.keep_outputs();
    pipeline.follow_seen_ids();
    let publisher = Publisher::connect(&cfg)?;
    let state = StreamState::new(
        cfg.clone(),
        pipeline,
        publisher,
        epoch,
        durable,
        metrics.clone(),
    )?;
    let shared = Arc::new(Shared(Mutex::new(state)));
    let topics: Vec<&str> = cfg.topics.iter().map(|t| t.topic.as_str()).collect();
    let source = KafkaSource::connect(&cfg.kafka, &topics, shared.clone())?;
    tracing::info!(?topics, group = %cfg.kafka.group_id, epoch, "consuming");
    let mut last_rules_poll = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let (turn, idle_epoch) = {
            // A batch being filled waits for no more than what is fetched.
            let filling = shared.lock().lane.filling();
            let message = source.poll(if filling { Duration::ZERO } else { POLL_WAIT });
            let mut st = shared.lock();
            let stepped = match st.failed.take() {
                Some(e) => Err(e),
                None => st.step(message.as_ref()),
            };
            let turn = match stepped {
                Ok(turn) => turn,
                Err(e) => {
                    // Leaving the group (when `source` drops) must not
                    // seal or commit past what this step lost.
                    st.broken = true;
                    return Err(e);
                }
            };
            metrics.set_live(&st.pipeline, source.lag());
            (turn, st.pending == 0)
        };
        if let Some(offsets) = &turn.commit {
            commit_or_warn(&source, offsets, &metrics);
        }
        // Nothing consumed since the last epoch ended: also between
        // epochs, so an idle stream picks up rule changes too.
        let between_epochs =
            turn.ended || (idle_epoch && last_rules_poll.elapsed() >= RULES_POLL_IDLE);
        // Rules change between epochs, so each epoch runs one rule set.
        if between_epochs && let Some(w) = watcher.as_mut() {
            last_rules_poll = Instant::now();
            reload_rules(w, &shared, &metrics);
        }
    }
    let offsets = {
        let mut st = shared.lock();
        let offsets = st.seal()?;
        st.pipeline.refresh_live()?;
        offsets
    };
    commit_or_warn(&source, &offsets, &metrics);
    source.close();
    let st = shared.lock();
    if let Some(e) = st.failed.as_ref() {
        return Err(PipelineError::State {
            path: "shutdown".into(),
            message: e.to_string(),
        });
    }
    let mut stats = st.pipeline.stats().clone();
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// How long a poll waits for a message when none is fetched: also how
/// long a stop waits to be seen.
const POLL_WAIT: Duration = Duration::from_millis(20);

/// How far decoding may run ahead of the pipeline before the consumer
/// waits for it: batches sent and not yet taken back (queued, being
/// decoded, or decoded and waiting), and their payload bytes.
const MAX_BATCHES_OUT: u64 = 8;
const MAX_BYTES_OUT: u64 = 64 << 20;

/// Decoding threads for `requested` (0: one per core but one, at least one).
fn decode_threads(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    crate::in_order::worker_count(0).saturating_sub(1).max(1)
}

/// How often an idle stream looks at the rules directory.
const RULES_POLL_IDLE: Duration = Duration::from_secs(1);

/// Load the rules directory if it changed: a set that compiles replaces
/// the pipeline's; one that does not is logged and the previous stays.
fn reload_rules(watcher: &mut RuleWatcher, shared: &Shared, metrics: &StreamMetrics) {
    match watcher.poll() {
        None => {}
        Some(Ok(set)) => {
            tracing::info!(
                rules = set.rules().len(),
                correlations = set.correlations().len(),
                sequences = set.sequences().len(),
                "rules reloaded"
            );
            metrics.note_rules_reload(true);
            shared.lock().pipeline.set_rules(Arc::new(set));
        }
        Some(Err(errors)) => {
            for e in &errors {
                tracing::warn!(error = %e, "rule file rejected; previous rules stay");
            }
            metrics.note_rules_reload(false);
        }
    }
}

/// A failed commit loses nothing (the checkpoint holds the offsets and
/// redelivered messages are skipped); it is counted and retried with the
/// next epoch.
fn commit_or_warn<H: RebalanceHandler>(
    source: &KafkaSource<H>,
    offsets: &[PartitionOffset],
    metrics: &StreamMetrics,
) {
    match source.commit(offsets) {
        Ok(()) => metrics.note_commit(true),
        Err(e) => {
            metrics.note_commit(false);
            tracing::warn!(error = %e, "offset commit failed; retried after the next epoch");
        }
    }
}

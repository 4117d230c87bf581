//! The consumer: a classic group member with manual commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientContext, TopicPartitionList as Tpl};

use delegraph_model::PartitionOffset;

use super::{KafkaError, KafkaSettings};

/// Told about partition moves, on the polling thread, inside
/// [`KafkaSource::poll`].
pub trait RebalanceHandler: Send + Sync + 'static {
    /// `partitions` are about to be taken away: make durable what was read
    /// from them and return the offsets to commit before they go.
    fn revoking(&self, partitions: &[(String, i32)]) -> Vec<PartitionOffset>;
    /// `partitions` were assigned.
    fn assigned(&self, partitions: &[(String, i32)]);
}

/// Lag from librdkafka's statistics, and the rebalance handler.
struct SourceContext<H> {
    handler: Arc<H>,
    lag: AtomicI64,
}

impl<H: RebalanceHandler> ClientContext for SourceContext<H> {
    fn stats(&self, statistics: Statistics) {
        let lag = statistics
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.lag.store(lag, Ordering::Relaxed);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka consumer");
    }
}

fn pairs(tpl: &Tpl) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

fn offsets_list(offsets: &[PartitionOffset]) -> Result<Tpl, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for o in offsets {
        tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.next))
            .map_err(|e| KafkaError::new("building the offsets to commit", e))?;
    }
    Ok(tpl)
}

impl<H: RebalanceHandler> ConsumerContext for SourceContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let offsets = self.handler.revoking(&pairs(tpl));
                if offsets.is_empty() {
                    return;
                }
                let result = offsets_list(&offsets).and_then(|l| {
                    consumer
                        .commit(&l, CommitMode::Sync)
                        .map_err(|e| KafkaError::new("commit before revocation", e))
                });
                if let Err(e) = result {
                    // The checkpoint holds these offsets; the next owner
                    // re-reads from the last commit and skips nothing.
                    tracing::warn!(error = %e, "offsets not committed before revocation");
                }
            }
            Rebalance::Assign(_) | Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => self.handler.assigned(&pairs(tpl)),
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// One consumed message, borrowed from the consumer until the next poll.
pub struct SourceMessage<'a>(rdkafka::message::BorrowedMessage<'a>);

impl SourceMessage<'_> {
    /// Topic.
    pub fn topic(&self) -> &str {
        self.0.topic()
    }
    /// Partition.
    pub fn partition(&self) -> i32 {
        self.0.partition()
    }
    /// Offset.
    pub fn offset(&self) -> i64 {
        self.0.offset()
    }
    /// The value (empty for a tombstone).
    pub fn payload(&self) -> &[u8] {
        self.0.payload().unwrap_or_default()
    }
}

/// A group consumer over some topics that commits only when told to.
pub struct KafkaSource<H: RebalanceHandler> {
    consumer: BaseConsumer<SourceContext<H>>,
}

impl<H: RebalanceHandler> KafkaSource<H> {
    /// Join `settings.group_id` and subscribe to `topics`. Offsets are
    /// committed only through [`commit`](Self::commit) (and before a
    /// revocation); a group without committed offsets starts at the
    /// earliest message, so nothing produced before the first start is
    /// skipped.
    pub fn connect(
        settings: &KafkaSettings,
        topics: &[&str],
        handler: Arc<H>,
    ) -> Result<Self, KafkaError> {
        let config = settings.client_config(&[
            ("group.id", settings.group_id.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("statistics.interval.ms", "5000"),
        ]);
        let context = SourceContext {
            handler,
            lag: AtomicI64::new(0),
        };
        let consumer: BaseConsumer<SourceContext<H>> = config
            .create_with_context(context)
            .map_err(|e| KafkaError::new("creating the consumer", e))?;
        consumer
            .subscribe(topics)
            .map_err(|e| KafkaError::new(format!("subscribing to {topics:?}"), e))?;
        Ok(Self { consumer })
    }

    /// The next message, waiting up to `timeout`. Broker trouble is logged
    /// and reported as no message: librdkafka reconnects by itself.
    pub fn poll(&self, timeout: Duration) -> Option<SourceMessage<'_>> {
        match self.consumer.poll(timeout)? {
            Ok(m) => Some(SourceMessage(m)),
            Err(e) => {
                tracing::warn!(error = %e, "kafka poll");
                None
            }
        }
    }

    /// Commit `offsets` to the group, synchronously.
    pub fn commit(&self, offsets: &[PartitionOffset]) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.consumer
            .commit(&offsets_list(offsets)?, CommitMode::Sync)
            .map_err(|e| KafkaError::new("commit", e))
    }

    /// Messages behind the end of the assigned partitions, as of the last
    /// statistics report (every 5 s).
    pub fn lag(&self) -> i64 {
        self.consumer.context().lag.load(Ordering::Relaxed)
    }

    /// Leave the group (revoking, hence committing, what is assigned).
    pub fn close(self) {
        self.consumer.unsubscribe();
        // Serve the revocation callback the unsubscribe queued.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if self.consumer.poll(Duration::from_millis(100)).is_none()
                && self.consumer.assignment().is_ok_and(|a| a.count() == 0)
            {
                break;
            }
        }
    }
}

/// A handler for consumers that keep no state (benchmarks, tools).
struct Stateless;

impl RebalanceHandler for Stateless {
    fn revoking(&self, _partitions: &[(String, i32)]) -> Vec<PartitionOffset> {
        Vec::new()
    }
    fn assigned(&self, _partitions: &[(String, i32)]) {}
}

/// The bare consumer the pipeline is measured against: read `topic` from
/// the start in a fresh group and only count messages and bytes, until
/// `expected` messages or `timeout`. Returns (messages, bytes, time from
/// the first message to the last).
pub fn count_messages(
    settings: &KafkaSettings,
    topic: &str,
    expected: u64,
    timeout: Duration,
) -> Result<(u64, u64, Duration), KafkaError> {
    let source = KafkaSource::connect(settings, &[topic], Arc::new(Stateless))?;
    let deadline = Instant::now() + timeout;
    let (mut n, mut bytes, mut first) = (0u64, 0u64, None);
    while n < expected && Instant::now() < deadline {
        if let Some(m) = source.poll(Duration::from_millis(200)) {
            first.get_or_insert_with(Instant::now);
            n += 1;
            bytes += m.payload().len() as u64;
        }
    }
    let took = first.map(|f| f.elapsed()).unwrap_or_default();
    Ok((n, bytes, took))
}

//! A producer for findings and dead letters that reports failed deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaError, KafkaSettings};

/// Property prefixes librdkafka accepts only for consumers.
const CONSUMER_ONLY: [&str; 13] = [
    "group.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "partition.assignment.strategy",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "fetch.",
    "isolation.level",
    "queued.",
    "check.crcs",
];

/// Counts deliveries that failed for good (after librdkafka's retries).
struct SinkContext {
    failed: Arc<AtomicU64>,
}

impl ClientContext for SinkContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka producer");
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((e, _)) = result {
            tracing::warn!(error = %e, "kafka delivery failed");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends messages and, on [`flush`](KafkaSink::flush), says whether every
/// one since the last flush was delivered.
pub struct KafkaSink {
    producer: ThreadedProducer<SinkContext>,
    failed: Arc<AtomicU64>,
    failed_seen: u64,
}

/// How long one wait for deliveries lasts in [`KafkaSink::flush`].
const FLUSH_STEP: Duration = Duration::from_millis(2);

impl KafkaSink {
    /// A producer with `settings` (acks from all in-sync replicas, and
    /// librdkafka's retries within `message.timeout.ms`).
    pub fn connect(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let failed = Arc::new(AtomicU64::new(0));
        let mut settings = settings.clone();
        // Consumer-only properties would only make librdkafka warn.
        settings
            .properties
            .retain(|k, _| !CONSUMER_ONLY.iter().any(|c| k.starts_with(c)));
        let config = settings.client_config(&[("acks", "all"), ("linger.ms", "5")]);
        let producer = config
            .create_with_context(SinkContext {
                failed: failed.clone(),
            })
            .map_err(|e| KafkaError::new("creating the producer", e))?;
        Ok(Self {
            producer,
            failed,
            failed_seen: 0,
        })
    }

    /// Queue one message; waits while librdkafka's queue is full.
    pub fn send(&mut self, topic: &str, key: &str, payload: &[u8]) -> Result<(), KafkaError> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(KafkaError::new(format!("producing to {topic}"), e)),
            }
        }
    }

    /// Wait until everything queued is delivered or has failed for good;
    /// an error if anything failed since the last flush.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), KafkaError> {
        let deadline = std::time::Instant::now() + timeout;
        // In short steps: this producer's own thread takes the delivery
        // reports, so one long flush waits out 100 ms polls for reports it
        // never sees (every epoch's findings waited 100 ms for nothing).
        loop {
            match self.producer.flush(FLUSH_STEP) {
                Ok(()) => break,
                Err(rdkafka::error::KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                    if std::time::Instant::now() < deadline => {}
                Err(e) => return Err(KafkaError::new("flushing the producer", e)),
            }
        }
        let failed = self.failed.load(Ordering::Relaxed);
        let new = failed - self.failed_seen;
        self.failed_seen = failed;
        if new > 0 {
            return Err(KafkaError::new(
                format!("{new} messages not delivered"),
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            ));
        }
        Ok(())
    }
}

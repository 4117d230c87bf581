//! A producer for findings and dead letters that reports failed deliveries.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
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

/// The messages sent and not yet delivered, and those that failed for
/// good (after librdkafka's retries), by their number in sending order.
#[derive(Default)]
struct Deliveries {
    next: usize,
    outstanding: BTreeSet<usize>,
    failed: BTreeSet<usize>,
}

/// [`Deliveries`], with the condition a wait for them sleeps on.
type Shared = Arc<(Mutex<Deliveries>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Deliveries> {
    // A panic while holding the lock ends the service anyway.
    shared.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes delivery reports on the producer's own thread.
struct SinkContext {
    deliveries: Shared,
}

impl ClientContext for SinkContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka producer");
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, number: usize) {
        let mut d = lock(&self.deliveries);
        d.outstanding.remove(&number);
        if let Err((e, _)) = result {
            tracing::warn!(error = %e, "kafka delivery failed");
            d.failed.insert(number);
        }
        drop(d);
        self.deliveries.1.notify_all();
    }
}

/// Sends messages, from any thread, and waits until those sent before a
/// point are delivered ([`wait_delivered`](KafkaSink::wait_delivered)) while
/// others keep being sent: a wait for the queue to empty could last as long
/// as a stream keeps publishing.
pub struct KafkaSink {
    producer: ThreadedProducer<SinkContext>,
    deliveries: Shared,
}

impl KafkaSink {
    /// A producer with `settings` (acks from all in-sync replicas, and
    /// librdkafka's retries within `message.timeout.ms`).
    pub fn connect(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let deliveries = Shared::default();
        let mut settings = settings.clone();
        // Consumer-only properties would only make librdkafka warn.
        settings
            .properties
            .retain(|k, _| !CONSUMER_ONLY.iter().any(|c| k.starts_with(c)));
        let config = settings.client_config(&[("acks", "all"), ("linger.ms", "5")]);
        let producer = config
            .create_with_context(SinkContext {
                deliveries: deliveries.clone(),
            })
            .map_err(|e| KafkaError::new("creating the producer", e))?;
        Ok(Self {
            producer,
            deliveries,
        })
    }

    /// Queue one message; waits while librdkafka's queue is full.
    pub fn send(&self, topic: &str, key: &str, payload: &[u8]) -> Result<(), KafkaError> {
        let number = {
            let mut d = lock(&self.deliveries);
            let number = d.next;
            d.next += 1;
            d.outstanding.insert(number);
            number
        };
        let mut record = BaseRecord::with_opaque_to(topic, number)
            .key(key)
            .payload(payload);
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
                Err((e, _)) => {
                    // Never queued: no report will come for it.
                    lock(&self.deliveries).outstanding.remove(&number);
                    self.deliveries.1.notify_all();
                    return Err(KafkaError::new(format!("producing to {topic}"), e));
                }
            }
        }
    }

    /// How many messages were sent so far: the point a later
    /// [`wait_delivered`](Self::wait_delivered) waits for.
    pub fn sent(&self) -> usize {
        lock(&self.deliveries).next
    }

    /// Wait until every message sent before the first `sent` ones is
    /// delivered or has failed for good, however many were sent since; an
    /// error if any of them failed (each failure is reported once).
    pub fn wait_delivered(&self, sent: usize, timeout: Duration) -> Result<(), KafkaError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut d = lock(&self.deliveries);
        while d.outstanding.first().is_some_and(|n| *n < sent) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(KafkaError::new(
                    "waiting for deliveries",
                    rdkafka::error::KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut),
                ));
            }
            d = self
                .deliveries
                .1
                .wait_timeout(d, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let later = d.failed.split_off(&sent);
        let failed = std::mem::replace(&mut d.failed, later).len();
        if failed > 0 {
            return Err(KafkaError::new(
                format!("{failed} messages not delivered"),
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            ));
        }
        Ok(())
    }
}

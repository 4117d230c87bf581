//! Kafka in and out (rdkafka over a bundled librdkafka).
//!
//! The consumer never commits on its own: the caller commits offsets after
//! the events and findings they produced are durable, and is asked for the
//! offsets to commit before partitions are taken away in a rebalance.

mod consumer;
mod producer;

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

pub use consumer::{KafkaSource, RebalanceHandler, SourceMessage, count_messages};
pub use producer::KafkaSink;

/// Connection settings shared by the consumer and the producers.
#[derive(Debug, Clone, Default)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group id.
    pub group_id: String,
    /// Any librdkafka property (SASL, TLS, timeouts, …), passed through
    /// unchanged; these win over the defaults set here.
    pub properties: BTreeMap<String, String>,
}

impl KafkaSettings {
    fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// A Kafka client call failed.
#[derive(Debug, thiserror::Error)]
#[error("kafka {what}: {source}")]
pub struct KafkaError {
    /// What was being done.
    pub what: String,
    /// librdkafka's error.
    #[source]
    pub source: rdkafka::error::KafkaError,
}

impl KafkaError {
    fn new(what: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Self {
            what: what.into(),
            source,
        }
    }
}

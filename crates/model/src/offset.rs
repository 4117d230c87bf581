//! A position in a partitioned log (Kafka): the one shape the stream loop,
//! the checkpoint and the consumer's commits share, so an offset read from
//! one is handed to the next without conversion.

use serde::{Deserialize, Serialize};

/// The next offset to read in one partition of a topic: what a commit
/// records and what the checkpoint stores per partition.
///
/// The field order is part of the checkpoint format: postcard encodes a
/// struct as its fields in order, so `(topic, partition, next)` gives the
/// same bytes as the `(String, i32, i64)` tuple earlier checkpoints held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset to read (last processed + 1).
    pub next: i64,
}

impl PartitionOffset {
    /// How this offset's partition orders against `topic`'s `partition`
    /// (topic, then partition, as the derived `Ord`): a list kept sorted by
    /// partition is searched with it without building an owned key for
    /// every message.
    pub fn cmp_partition(&self, topic: &str, partition: i32) -> std::cmp::Ordering {
        (self.topic.as_str(), self.partition).cmp(&(topic, partition))
    }
}

//! Where a stream stands in each partition.

use delegraph_model::PartitionOffset;

/// The next offset per partition, one entry each, sorted by (topic,
/// partition): the order the checkpoint stores them in and the list a
/// commit takes, so neither needs converting.
#[derive(Debug, Clone, Default)]
pub(super) struct Positions(Vec<PartitionOffset>);

impl Positions {
    /// A checkpoint's offsets (a later entry for the same partition wins).
    pub fn from_checkpoint(offsets: &[PartitionOffset]) -> Self {
        let mut positions = Self::default();
        for o in offsets {
            positions.set(&o.topic, o.partition, o.next);
        }
        positions
    }

    /// The next offset to read in `topic`'s `partition`, if known.
    pub fn next(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0
            .binary_search_by(|o| o.cmp_partition(topic, partition))
            .ok()
            .map(|i| self.0[i].next)
    }

    /// Record `next` as the next offset to read in `topic`'s `partition`.
    pub fn set(&mut self, topic: &str, partition: i32, next: i64) {
        match self
            .0
            .binary_search_by(|o| o.cmp_partition(topic, partition))
        {
            Ok(i) => self.0[i].next = next,
            Err(i) => self.0.insert(
                i,
                PartitionOffset {
                    topic: topic.to_owned(),
                    partition,
                    next,
                },
            ),
        }
    }

    pub fn to_vec(&self) -> Vec<PartitionOffset> {
        self.0.clone()
    }
}

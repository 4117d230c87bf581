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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn offset(topic: &str, partition: i32, next: i64) -> PartitionOffset {
        PartitionOffset {
            topic: topic.into(),
            partition,
            next,
        }
    }

    #[test]
    fn offsets_are_stored_as_the_tuples_earlier_checkpoints_held() {
        let tuples = vec![("audit".to_owned(), 3i32, 42i64), ("okta".to_owned(), 0, 7)];
        let offsets = vec![offset("audit", 3, 42), offset("okta", 0, 7)];
        let bytes = postcard::to_stdvec(&tuples).unwrap();
        assert_eq!(postcard::to_stdvec(&offsets).unwrap(), bytes);
        assert_eq!(
            postcard::from_bytes::<Vec<PartitionOffset>>(&bytes).unwrap(),
            offsets
        );
    }

    #[test]
    fn positions_stay_sorted_by_partition_with_one_entry_each() {
        let mut p = Positions::from_checkpoint(&[offset("b", 0, 5), offset("a", 1, 9)]);
        p.set("a", 0, 3);
        p.set("b", 0, 6);
        assert_eq!(p.next("b", 0), Some(6));
        assert_eq!(p.next("a", 2), None);
        assert_eq!(
            p.to_vec(),
            vec![offset("a", 0, 3), offset("a", 1, 9), offset("b", 0, 6)]
        );
    }
}

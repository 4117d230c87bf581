//! Inputs fed in pieces, in an order the caller chooses: a replay too
//! large to hold whole reads its files piece by piece and releases events
//! as soon as it knows nothing earlier is still to come.

use delegraph_decode::Collected;

use super::EventPipeline;
use crate::PipelineError;

impl EventPipeline {
    /// Count a document (its size on disk) whose records come in pieces.
    pub fn count_document(&mut self, raw_len: u64) {
        self.stats.documents += 1;
        self.stats.bytes += raw_len;
    }

    /// Route the records of one piece of a document counted with
    /// [`count_document`](Self::count_document), decoded on its own (on
    /// another thread): the same calls decoding into the pipeline makes.
    pub fn ingest_decoded(&mut self, decoded: Collected) -> Result<(), PipelineError> {
        decoded.replay_into(self).map_err(PipelineError::from_sink)
    }

    /// The place in the input the next event decoded gets (see
    /// [`set_input_place`](Self::set_input_place)).
    pub fn input_place(&self) -> u64 {
        self.reorder.next_ordinal()
    }

    /// Number the next events decoded from `place` on: events with the same
    /// time and id (a record delivered twice) are ordered, and all but the
    /// first dropped, by this place, not by when they arrived. A caller
    /// feeding inputs out of their order gives each its own range.
    pub fn set_input_place(&mut self, place: u64) {
        self.reorder.set_next_ordinal(place);
    }

    /// Release, in order, every held event older than `t` (nanoseconds):
    /// the caller knows no event before `t` is still to come. What is
    /// carried over to the next run stays (see `carry_over`).
    pub fn release_before(&mut self, t: i64) -> Result<(), PipelineError> {
        let t = t.min(self.hold_from);
        let due: Vec<_> = std::iter::from_fn(|| self.reorder.pop_before(t)).collect();
        self.release_many(due.into_iter())
    }
}

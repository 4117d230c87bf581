//! Event-time ordering within an allowed lateness.
//!
//! CloudTrail lags by minutes and sources interleave, so records arrive out
//! of order. Holding each event until the watermark (latest event time seen
//! minus the allowed lateness) passes it, then releasing in (event time,
//! event id) order, makes everything downstream independent of arrival order
//! for events within the lateness.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use delegraph_model::{LinkHints, NormEvent};

/// Boxed: heap sifts move a pointer, not a whole event. The ordinal is
/// the event's place in its input: events with the same time and id (a
/// record delivered twice) leave in input order, whatever order they
/// arrived in.
struct Held(Box<NormEvent>, u64);

impl Held {
    fn key(&self) -> (i64, &str, u64) {
        (self.0.event_time.nanos(), self.0.event_id.as_str(), self.1)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    /// Reversed: the heap's top is the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// Buffers events and releases them in event-time order.
pub struct ReorderBuffer {
    lateness_ns: i64,
    max_seen: i64,
    heap: BinaryHeap<Held>,
    late: u64,
    next_ordinal: u64,
}

impl ReorderBuffer {
    /// A buffer holding events for `lateness_ns` of event time.
    pub fn new(lateness_ns: i64) -> Self {
        Self {
            lateness_ns: lateness_ns.max(0),
            max_seen: i64::MIN,
            heap: BinaryHeap::new(),
            late: 0,
            next_ordinal: 0,
        }
    }

    /// The event time up to which everything has been released.
    pub fn watermark(&self) -> i64 {
        self.max_seen.saturating_sub(self.lateness_ns)
    }

    /// The newest event time pushed (`i64::MIN` before any).
    pub fn newest(&self) -> i64 {
        self.max_seen
    }

    /// Add an event; `emit` receives every event that is now due, in order.
    /// An event older than the watermark is released at once (and counted
    /// as late): order can no longer be guaranteed for it.
    pub fn push(&mut self, e: NormEvent, emit: impl FnMut(NormEvent)) {
        self.push_boxed(Box::new(e), emit);
    }

    /// [`push`](Self::push) for an event already boxed, as held events are.
    pub fn push_boxed(&mut self, e: Box<NormEvent>, mut emit: impl FnMut(NormEvent)) {
        let t = e.event_time.nanos();
        if self.max_seen != i64::MIN && t < self.watermark() {
            self.late += 1;
            self.next_ordinal += 1;
            emit(*e);
            return;
        }
        self.max_seen = self.max_seen.max(t);
        self.heap.push(Held(e, self.next_ordinal));
        self.next_ordinal += 1;
        let wm = self.watermark();
        while self
            .heap
            .peek()
            .is_some_and(|h| h.0.event_time.nanos() <= wm)
        {
            if let Some(Held(e, _)) = self.heap.pop() {
                emit(*e);
            }
        }
    }

    /// Release everything still held, in order (end of input).
    pub fn flush(&mut self, emit: impl FnMut(NormEvent)) {
        self.drain_in_order().for_each(emit);
    }

    /// Release the earliest event still held, whatever the watermark (end
    /// of input, one at a time so the caller needs no second copy of them).
    pub fn pop_earliest(&mut self) -> Option<NormEvent> {
        self.heap.pop().map(|Held(e, _)| *e)
    }

    /// Every event still held, in order, whatever the watermark (end of
    /// input). One sort of the lot: a replay holding its whole input
    /// spent 4% of its time in heap pops.
    pub fn drain_in_order(&mut self) -> impl ExactSizeIterator<Item = NormEvent> + use<> {
        let mut held = std::mem::take(&mut self.heap).into_vec();
        held.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
        held.into_iter().map(|Held(e, _)| *e)
    }

    /// The ordinal the next event pushed gets (its place in the input).
    pub fn next_ordinal(&self) -> u64 {
        self.next_ordinal
    }

    /// Number the next events pushed from `ordinal` on: a caller feeding
    /// inputs out of their order gives each event the place it has in
    /// them.
    pub fn set_next_ordinal(&mut self, ordinal: u64) {
        self.next_ordinal = ordinal;
    }

    /// Release the earliest event still held if it is older than `t`: a
    /// caller that knows nothing earlier than `t` is still to come (a
    /// replay merging inputs it indexed by time) releases what it may.
    pub fn pop_before(&mut self, t: i64) -> Option<NormEvent> {
        if self.heap.peek()?.0.event_time.nanos() < t {
            self.pop_earliest()
        } else {
            None
        }
    }

    /// Events that arrived behind the watermark.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Events currently held.
    pub fn held(&self) -> usize {
        self.heap.len()
    }

    /// The held events and watermark, for a checkpoint taken mid-stream
    /// (events are JSON: their tagged enums need a self-describing format).
    /// Events do not serialize their link hints, so those are saved beside
    /// them, in the same order.
    pub fn save(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut held: Vec<&Held> = self.heap.iter().collect();
        held.sort_by(|a, b| a.key().cmp(&b.key()));
        serde_json::to_vec(&SavedReorder {
            max_seen: self.max_seen,
            late: self.late,
            events: held.iter().map(|h| h.0.as_ref()).collect(),
            hints: held.iter().map(|h| &h.0.hints).collect(),
            ordinals: held.iter().map(|h| h.1).collect(),
        })
    }

    /// A buffer continuing from [`save`](Self::save) output (empty input:
    /// a fresh buffer).
    pub fn restore(lateness_ns: i64, bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut b = Self::new(lateness_ns);
        if bytes.is_empty() {
            return Ok(b);
        }
        let saved: SavedReorderOwned = serde_json::from_slice(bytes)?;
        b.max_seen = saved.max_seen;
        b.late = saved.late;
        let mut hints = saved.hints.into_iter();
        // Checkpoints from before ordinals: the saved order is the order.
        let mut ordinals = saved.ordinals.into_iter();
        b.heap = saved
            .events
            .into_iter()
            .zip(0..)
            .map(|(mut e, place)| {
                e.hints = hints.next().unwrap_or_default();
                Held(Box::new(e), ordinals.next().unwrap_or(place))
            })
            .collect();
        // Places only order events held together: the next event comes
        // after every one held.
        b.next_ordinal = b.heap.iter().map(|h| h.1 + 1).max().unwrap_or(0);
        Ok(b)
    }
}

#[derive(serde::Serialize)]
struct SavedReorder<'a> {
    max_seen: i64,
    late: u64,
    events: Vec<&'a NormEvent>,
    hints: Vec<&'a LinkHints>,
    ordinals: Vec<u64>,
}

#[derive(serde::Deserialize)]
struct SavedReorderOwned {
    max_seen: i64,
    late: u64,
    events: Vec<NormEvent>,
    /// Absent in checkpoints written before hints existed.
    #[serde(default)]
    hints: Vec<LinkHints>,
    /// Absent in checkpoints written before events kept their input order.
    #[serde(default)]
    ordinals: Vec<u64>,
}

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

/// Boxed: heap sifts move a pointer, not a whole event.
struct Held(Box<NormEvent>);

impl Held {
    fn key(&self) -> (i64, &str) {
        (self.0.event_time.nanos(), self.0.event_id.as_str())
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
}

impl ReorderBuffer {
    /// A buffer holding events for `lateness_ns` of event time.
    pub fn new(lateness_ns: i64) -> Self {
        Self {
            lateness_ns: lateness_ns.max(0),
            max_seen: i64::MIN,
            heap: BinaryHeap::new(),
            late: 0,
        }
    }

    /// The event time up to which everything has been released.
    pub fn watermark(&self) -> i64 {
        self.max_seen.saturating_sub(self.lateness_ns)
    }

    /// Add an event; `emit` receives every event that is now due, in order.
    /// An event older than the watermark is released at once (and counted
    /// as late): order can no longer be guaranteed for it.
    pub fn push(&mut self, e: NormEvent, mut emit: impl FnMut(NormEvent)) {
        let t = e.event_time.nanos();
        if self.max_seen != i64::MIN && t < self.watermark() {
            self.late += 1;
            emit(e);
            return;
        }
        self.max_seen = self.max_seen.max(t);
        self.heap.push(Held(Box::new(e)));
        let wm = self.watermark();
        while self
            .heap
            .peek()
            .is_some_and(|h| h.0.event_time.nanos() <= wm)
        {
            if let Some(Held(e)) = self.heap.pop() {
                emit(*e);
            }
        }
    }

    /// Release everything still held, in order (end of input).
    pub fn flush(&mut self, mut emit: impl FnMut(NormEvent)) {
        while let Some(e) = self.pop_earliest() {
            emit(e);
        }
    }

    /// Release the earliest event still held, whatever the watermark (end
    /// of input, one at a time so the caller needs no second copy of them).
    pub fn pop_earliest(&mut self) -> Option<NormEvent> {
        self.heap.pop().map(|Held(e)| *e)
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
        let mut events: Vec<&NormEvent> = self.heap.iter().map(|h| h.0.as_ref()).collect();
        events.sort_by(|a, b| {
            (a.event_time.nanos(), a.event_id.as_str())
                .cmp(&(b.event_time.nanos(), b.event_id.as_str()))
        });
        let hints = events.iter().map(|e| &e.hints).collect();
        serde_json::to_vec(&SavedReorder {
            max_seen: self.max_seen,
            late: self.late,
            events,
            hints,
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
        b.heap = saved
            .events
            .into_iter()
            .map(|mut e| {
                e.hints = hints.next().unwrap_or_default();
                Held(Box::new(e))
            })
            .collect();
        Ok(b)
    }
}

#[derive(serde::Serialize)]
struct SavedReorder<'a> {
    max_seen: i64,
    late: u64,
    events: Vec<&'a NormEvent>,
    hints: Vec<&'a LinkHints>,
}

#[derive(serde::Deserialize)]
struct SavedReorderOwned {
    max_seen: i64,
    late: u64,
    events: Vec<NormEvent>,
    /// Absent in checkpoints written before hints existed.
    #[serde(default)]
    hints: Vec<LinkHints>,
}

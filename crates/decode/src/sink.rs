//! Where decoded events go, and how a failing destination stops decoding.
//!
//! A bad record is not an error of the sink: it is handed to
//! [`EventSink::reject`] and decoding goes on. A sink that cannot take what
//! it is given (its store or dead-letter file failed) returns a
//! [`SinkError`], and decoding of the document stops there so the caller
//! sees the failure at once instead of finding it parked somewhere later.

use delegraph_model::{NormEvent, Origin, RawText};

use crate::DecodeError;

/// Receives what decoding produced: events and rejected records.
pub trait EventSink {
    /// A decoded event.
    fn event(&mut self, event: NormEvent) -> Result<(), SinkError>;
    /// A decoded event already on the heap (from [`Collected`]): a sink
    /// that keeps events boxed takes it as it is instead of copying it out.
    fn event_boxed(&mut self, event: Box<NormEvent>) -> Result<(), SinkError> {
        self.event(*event)
    }
    /// A record that could not be decoded, with its text and where it was.
    fn reject(&mut self, error: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError>;
    /// `record` (a record's text, or a part of it) as an event keeps it.
    /// Copied here; the sink decoders are handed while a shared document
    /// is decoded slices that document instead.
    fn raw_text(&self, record: &str) -> RawText {
        RawText::from(record)
    }
}

/// The sink failed: whatever it wraps is the sink's own error, which its
/// owner can take back with [`SinkError::into_inner`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SinkError(Box<dyn std::error::Error + Send + Sync>);

impl SinkError {
    /// Wrap the sink's own error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(source))
    }

    /// The sink's own error (downcast it to the type the sink returned).
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync> {
        self.0
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for SinkError {
    fn from(source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self(source)
    }
}

/// Why a [`crate::Decoder`] stopped on a record: the record is bad (it is
/// rejected and decoding goes on) or the sink failed (decoding stops).
#[derive(Debug, thiserror::Error)]
pub enum DecodeFailure {
    /// The record could not be decoded.
    #[error(transparent)]
    Record(#[from] DecodeError),
    /// The sink could not take an event of the record.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// One thing decoding handed a sink.
// Events are the many and rejects the few: boxing the event would cost an
// allocation per event to save room on rejects.
#[derive(Debug)]
pub enum Decoded {
    /// A decoded event, boxed: a piece's list of them then grows by
    /// pointers, not by copies of whole events.
    Event(Box<NormEvent>),
    /// A record that could not be decoded.
    Rejected {
        /// Why.
        error: DecodeError,
        /// Where it was.
        origin: Origin,
        /// Its text.
        raw: String,
    },
}

/// A sink that keeps what it is handed, in order, to hand to another sink
/// later: a piece decoded on one thread, fed to the pipeline on another,
/// gives the pipeline exactly the calls decoding into it would have.
#[derive(Debug, Default)]
pub struct Collected {
    items: Vec<Decoded>,
}

impl Collected {
    /// What was handed, in order.
    pub fn items(&self) -> &[Decoded] {
        &self.items
    }

    /// The events handed, in order.
    pub fn events(&self) -> impl Iterator<Item = &NormEvent> {
        self.items.iter().filter_map(|d| match d {
            Decoded::Event(e) => Some(&**e),
            Decoded::Rejected { .. } => None,
        })
    }

    /// What `decode` hands a collecting sink. The sink never fails, so
    /// decoding always runs to the end and its result holds no error.
    pub fn gather(decode: impl FnOnce(&mut Self) -> Result<(), SinkError>) -> Self {
        let mut collected = Self::default();
        let _ = decode(&mut collected);
        collected
    }

    /// Hand everything to `sink` in the order it came; the first failure
    /// of `sink` stops it, as it would have stopped decoding.
    pub fn replay_into(self, sink: &mut impl EventSink) -> Result<(), SinkError> {
        for item in self.items {
            match item {
                Decoded::Event(e) => sink.event_boxed(e)?,
                Decoded::Rejected { error, origin, raw } => sink.reject(error, origin, &raw)?,
            }
        }
        Ok(())
    }
}

impl EventSink for Collected {
    fn event(&mut self, mut event: NormEvent) -> Result<(), SinkError> {
        // Collected events are held (a replay holds its whole input).
        event.shrink_to_fit();
        self.items.push(Decoded::Event(Box::new(event)));
        Ok(())
    }

    fn reject(&mut self, error: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError> {
        self.items.push(Decoded::Rejected {
            error,
            origin,
            raw: raw.to_owned(),
        });
        Ok(())
    }
}

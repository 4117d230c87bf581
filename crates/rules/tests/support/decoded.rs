//! Decoded events and decoder rejections of test records, collected.

use delegraph_decode::{DecodeError, EventSink, SinkError};
use delegraph_model::{NormEvent, Origin};

/// Events in the order decoded; rejections as `origin: error`.
#[derive(Default)]
pub struct Collect(pub Vec<NormEvent>, pub Vec<String>);

impl EventSink for Collect {
    fn event(&mut self, event: NormEvent) -> Result<(), SinkError> {
        self.0.push(event);
        Ok(())
    }
    fn reject(&mut self, error: DecodeError, origin: Origin, _raw: &str) -> Result<(), SinkError> {
        self.1.push(format!("{origin}: {error}"));
        Ok(())
    }
}

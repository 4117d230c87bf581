//! Decoded events and decoder rejections of test records, collected.

use delegraph_decode::{DecodeError, EventSink};
use delegraph_model::{NormEvent, Origin};

/// Events in the order decoded; rejections as `origin: error`.
#[derive(Default)]
pub struct Collect(pub Vec<NormEvent>, pub Vec<String>);

impl EventSink for Collect {
    fn event(&mut self, event: NormEvent) {
        self.0.push(event);
    }
    fn reject(&mut self, error: DecodeError, origin: Origin, _raw: &str) {
        self.1.push(format!("{origin}: {error}"));
    }
}

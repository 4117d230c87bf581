//! What the graph tests share: decoded fixture records, collected.

use delegraph_decode::{DecodeError, EventSink, SinkError};
use delegraph_model::{NormEvent, Origin};

/// Every event decoded, in order; a rejected record fails the test.
#[derive(Default)]
pub struct Events(pub Vec<NormEvent>);

impl EventSink for Events {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.0.push(e);
        Ok(())
    }
    fn reject(&mut self, e: DecodeError, o: Origin, _: &str) -> Result<(), SinkError> {
        panic!("{o}: {e}");
    }
}

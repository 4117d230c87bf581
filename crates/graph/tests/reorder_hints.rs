//! Link hints are not serialized with events, so the reorder buffer's
//! checkpoint keeps them beside the events it holds.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use delegraph_graph::ReorderBuffer;
use delegraph_model::{NormEvent, Origin, Resolve, Source, Timestamp};

#[test]
fn held_events_keep_their_link_hints_across_a_checkpoint() {
    let mut e = NormEvent::new(
        Source::Mcp,
        "e1".into(),
        "tools/call".into(),
        Timestamp(1_000),
        Origin::File {
            path: "t".into(),
            line: 1,
            index: None,
        },
        "{}",
    );
    e.hints.resolve.push(Resolve::Session {
        key: "mcp:s".into(),
        basis: "MCP session".into(),
    });
    let mut b = ReorderBuffer::new(1_000_000);
    b.push(e.clone(), |_| panic!("released too early"));
    let mut back = ReorderBuffer::restore(1_000_000, &b.save().unwrap()).unwrap();
    let mut out = Vec::new();
    back.flush(|x| out.push(x));
    assert_eq!(out, [e]);
}

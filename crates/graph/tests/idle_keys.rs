//! Keys go when idle: a span idle past the idle TTL and a credential idle
//! past its (longer) TTL no longer attribute, while ones still in use do,
//! so a month of backfill keeps neither in memory nor in the checkpoint
//! what no record will use again; an instance idle for a packing round is
//! held packed without changing what it reads or saves.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::Events;
use delegraph_decode::{DocumentDecoder, OriginBase};
use delegraph_graph::{StitchConfig, Stitcher};
use delegraph_model::{Bind, LinkHints, NormEvent, Resolve, Timestamp};

const HOUR: i64 = 3_600_000_000_000;
const T0: i64 = 1_772_409_600_000_000_000;

/// An MCP gateway record (the fixture's first) of session `session` at
/// `at`, made with token `token`: it starts its instance and binds the
/// token and span `span` to it.
fn record(session: &str, token: &str, span: &str, at: i64) -> NormEvent {
    let path = delegraph_testdata::checkout_root().join("fixtures/mcp/gateway.jsonl");
    let mut all = Events::default();
    DocumentDecoder::default()
        .decode_document(
            &std::fs::read(&path).unwrap(),
            &OriginBase::File { path: "g".into() },
            &mut all,
        )
        .unwrap();
    let mut e = all.0.swap_remove(0);
    e.trace.session_id = Some(session.into());
    e.agent.instance_id = Some(session.into());
    e.credential_used.as_mut().unwrap().id = token.into();
    e.event_time = Timestamp(at);
    delegraph_decode::relink(&mut e);
    e.hints.bind.push(Bind::Span { span: span.into() });
    e
}

/// A record that can only be attributed through `way`.
fn only_through(way: Resolve, at: i64) -> NormEvent {
    let mut e = record("unrelated", "unrelated", "unrelated", at);
    e.hints = LinkHints {
        resolve: vec![way],
        ..LinkHints::default()
    };
    e
}

/// The instance `e` was attributed to.
fn instance(s: &mut Stitcher, mut e: NormEvent) -> Option<String> {
    s.attribute(&mut e);
    e.attribution.unwrap().instance
}

/// Records of other sessions from `from` to `to`, ending with enough of
/// them at `to` that the stitcher sweeps there (it sweeps once per 1,024
/// records).
fn traffic(s: &mut Stitcher, from: i64, to: i64) {
    let (spread, at_end) = (2_000, 1_100);
    for i in 0..spread + at_end {
        let at = if i < spread {
            from + (to - from) / spread * i
        } else {
            to
        };
        let mut e = record(
            &format!("other-{i}"),
            &format!("t-{i}"),
            &format!("o:{i}"),
            at,
        );
        s.attribute(&mut e);
    }
}

#[test]
fn idle_spans_and_credentials_go_after_their_ttls() {
    let cfg = StitchConfig::default();
    assert!(cfg.credential_idle_ttl_ns > cfg.idle_ttl_ns);
    let mut s = Stitcher::new(cfg);
    let first = record("task-1", "tok-1", "trace-1:span-1", T0);
    let task = instance(&mut s, first).unwrap();
    let by_span = |at| {
        only_through(
            Resolve::ChildSpan {
                parent: "trace-1:span-1".into(),
                basis: "parent span".into(),
            },
            at,
        )
    };
    let by_token = |at| {
        only_through(
            Resolve::Credential {
                credential: "tok-1".into(),
                basis: "credential".into(),
            },
            at,
        )
    };
    // Within the idle TTL both keys attribute (and are touched).
    traffic(&mut s, T0, T0 + 6 * HOUR);
    assert_eq!(instance(&mut s, by_span(T0 + 6 * HOUR)), Some(task.clone()));
    // Idle 13 hours since: the span is gone, the credential is not.
    traffic(&mut s, T0 + 6 * HOUR, T0 + 19 * HOUR);
    assert_eq!(instance(&mut s, by_span(T0 + 19 * HOUR)), None);
    assert_eq!(
        instance(&mut s, by_token(T0 + 19 * HOUR)),
        Some(task.clone())
    );
    // The token idle past its own TTL goes too.
    let later = T0 + 19 * HOUR + cfg.credential_idle_ttl_ns + HOUR;
    traffic(&mut s, T0 + 19 * HOUR, later);
    assert_eq!(instance(&mut s, by_token(later)), None);
    assert!(s.stats().evicted_idle > 0);
    // What is left saves and reads back to the same state.
    let saved = s.save().unwrap();
    let again = Stitcher::restore(cfg, &saved).unwrap();
    assert_eq!(again.save().unwrap(), saved);
}

#[test]
fn an_idle_instance_is_packed_and_reads_and_continues_the_same() {
    const MINUTE: i64 = 60_000_000_000;
    let packing = StitchConfig::default();
    assert!(packing.pack_idle_ns > 0 && packing.pack_idle_ns < 10 * MINUTE);
    let plain = StitchConfig {
        pack_idle_ns: 0,
        ..packing
    };
    let (mut a, mut b) = (Stitcher::new(packing), Stitcher::new(plain));
    for s in [&mut a, &mut b] {
        instance(s, record("task-1", "tok-1", "trace-1:span-1", T0));
        traffic(s, T0, T0 + 10 * MINUTE);
    }
    let seen = |s: &Stitcher| format!("{:?}", *s.instances().get("task-1").unwrap());
    assert!(a.instances().packed_len() > 0, "idle instances packed");
    assert_eq!(b.instances().packed_len(), 0);
    assert_eq!(seen(&a), seen(&b), "a packed instance reads the same");
    assert_eq!(a.save().unwrap(), b.save().unwrap(), "and saves the same");
    // Its next record unpacks it and changes it as if never packed.
    for s in [&mut a, &mut b] {
        let next = record("task-1", "tok-2", "trace-1:span-2", T0 + 11 * MINUTE);
        assert_eq!(instance(s, next).as_deref(), Some("task-1"));
    }
    assert_eq!(seen(&a), seen(&b));
    assert_eq!(a.save().unwrap(), b.save().unwrap());
}

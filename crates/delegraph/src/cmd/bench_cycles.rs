//! The benchmark repeats its input files to reach the requested number of
//! events. Repeated verbatim, every cycle after the first would be the same
//! records, which the pipeline drops as duplicates (same source and id)
//! before stitching, detection or storage: the "full pipeline" figure then
//! timed hashing and dropping. Each cycle is therefore made new: its ids
//! (event, instance, session, trace, credentials) carry the cycle's number
//! and its times move past the previous cycle's, as a fleet's next period
//! would; the link hints are stated again from the edited ids.

use delegraph_decode::{DecodeError, EventSink, SinkError};
use delegraph_model::{Credential, Link, NormEvent, Origin, Timestamp};

/// Cycle `cycle` of the corpus, passed on to `inner`.
pub struct Recycled<'a, S: EventSink + ?Sized> {
    /// Where the edited events go.
    inner: &'a mut S,
    /// Which repetition this is (0: the records as they are).
    cycle: u64,
    /// How far each cycle moves in time: more than one cycle's span plus
    /// any lateness, so cycles follow one another in event time.
    shift_ns: i64,
}

impl<'a, S: EventSink + ?Sized> Recycled<'a, S> {
    /// Cycle `cycle`, moved by `shift_ns` per cycle, into `inner`.
    pub fn new(inner: &'a mut S, cycle: u64, shift_ns: i64) -> Self {
        Self {
            inner,
            cycle,
            shift_ns,
        }
    }
}

/// The time one cycle spans, from its events' earliest to latest time,
/// with a day to spare for lateness windows.
#[derive(Debug, Default)]
pub struct Span {
    first: Option<i64>,
    last: Option<i64>,
}

impl Span {
    /// Widen to include `t`.
    pub fn include(&mut self, t: Timestamp) {
        let t = t.nanos();
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// The shift between cycles.
    pub fn shift_ns(&self) -> i64 {
        const DAY: i64 = 86_400 * 1_000_000_000;
        match (self.first, self.last) {
            (Some(f), Some(l)) => l.saturating_sub(f).saturating_add(DAY),
            _ => DAY,
        }
    }
}

/// The cycle's number in front, so ids made of others (`trace:span` as an
/// instance) stay consistent with their parts renamed the same way.
fn renamed(id: &mut String, cycle: u64) {
    id.insert_str(0, &format!("{cycle}~"));
}

fn moved(t: &mut Timestamp, by: i64) {
    *t = Timestamp::from_nanos(t.nanos().saturating_add(by));
}

fn recycle_credential(c: &mut Credential, cycle: u64, by: i64) {
    renamed(&mut c.id, cycle);
    if let Some(t) = c.issued_at.as_mut() {
        moved(t, by);
    }
    if let Some(t) = c.expires_at.as_mut() {
        moved(t, by);
    }
}

impl<S: EventSink + ?Sized> Recycled<'_, S> {
    fn recycle(&self, e: &mut NormEvent) {
        let (k, by) = (self.cycle, self.shift_ns.saturating_mul(self.cycle as i64));
        let parent = e.agent.parent.clone();
        renamed(&mut e.event_id, k);
        moved(&mut e.event_time, by);
        if let Some(t) = e.end_time.as_mut() {
            moved(t, by);
        }
        for id in [
            &mut e.agent.instance_id,
            &mut e.agent.parent,
            &mut e.trace.session_id,
            &mut e.trace.trace_id,
        ]
        .into_iter()
        .flatten()
        {
            renamed(id, k);
        }
        for c in [&mut e.credential_used, &mut e.credential_issued]
            .into_iter()
            .flatten()
        {
            recycle_credential(c, k, by);
        }
        for link in &mut e.links {
            recycle_link(link, parent.as_deref(), k, by);
        }
        delegraph_decode::relink(e);
    }
}

/// The same renaming inside an edge hint; principals (people, roles) stay,
/// as they would in the fleet's next period.
fn recycle_link(link: &mut Link, parent: Option<&str>, k: u64, by: i64) {
    match link {
        Link::IssuedCredential {
            credential,
            expires_at,
            ..
        } => {
            renamed(credential, k);
            if let Some(t) = expires_at.as_mut() {
                moved(t, by);
            }
        }
        Link::UsedCredential { credential } => renamed(credential, k),
        Link::DerivedCredential { parent, child } => {
            renamed(parent, k);
            renamed(child, k);
        }
        Link::ActsFor { .. } => {}
        Link::SpanParent { trace_id, .. } => renamed(trace_id, k),
        // The caller is an instance (renamed with the event's own) or a
        // principal; the callee is an agent's name.
        Link::InvokesAgent { caller, .. } => {
            if parent.is_some_and(|p| p == caller) {
                renamed(caller, k);
            }
        }
        Link::SameTask { key, .. } => renamed(key, k),
        Link::TaskEnded { instance, at } => {
            renamed(instance, k);
            moved(at, by);
        }
    }
}

impl<S: EventSink + ?Sized> EventSink for Recycled<'_, S> {
    fn event(&mut self, mut e: NormEvent) -> Result<(), SinkError> {
        if self.cycle > 0 {
            self.recycle(&mut e);
        }
        self.inner.event(e)
    }
    fn reject(&mut self, error: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError> {
        self.inner.reject(error, origin, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::bench::Batches;
    use delegraph_decode::{DocumentDecoder, OriginBase};
    use delegraph_graph::{StitchConfig, Stitcher};

    type Attributed = (Option<String>, Option<String>, Option<String>, u32);

    /// Cycles 0 and `k` of some fixtures stitched as one stream; each
    /// cycle's attributions in time order, with cycle `k`'s prefix off.
    fn stitched(k: u64) -> (Vec<Attributed>, Vec<Attributed>) {
        let root = std::path::Path::new(
            &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../../fixtures");
        let mut kept = Batches::default();
        for cycle in [0, k] {
            for f in [
                "otlp/agent-trace.jsonl",
                "mcp/gateway.jsonl",
                "cloudtrail/assume-role-chain.jsonl",
                "task_envelope/envelopes.jsonl",
                "opa/decision-logs.json",
            ] {
                let bytes = std::fs::read(root.join(f)).unwrap_or_default();
                let base = OriginBase::File { path: f.into() };
                let mut sink = Recycled::new(&mut kept, cycle, 86_400_000_000_000);
                assert!(
                    DocumentDecoder::default()
                        .decode_document(&bytes, &base, &mut sink)
                        .is_ok()
                );
            }
        }
        let mut events = kept.buffer;
        events.sort_by_key(|e| e.event_time);
        let mut s = Stitcher::new(StitchConfig::default());
        let prefix = format!("{k}~");
        let (mut first, mut later) = (Vec::new(), Vec::new());
        for e in &mut events {
            s.attribute(e);
            let a = e.attribution.clone().unwrap_or_default();
            if e.event_id.starts_with(&prefix) {
                // A later cycle's events belong to its own instances, but
                // for role sessions, named by their ARN: principals stay.
                if let Some(id) = &a.instance {
                    assert!(
                        id.starts_with(&prefix) || id.starts_with("arn:"),
                        "{} joined {id}",
                        e.event_id
                    );
                }
                let plain = |x: &Option<String>| {
                    x.as_ref()
                        .map(|v| v.strip_prefix(&prefix).unwrap_or(v).to_owned())
                };
                later.push((
                    plain(&a.instance),
                    plain(&a.root_instance),
                    a.initiator,
                    a.depth,
                ));
            } else {
                first.push((a.instance, a.root_instance, a.initiator, a.depth));
            }
        }
        (first, later)
    }

    #[test]
    fn a_later_cycle_stitches_like_the_first_with_new_ids() {
        let (first, later) = stitched(3);
        assert!(
            first.iter().filter(|a| a.0.is_some()).count() > 10,
            "{first:?}"
        );
        assert_eq!(later, first);
    }
}

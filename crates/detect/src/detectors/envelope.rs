//! `envelope`: an action outside the task envelope a human approved for
//! the instance (a tool not approved, a resource outside the patterns, a
//! scope not granted, before it starts, after it expired, was revoked or
//! completed, past its call budget). The stitcher finds the breaches; this
//! turns the first of each kind into a finding that quotes the envelope.

use super::Ctx;
use crate::DetectorId;
use crate::detector::{Detector, EventCx, Signal, state_codec};

pub(crate) fn envelope(ctx: &Ctx<'_>) -> Vec<Signal> {
    let Some(e) = ctx.event else {
        return Vec::new();
    };
    // Most actions under an envelope breach nothing: nothing to quote.
    let Some(a) = e
        .approval()
        .filter(|a| !a.breaches.is_empty() && !e.is_approval_record())
    else {
        return Vec::new();
    };
    let env = a.envelope_id.as_deref().unwrap_or_default();
    let quote = format!(
        "envelope {env}{}{}{}",
        a.task_id
            .as_ref()
            .map(|t| format!(" for task {t}"))
            .unwrap_or_default(),
        a.approved_by
            .as_ref()
            .map(|h| format!(", approved by {h}"))
            .unwrap_or_default(),
        a.purpose
            .as_ref()
            .map(|p| format!(" (\"{p}\")"))
            .unwrap_or_default(),
    );
    a.breaches
        .iter()
        .filter_map(|b| {
            let mut s = ctx.policy(DetectorId::Envelope)?;
            // One finding per instance and kind of breach, naming the first:
            // a burst of reads outside the patterns is one alert, and every
            // breach stays listed on its event (`envelope_breaches`).
            s.subject = b.kind.clone();
            s.what = format!("acted outside its approved envelope: {}", b.detail);
            s.expected = format!("actions inside {quote}");
            s.observed = format!("{} ({})", e.operation, b.detail);
            s.evidence = vec![crate::instance::evidence(e)];
            s.credential = e.credential_used.as_ref().map(|c| c.id.clone());
            s.tags = &["owasp-agentic:T3", "owasp-nhi:NHI5", "attack:T1078"];
            Some(s)
        })
        .collect()
}

/// Stateless: the stitcher already checked each action against its
/// envelope; every breach is a finding.
pub(crate) struct Envelope;

impl Detector for Envelope {
    fn id(&self) -> DetectorId {
        DetectorId::Envelope
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        out.extend(envelope(&cx.ctx()));
    }

    state_codec!();
}

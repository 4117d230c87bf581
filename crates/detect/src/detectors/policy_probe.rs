//! `policy_probe`: an instance that keeps asking for what policy refuses —
//! a burst of denied decisions — or that gets a denied action done anyway
//! through another tool or another credential (authority drift).

use std::collections::VecDeque;

use delegraph_model::{Evidence, NormEvent};
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::DetectorId;
use crate::config::secs_to_ns;
use crate::detector::{Detector, EventCx, PerInstance, Signal, per_instance_state};
use crate::instance::evidence;

/// Denials remembered per instance.
const MAX_DENIALS: usize = 64;

/// A policy decision that refused the instance something.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Denial {
    /// Decision time (ns).
    at: i64,
    /// The tool or action asked for.
    action: Option<String>,
    /// The resource asked about.
    resource: Option<String>,
    /// The credential the request carried.
    credential: Option<String>,
    /// The decision record.
    evidence: Evidence,
}

/// Denied decisions of one instance, oldest first (bounded).
type Denials = VecDeque<Denial>;

/// Whether a denial burst just happened.
fn note_denial(ctx: &Ctx<'_>, denials: &Denials, e: &NormEvent) -> Option<Signal> {
    let at = e.event_time.nanos();
    let (burst, window) = (
        ctx.cfg.policy_burst.max(1),
        secs_to_ns(ctx.cfg.policy_burst_window_secs),
    );
    let recent: Vec<&Denial> = denials
        .iter()
        .filter(|d| d.at <= at && at - d.at <= window)
        .collect();
    if recent.len() < burst {
        return None;
    }
    let mut s = ctx.policy(DetectorId::PolicyProbe)?;
    let mut asked: Vec<String> = recent
        .iter()
        .map(|d| {
            format!(
                "{} on {}",
                d.action.as_deref().unwrap_or("?"),
                d.resource.as_deref().unwrap_or("?")
            )
        })
        .collect();
    asked.dedup();
    s.subject = "burst".into();
    let minutes = ctx.cfg.policy_burst_window_secs as f64 / 60.0;
    s.what = format!(
        "was denied {} times within {minutes} minutes: {}",
        recent.len(),
        asked.join(", ")
    );
    s.expected = format!("fewer than {burst} denied decisions per {minutes} minutes");
    s.observed = format!("{} denied decisions", recent.len());
    s.evidence = recent.iter().map(|d| d.evidence.clone()).collect();
    s.tags = &["owasp-agentic:T3", "attack:T1068"];
    Some(s)
}

/// An action (or an allowed decision) reaching a resource a recent denial
/// refused, through another tool or another credential.
fn drift(ctx: &Ctx<'_>, denials: &Denials) -> Option<Signal> {
    let e = ctx.event?;
    let at = e.event_time.nanos();
    let window = secs_to_ns(ctx.cfg.policy_drift_window_secs);
    let allowed = match &e.decision {
        Some(d) => d.allowed == Some(true),
        None => e.outcome == delegraph_model::Outcome::Success,
    };
    if !allowed {
        return None;
    }
    let tool = e
        .tool
        .as_ref()
        .map(|t| t.name.as_str())
        .or(e.decision.as_ref().and_then(|d| d.action.as_deref()));
    let cred = e.credential_used.as_ref().map(|c| c.id.as_str());
    let d = denials.iter().rev().find(|d| {
        d.at < at
            && at - d.at <= window
            && d.resource
                .as_deref()
                .is_some_and(|r| e.resources.iter().any(|x| x.id == r))
            && (d.action.as_deref() != tool
                || (cred.is_some() && d.credential.is_some() && d.credential.as_deref() != cred))
    })?;
    let resource = d.resource.clone().unwrap_or_default();
    let mut s = ctx.policy(DetectorId::PolicyProbe)?;
    s.risk = s.risk.saturating_add(10).min(100);
    let how = if d.action.as_deref() != tool {
        format!(
            "through {} after {} was denied",
            tool.unwrap_or(e.operation.as_str()),
            d.action.as_deref().unwrap_or("its request")
        )
    } else {
        format!(
            "with credential {} after the request with {} was denied",
            cred.unwrap_or("?"),
            d.credential.as_deref().unwrap_or("?")
        )
    };
    s.subject = format!("drift:{resource}");
    s.what = format!("reached {resource} {how}");
    s.expected = format!("no access to {resource} after policy denied it");
    s.observed = format!("{} on {resource}", e.operation);
    s.evidence = vec![d.evidence.clone(), evidence(e)];
    s.credential = cred.map(str::to_owned);
    s.tags = &["owasp-agentic:T3", "owasp-nhi:NHI5", "attack:T1548"];
    Some(s)
}

/// Denials per instance: bursts, and ways around them.
#[derive(Default)]
pub(crate) struct PolicyProbe {
    by_instance: PerInstance<Denials>,
}

impl Detector for PolicyProbe {
    fn id(&self) -> DetectorId {
        DetectorId::PolicyProbe
    }

    /// An action reaching what a recent denial refused.
    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        out.extend(drift(&cx.ctx(), &own));
    }

    /// A denial is remembered (bursts, and later ways around it); an
    /// allowed decision may be the way around an earlier denial.
    fn observe_approval_record(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let e = cx.event;
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        let denied = e
            .decision
            .as_ref()
            .is_some_and(|d| d.allowed == Some(false));
        if !denied {
            out.extend(drift(&cx.ctx(), &own));
            return;
        }
        if own.len() >= MAX_DENIALS {
            own.pop_front();
        }
        own.push_back(Denial {
            at: e.event_time.nanos(),
            action: e.decision.as_ref().and_then(|d| d.action.clone()),
            resource: e.resources.first().map(|r| r.id.clone()),
            credential: e.credential_used.as_ref().map(|c| c.id.clone()),
            evidence: evidence(e),
        });
        out.extend(note_denial(&cx.ctx(), &own, e));
    }

    per_instance_state!(by_instance);
}

//! `policy_probe`: an instance that keeps asking for what policy refuses —
//! a burst of denied decisions — or that gets a denied action done anyway
//! through another tool or another credential (authority drift).

use delegraph_model::NormEvent;

use super::{Ctx, Signal};
use crate::config::secs_to_ns;
use crate::profile::{Denial, evidence};

/// Denials remembered per instance.
pub(crate) const MAX_DENIALS: usize = 64;

/// Remember a denied decision; a burst is a finding.
pub(crate) fn note_denial(ctx: &Ctx<'_>, e: &NormEvent) -> Option<Signal> {
    let at = e.event_time.nanos();
    let (burst, window) = (
        ctx.cfg.policy_burst.max(1),
        secs_to_ns(ctx.cfg.policy_burst_window_secs),
    );
    let recent: Vec<&Denial> = ctx
        .profile
        .denials
        .iter()
        .filter(|d| d.at <= at && at - d.at <= window)
        .collect();
    if recent.len() < burst {
        return None;
    }
    let mut s = ctx.policy("policy_probe")?;
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
pub(crate) fn drift(ctx: &Ctx<'_>) -> Option<Signal> {
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
    let d = ctx.profile.denials.iter().rev().find(|d| {
        d.at < at
            && at - d.at <= window
            && d.resource
                .as_deref()
                .is_some_and(|r| e.resources.iter().any(|x| x.id == r))
            && (d.action.as_deref() != tool
                || (cred.is_some() && d.credential.is_some() && d.credential.as_deref() != cred))
    })?;
    let resource = d.resource.clone().unwrap_or_default();
    let mut s = ctx.policy("policy_probe")?;
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

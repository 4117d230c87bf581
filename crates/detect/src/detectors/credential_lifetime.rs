//! `credential_lifetime`: a long-lived static key used by an agent; a
//! credential used after its instance's task ended, or after it expired.

use delegraph_model::{Outcome, Timestamp};
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::DetectorId;
use crate::baseline::Observation;
use crate::credentials::Owner;
use crate::detector::{CloseCx, Detector, EventCx, PerInstance, Signal, per_instance_state};
use crate::features::{flag, metric, uses_static_key};
use crate::instance::Instance;

/// What made the use wrong, if anything.
enum LifetimeIssue {
    StaticKey,
    AfterTaskEnd { end: i64 },
    AfterExpiry { expiry: i64 },
}

fn lifetime_issue(ctx: &Ctx<'_>, expires_at: Option<i64>) -> Option<LifetimeIssue> {
    let e = ctx.event?;
    e.credential_used.as_ref()?;
    let t = e.event_time.nanos();
    if uses_static_key(e) {
        return Some(LifetimeIssue::StaticKey);
    }
    let grace = crate::config::secs_to_ns(ctx.cfg.after_task_grace_secs);
    if let Some(end) = ctx.profile.task_end
        && t > end.saturating_add(grace)
    {
        return Some(LifetimeIssue::AfterTaskEnd { end });
    }
    match expires_at {
        Some(x) if t > x && e.outcome != Outcome::Failure && e.outcome != Outcome::Denied => {
            Some(LifetimeIssue::AfterExpiry { expiry: x })
        }
        _ => None,
    }
}

/// A credential valid far longer after its task than the agent's usually
/// are (an hour-long key for a two-minute task is normal if every instance
/// gets one; a twelve-hour key is not).
fn credential_slack(ctx: &Ctx<'_>, slack: Option<&(String, u64)>) -> Option<Signal> {
    let (cred, minutes) = slack?;
    let (p, mean, sd) = super::count_p(ctx, metric::CREDENTIAL_SLACK, *minutes);
    let mut s = ctx.statistical(DetectorId::CredentialLifetime, p)?;
    s.subject = format!("slack:{cred}");
    s.what = format!("held credential {cred}, still valid {minutes} min after its task ended");
    s.expected = format!(
        "credentials valid {mean:.0} ± {sd:.0} min past task end, learned from {}",
        ctx.history_phrase()
    );
    s.observed = format!(
        "{minutes} min of validity left (p = {})",
        crate::stats::fmt_p(p)
    );
    s.credential = Some(cred.clone());
    s.tags = TAGS;
    Some(s)
}

const TAGS: &[&str] = &[
    "owasp-nhi:NHI7",
    "owasp-nhi:NHI1",
    "owasp-agentic:T3",
    "attack:T1078.004",
];

fn minutes(ns: i64) -> String {
    let m = ns as f64 / 60e9;
    if m < 120.0 {
        format!("{m:.0} min")
    } else {
        format!("{:.1} h", m / 60.0)
    }
}

/// The signal, and whether the use came after the task ended.
fn credential_lifetime(ctx: &Ctx<'_>, expires_at: Option<i64>) -> Option<(Signal, bool)> {
    let e = ctx.event?;
    let issue = lifetime_issue(ctx, expires_at)?;
    let after_end = matches!(issue, LifetimeIssue::AfterTaskEnd { .. });
    let cred = e.credential_used.as_ref()?.id.clone();
    let hist = |f: &str| ctx.baseline.map(|b| b.flag(f)).unwrap_or(0.0);
    let t = e.event_time.nanos();
    let (mut s, subject, what, observed) = match issue {
        LifetimeIssue::StaticKey => (
            ctx.definite(DetectorId::CredentialLifetime, hist(flag::STATIC_KEY))?,
            format!("static:{cred}"),
            format!("used the long-lived static key {cred} ({})", e.operation),
            format!("static key {cred}"),
        ),
        LifetimeIssue::AfterTaskEnd { end } => (
            ctx.definite(DetectorId::CredentialLifetime, hist(flag::AFTER_TASK_END))?,
            format!("after_end:{cred}"),
            format!(
                "used credential {cred} {} after its task ended at {} ({})",
                minutes(t - end),
                Timestamp::from_nanos(end).to_rfc3339_secs(),
                e.operation
            ),
            format!("used {} after task end", minutes(t - end)),
        ),
        LifetimeIssue::AfterExpiry { expiry } => (
            ctx.definite(DetectorId::CredentialLifetime, 0.0)?,
            format!("expired:{cred}"),
            format!(
                "used credential {cred} {} after it expired at {}",
                minutes(t - expiry),
                Timestamp::from_nanos(expiry).to_rfc3339_secs()
            ),
            format!("used {} after expiry", minutes(t - expiry)),
        ),
    };
    s.subject = subject;
    s.what = what;
    s.observed = observed;
    s.expected = format!(
        "short-lived credentials used only while the task runs, as in {}",
        ctx.history_phrase()
    );
    s.evidence = vec![crate::instance::evidence(e)];
    s.credential = Some(cred);
    s.tags = TAGS;
    Some((s, after_end))
}

/// How an instance used credentials, for what its agent learns.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct UseFlags {
    static_key: bool,
    after_task_end: bool,
}

/// Each use of a credential: a static key, after the task, after expiry.
#[derive(Default)]
pub(crate) struct CredentialLifetime {
    by_instance: PerInstance<UseFlags>,
}

impl Detector for CredentialLifetime {
    fn id(&self) -> DetectorId {
        DetectorId::CredentialLifetime
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        if uses_static_key(cx.event) {
            own.static_key = true;
        }
        let expires = cx.credential.and_then(|c| c.expires_at);
        if let Some((s, after_end)) = credential_lifetime(&cx.ctx(), expires) {
            own.after_task_end |= after_end;
            out.push(s);
        }
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        if let Some(own) = self.by_instance.get(instance.slot) {
            if own.static_key {
                obs.flags.insert(flag::STATIC_KEY);
            }
            if own.after_task_end {
                obs.flags.insert(flag::AFTER_TASK_END);
            }
        }
    }

    per_instance_state!(by_instance);
}

/// Most credentials remembered per instance.
const MAX_CREDENTIALS_PER_INSTANCE: usize = 64;

/// The credentials an instance used, and when it closed, the one of its own
/// that stayed valid longest after its task ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Held {
    credentials: Vec<String>,
    /// (credential, minutes of validity left at task end).
    slack: Option<(String, u64)>,
}

/// Credentials still valid long after the task ended, against the agent's
/// usual slack: a separate check of `credential_lifetime` that judges an
/// instance when it closes.
#[derive(Default)]
pub(crate) struct CredentialSlack {
    by_instance: PerInstance<Held>,
}

impl Detector for CredentialSlack {
    fn id(&self) -> DetectorId {
        DetectorId::CredentialLifetime
    }

    fn state_key(&self) -> &'static str {
        "credential_slack"
    }

    fn observe(&mut self, cx: &EventCx<'_>, _out: &mut Vec<Signal>) {
        let Some(c) = &cx.event.credential_used else {
            return;
        };
        let mut own = self.by_instance.slot(cx.instance.slot, cx.is_open);
        if own.credentials.len() < MAX_CREDENTIALS_PER_INSTANCE && !own.credentials.contains(&c.id)
        {
            own.credentials.push(c.id.clone());
        }
    }

    /// How long past its task the instance's own credentials stayed valid.
    fn settle(&mut self, cx: &CloseCx<'_>) {
        let p = cx.instance;
        let Some(end) = p.task_end else { return };
        let own = self.by_instance.get_mut(p.slot);
        let me = Owner::Chain(p.instance.clone());
        own.slack = own
            .credentials
            .iter()
            .filter_map(|c| {
                let u = cx.credentials.peek(c)?;
                let x = u.expires_at?;
                (u.owner == me && x > end).then(|| (c.clone(), ((x - end) / 60_000_000_000) as u64))
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        let own = self.by_instance.get(cx.instance.slot);
        let slack = own.as_ref().and_then(|h| h.slack.as_ref());
        out.extend(credential_slack(&cx.ctx(), slack));
    }

    fn learn(&self, instance: &Instance, obs: &mut Observation) {
        let own = self.by_instance.get(instance.slot);
        if let Some((_, minutes)) = own.as_ref().and_then(|h| h.slack.as_ref()) {
            obs.counts.insert(metric::CREDENTIAL_SLACK, *minutes);
        }
    }

    per_instance_state!(by_instance);
}

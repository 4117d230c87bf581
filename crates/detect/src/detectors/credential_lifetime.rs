//! `credential_lifetime`: a long-lived static key used by an agent; a
//! credential used after its instance's task ended, or after it expired.

use super::{Ctx, Signal};
use crate::features::{flag, metric, uses_static_key};
use delegraph_model::{Outcome, Timestamp};

/// What made the use wrong, if anything.
pub(crate) enum LifetimeIssue {
    StaticKey,
    AfterTaskEnd { end: i64 },
    AfterExpiry { expiry: i64 },
}

pub(crate) fn lifetime_issue(ctx: &Ctx<'_>, expires_at: Option<i64>) -> Option<LifetimeIssue> {
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
pub(crate) fn credential_slack(ctx: &Ctx<'_>) -> Option<Signal> {
    let (cred, minutes) = ctx.profile.credential_slack.as_ref()?;
    let (p, mean, sd) = super::count_p(ctx, metric::CREDENTIAL_SLACK, *minutes);
    let mut s = ctx.statistical("credential_lifetime", p)?;
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

pub(crate) fn credential_lifetime(ctx: &Ctx<'_>, expires_at: Option<i64>) -> Option<Signal> {
    let e = ctx.event?;
    let issue = lifetime_issue(ctx, expires_at)?;
    let cred = e.credential_used.as_ref()?.id.clone();
    let hist = |f: &str| ctx.baseline.map(|b| b.flag(f)).unwrap_or(0.0);
    let t = e.event_time.nanos();
    let (mut s, subject, what, observed) = match issue {
        LifetimeIssue::StaticKey => (
            ctx.definite("credential_lifetime", hist(flag::STATIC_KEY))?,
            format!("static:{cred}"),
            format!("used the long-lived static key {cred} ({})", e.operation),
            format!("static key {cred}"),
        ),
        LifetimeIssue::AfterTaskEnd { end } => (
            ctx.definite("credential_lifetime", hist(flag::AFTER_TASK_END))?,
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
            ctx.definite("credential_lifetime", 0.0)?,
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
    s.evidence = vec![crate::profile::evidence(e)];
    s.credential = Some(cred);
    s.tags = TAGS;
    Some(s)
}

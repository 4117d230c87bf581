//! `shared_identity`: a credential presented by more than one agent
//! instance (different delegation roots), or by a human and an agent.

use delegraph_model::Evidence;
use serde::{Deserialize, Serialize};

use super::{Ctx, Signal};

/// Who first used a credential, and how it was seen since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredentialUse {
    /// Root instance, or `human:<id>`.
    pub owner: String,
    /// The event that first showed it.
    pub first: Evidence,
    /// When it expires, when an issuance said.
    pub expires_at: Option<i64>,
    /// It was used from a program (SDK, agent runtime, gateway).
    pub program_client: bool,
    /// It was used from a person's client (browser, console, shell CLI).
    pub human_client: bool,
}

/// Which kind of client a user agent names: `Some(true)` a person's
/// (browser, AWS console, interactive CLI), `Some(false)` a program's.
pub(crate) fn human_client(user_agent: Option<&str>) -> Option<bool> {
    let ua = user_agent?;
    const HUMAN: [&str; 4] = [
        "Mozilla/",
        "console.amazonaws.com",
        "signin.amazonaws.com",
        "aws-cli/",
    ];
    Some(HUMAN.iter().any(|h| ua.contains(h)) && !ua.contains("exec-env/"))
}

/// A credential that programs used is now used from a person's client (or
/// the reverse): someone is borrowing the agent's identity.
pub(crate) fn client_switch(ctx: &Ctx<'_>, cred: &str) -> Option<Signal> {
    let e = ctx.event?;
    let ua = e.user_agent.as_deref().unwrap_or("");
    let mut s = ctx.definite("shared_identity", 0.0)?;
    s.subject = format!("{cred}:clients");
    s.what = format!(
        "holds credential {cred}, used both by programs and from a person's client ({ua}, {})",
        e.operation
    );
    s.expected = format!(
        "an agent's credentials used from its runtime only, as in {}",
        ctx.history_phrase()
    );
    s.observed = format!("{cred} used from program and human clients");
    s.evidence = vec![crate::profile::evidence(e)];
    s.credential = Some(cred.to_owned());
    s.tags = TAGS;
    Some(s)
}

/// `user` is this event's root instance or `human:<id>`.
pub(crate) fn shared_identity(
    ctx: &Ctx<'_>,
    cred: &str,
    owner: &CredentialUse,
    user: &str,
) -> Option<Signal> {
    if owner.owner == user || owner.owner.is_empty() {
        return None;
    }
    let e = ctx.event?;
    let mut s = ctx.definite("shared_identity", 0.0)?;
    let whose = match owner.owner.strip_prefix("human:") {
        Some(h) => format!("the human {h}"),
        None => format!("instance {}", owner.owner),
    };
    s.subject = format!("{cred}:{}", owner.owner);
    s.what = format!("presented credential {cred}, which {whose} used first");
    s.expected = format!(
        "each credential used by one delegation chain, as in {}",
        ctx.history_phrase()
    );
    s.observed = format!("{cred} used by {whose} and by this instance");
    s.evidence = vec![owner.first.clone(), crate::profile::evidence(e)];
    s.credential = Some(cred.to_owned());
    s.tags = TAGS;
    Some(s)
}

const TAGS: &[&str] = &[
    "owasp-nhi:NHI9",
    "owasp-nhi:NHI10",
    "owasp-agentic:T9",
    "attack:T1550.001",
];

/// This instance's tool calls coincide with uses of a finished instance's
/// credential (see `coincidence`).
pub(crate) fn borrowed_credential(ctx: &Ctx<'_>, m: &crate::coincidence::Match) -> Option<Signal> {
    let mut s = ctx.definite("shared_identity", 0.0)?;
    s.subject = format!("{}:{}", m.credential, m.owner);
    s.what = format!(
        "appears to act with credential {} of instance {}, whose task had ended: {} uses of it coincide with this instance's tool calls",
        m.credential, m.owner, m.count
    );
    s.expected = format!(
        "each credential used by one delegation chain, as in {}",
        ctx.history_phrase()
    );
    s.observed = format!(
        "{} used after its owner's task ended, in step with this instance",
        m.credential
    );
    s.evidence = m.evidence.to_vec();
    s.credential = Some(m.credential.clone());
    s.tags = TAGS;
    Some(s)
}

/// A human used, directly, a credential this agent instance holds.
pub(crate) fn human_reuse(ctx: &Ctx<'_>, cred: &str, human: &str) -> Option<Signal> {
    let e = ctx.event?;
    let mut s = ctx.definite("shared_identity", 0.0)?;
    s.subject = format!("{cred}:human:{human}");
    s.what = format!(
        "holds credential {cred}, which the human {human} also used directly ({})",
        e.operation
    );
    s.expected = format!(
        "an agent's credentials used by the agent alone, as in {}",
        ctx.history_phrase()
    );
    s.observed = format!("{cred} used by this instance and by {human}");
    s.evidence = vec![crate::profile::evidence(e)];
    s.credential = Some(cred.to_owned());
    s.tags = TAGS;
    Some(s)
}

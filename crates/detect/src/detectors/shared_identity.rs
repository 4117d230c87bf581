//! `shared_identity`: a credential presented by more than one agent
//! instance (different delegation roots), or by a human and an agent.

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::DetectorId;
use crate::coincidence::{Coincidences, MIN_MATCHES, Match};
use crate::credentials::{CredentialUse, Owner};
use crate::detector::{Detector, EventCx, Signal, Target, UnattributedCx, state_codec};
use crate::features::tool_name;
use crate::instance::evidence;

/// A credential that programs used is now used from a person's client (or
/// the reverse): someone is borrowing the agent's identity.
fn client_switch(ctx: &Ctx<'_>, cred: &str) -> Option<Signal> {
    let e = ctx.event?;
    let ua = e.user_agent.as_deref().unwrap_or("");
    let mut s = ctx.definite(DetectorId::SharedIdentity, 0.0)?;
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
    s.evidence = vec![evidence(e)];
    s.credential = Some(cred.to_owned());
    s.tags = TAGS;
    Some(s)
}

/// `user` is this event's root instance or `human:<id>`.
fn shared_identity(ctx: &Ctx<'_>, cred: &str, owner: &CredentialUse) -> Option<Signal> {
    let e = ctx.event?;
    let mut s = ctx.definite(DetectorId::SharedIdentity, 0.0)?;
    let whose = match &owner.owner {
        Owner::Human(h) => format!("the human {h}"),
        Owner::Chain(root) => format!("instance {root}"),
        Owner::Nobody => return None,
    };
    s.subject = format!("{cred}:{}", owner_key(&owner.owner));
    s.what = format!("presented credential {cred}, which {whose} used first");
    s.expected = format!(
        "each credential used by one delegation chain, as in {}",
        ctx.history_phrase()
    );
    s.observed = format!("{cred} used by {whose} and by this instance");
    s.evidence = vec![owner.first.clone(), evidence(e)];
    s.credential = Some(cred.to_owned());
    s.tags = TAGS;
    Some(s)
}

/// How an owner is written in finding subjects (and so in finding ids,
/// which must not change): the root instance, or `human:<id>`.
fn owner_key(owner: &Owner) -> String {
    match owner {
        Owner::Chain(root) => root.clone(),
        Owner::Human(h) => format!("human:{h}"),
        Owner::Nobody => String::new(),
    }
}

const TAGS: &[&str] = &[
    "owasp-nhi:NHI9",
    "owasp-nhi:NHI10",
    "owasp-agentic:T9",
    "attack:T1550.001",
];

/// This instance's tool calls coincide with uses of a finished instance's
/// credential (see `coincidence`).
fn borrowed_credential(ctx: &Ctx<'_>, m: &Match) -> Option<Signal> {
    let mut s = ctx.definite(DetectorId::SharedIdentity, 0.0)?;
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
fn human_reuse(ctx: &Ctx<'_>, cred: &str, human: &str) -> Option<Signal> {
    let e = ctx.event?;
    let mut s = ctx.definite(DetectorId::SharedIdentity, 0.0)?;
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
    s.evidence = vec![evidence(e)];
    s.credential = Some(cred.to_owned());
    s.tags = TAGS;
    Some(s)
}

/// Credentials used by more than one chain, by a person's client, by a
/// human directly, or (matched in time) by another instance after their
/// owner's task ended.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct SharedIdentity {
    coincidences: Coincidences,
}

impl Detector for SharedIdentity {
    fn id(&self) -> DetectorId {
        DetectorId::SharedIdentity
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let (Some(c), Some(facts)) = (&cx.event.credential_used, cx.credential) else {
            return;
        };
        let ctx = cx.ctx();
        if let Some(owner) = &facts.other_owner {
            out.extend(shared_identity(&ctx, &c.id, owner));
        }
        if facts.switched {
            out.extend(client_switch(&ctx, &c.id));
        }
    }

    /// Uses inside the grace period are not findings by themselves, but
    /// matched against another instance's tool calls they are evidence.
    fn follow_up(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        let (e, p) = (cx.event, cx.instance);
        let t = e.event_time.nanos();
        let mut found: Vec<Match> = Vec::new();
        if tool_name(e).is_some() && !e.echoes_span() {
            let end = e.end_time.map_or(t, |x| x.nanos());
            found.extend(
                self.coincidences
                    .tool_call(cx.agent, &p.root, t, end, evidence(e)),
            );
        }
        let past_end = p.task_end.is_some_and(|end| t > end);
        if past_end && let Some(c) = &e.credential_used {
            found.extend(
                self.coincidences
                    .orphan_use(cx.agent, &p.root, &c.id, t, evidence(e)),
            );
        }
        for m in found.into_iter().filter(|m| m.count == MIN_MATCHES) {
            if m.user == p.root {
                // Reported under the agent on the instance's own record.
                let agent = p.agent_key();
                if let Some(mut s) = borrowed_credential(&cx.ctx_of(p, &agent), &m) {
                    s.target = Target::ThisByRecord;
                    out.push(s);
                }
            } else if let Some((user, agent, _)) = cx.other(&m.user)
                && let Some(mut s) = borrowed_credential(&cx.ctx_of(&user, &agent), &m)
            {
                s.target = Target::Other {
                    instance: m.user.clone(),
                    event_chain: false,
                };
                out.push(s);
            }
        }
    }

    /// A human acting directly with a credential an open agent instance
    /// holds: a finding on that instance.
    fn observe_unattributed(&mut self, cx: &UnattributedCx<'_>, out: &mut Vec<Signal>) {
        let Some(CredentialUse {
            owner: Owner::Chain(holder),
            ..
        }) = &cx.credential.other_owner
        else {
            return;
        };
        let Some(c) = &cx.event.credential_used else {
            return;
        };
        let Some((p, agent, _)) = cx.other(holder) else {
            return;
        };
        if let Some(mut s) = human_reuse(&cx.ctx_of(&p, &agent), &c.id, cx.human) {
            s.target = Target::Other {
                instance: holder.clone(),
                event_chain: false,
            };
            out.push(s);
        }
    }

    state_codec!(coincidences);
}

//! `privilege_escalation`: an agent changing who may do what (IAM keys,
//! policies, login profiles, role trust; IdP role and group grants; GitHub
//! org and repository permissions).

use super::Ctx;
use crate::DetectorId;
use crate::detector::{Detector, EventCx, Signal, state_codec};
use crate::features::{dim, is_permission_change};

pub(crate) fn privilege_escalation(ctx: &Ctx<'_>) -> Option<Signal> {
    let e = ctx.event?;
    if !is_permission_change(e) {
        return None;
    }
    let op = e.operation.as_str();
    let hits = ctx
        .baseline
        .map(|b| b.item_weight(dim::PERMISSION_CHANGE, op))
        .unwrap_or(0.0);
    let mut s = ctx.definite(DetectorId::PrivilegeEscalation, hits)?;
    let admin = e.raw.contains("AdministratorAccess") || e.raw.contains("\"*\"");
    if admin {
        s.risk = s.risk.saturating_add(10).min(100);
    }
    let verb = op.rsplit(':').next().unwrap_or(op);
    let target = e
        .resources
        .first()
        .map(|r| format!(" on {}", r.id))
        .unwrap_or_default();
    s.subject = op.to_owned();
    s.what = format!(
        "made a permission change: {verb}{target}{}",
        if admin {
            " granting administrator access"
        } else {
            ""
        }
    );
    s.expected = format!("{verb} made by {hits:.0} of {}", ctx.history_phrase());
    s.observed = format!("{op} by an agent instance");
    s.evidence = vec![crate::instance::evidence(e)];
    s.credential = e.credential_used.as_ref().map(|c| c.id.clone());
    s.tags = if verb == "CreateAccessKey" || verb.contains("Credential") {
        &["owasp-nhi:NHI5", "owasp-agentic:T3", "attack:T1098.001"]
    } else if verb.contains("Policy") || verb.contains("Role") {
        &["owasp-nhi:NHI5", "owasp-agentic:T3", "attack:T1098.003"]
    } else if verb == "CreateUser" {
        &["owasp-nhi:NHI5", "owasp-agentic:T3", "attack:T1136.003"]
    } else {
        &["owasp-nhi:NHI5", "owasp-agentic:T3", "attack:T1098"]
    };
    Some(s)
}

/// Stateless: one finding per permission change.
pub(crate) struct PrivilegeEscalation;

impl Detector for PrivilegeEscalation {
    fn id(&self) -> DetectorId {
        DetectorId::PrivilegeEscalation
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        out.extend(privilege_escalation(&cx.ctx()));
    }

    state_codec!();
}

//! CloudTrail's identity knowledge as link hints: access keys, role
//! sessions and role chaining, and Verified Permissions decisions that name
//! their agent instance.
//!
//! AWS keys identify an instance only from their issuance: a key a call
//! was made with belongs to whoever `AssumeRole*` issued it to, so
//! CloudTrail records bind no credential from use.

use delegraph_model::{Category, Link, LinkHints, NormEvent, Resolve, SessionIssue};

/// The link pass of CloudTrail records.
pub(super) fn link(e: &mut NormEvent) {
    let mut h = LinkHints::default();
    let named = e
        .is_approval_record()
        .then(|| crate::links::named_by_approval(e))
        .flatten();
    if let Some(named) = named {
        // A Verified Permissions decision about an agent instance.
        h.resolve.push(named);
        e.hints = h;
        return;
    }
    let used = e.credential_used.as_ref().map(|c| c.id.as_str());
    if let Some(key) = used {
        h.resolve.push(Resolve::Credential {
            credential: key.to_owned(),
            basis: ["credential ", key, " issued earlier"].concat().into(),
        });
    }
    if e.actor.vendor_type.as_deref() == Some("AssumedRole") {
        // A role session whose issuance was not seen: the session is the
        // instance, unless telemetry already named an instance like it.
        h.resolve.push(Resolve::UnseenSession {
            name: e
                .trace
                .session_id
                .clone()
                .unwrap_or_else(|| e.actor.id.clone()),
            id: e.actor.id.clone(),
            agent: e.delegation_chain.first().cloned(),
            basis: "role session".into(),
        });
    }
    h.resolve.push(Resolve::Human {
        basis: "human principal acting directly".into(),
    });
    h.resolve.push(Resolve::Unresolved {
        reason: ["no issuance seen for ", used.unwrap_or("its credential")]
            .concat()
            .into(),
    });
    if e.category == Category::CredentialIssue {
        h.issues = session_issue(e).map(Box::new);
    }
    e.hints = h;
}

/// An `AssumeRole*` that issued a key to a role session: role chaining
/// keeps the caller's instance; a human's (or unknown) call starts one. A
/// web identity (OIDC workload token) exchanging for a session is that
/// session's first act.
fn session_issue(e: &NormEvent) -> Option<SessionIssue> {
    let issued = e.credential_issued.as_ref()?;
    let session = e.links.iter().find_map(|l| match l {
        Link::IssuedCredential { to, .. }
            if to.starts_with("arn:") && to.contains(":assumed-role/") =>
        {
            Some(to.clone())
        }
        _ => None,
    })?;
    Some(SessionIssue {
        credential: issued.id.clone(),
        name: session_name(&session).to_owned(),
        agent: role_arn(&session),
        session,
        basis: "token exchange that started this session".into(),
    })
}

/// The role session name: the last segment of a session ARN.
fn session_name(session_arn: &str) -> &str {
    session_arn.rsplit('/').next().unwrap_or(session_arn)
}

/// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` → `arn:aws:iam::ACCT:role/ROLE`.
fn role_arn(session_arn: &str) -> Option<String> {
    let rest = session_arn.strip_prefix("arn:aws:sts::")?;
    let (account, path) = rest.split_once(":assumed-role/")?;
    let role = path.split('/').next()?;
    Some(format!("arn:aws:iam::{account}:role/{role}"))
}

/// The IAM role behind an actor: the session issuer its delegation chain
/// starts with, else the role of its assumed-role session ARN.
pub(crate) fn role_of(e: &NormEvent) -> Option<String> {
    if let Some(first) = e.delegation_chain.first().filter(|c| c.contains(":role/")) {
        return Some(first.clone());
    }
    role_arn(&e.actor.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_of_a_session_arn() {
        assert_eq!(
            role_arn("arn:aws:sts::123:assumed-role/support-agent/s-1").as_deref(),
            Some("arn:aws:iam::123:role/support-agent")
        );
        assert_eq!(role_arn("arn:aws:iam::123:user/alice"), None);
        assert_eq!(session_name("arn:aws:sts::1:assumed-role/r/s-1"), "s-1");
    }
}

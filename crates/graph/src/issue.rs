//! Credentials and the sessions they open: what a resolved record teaches
//! the indexes ([`Bind`]), and sessions a record issued a credential for
//! ([`SessionIssue`]: role chaining keeps the caller's instance, anything
//! else starts one).

use std::sync::Arc;

use delegraph_model::{Bind, NormEvent, SessionIssue};

use crate::binding::{Binding, Resolved, human_or};
use crate::index::{Indexes, instance_key};

impl Indexes {
    /// Bind the session, span and credential keys a record of instance `b`
    /// states; a credential keeps the first instance it was bound to.
    pub(crate) fn bind(&mut self, binds: &[Bind], b: &Arc<Binding>, at: i64) {
        for bind in binds {
            match bind {
                Bind::Session { key } => self.set_session(key.clone(), b.clone(), at),
                Bind::Span { span } => self.bind_span(span.clone(), b.clone(), at),
                Bind::Credential { credential } => {
                    if !self.creds.contains(credential) {
                        self.bind_credential(credential.clone(), b.clone(), at);
                    }
                }
            }
        }
    }

    /// Bind the credential a record issued to the session it opened, by
    /// the record's own resolution (its caller). A caller no one is known
    /// for makes the record the session's first act: it resolves to it.
    pub(crate) fn issue(
        &mut self,
        issue: &SessionIssue,
        e: &NormEvent,
        caller: Resolved,
        at: i64,
    ) -> Resolved {
        let child = match &caller {
            Resolved::Instance(p, _) if p.spawns => {
                let human = e.on_behalf_of.clone();
                let human = human.or_else(|| p.human.as_deref().map(str::to_owned));
                self.session_instance(issue, e, human, at)
            }
            Resolved::Instance(p, _) => {
                let mut chain = p.chain.clone();
                chain.push(issue.session.as_str().into());
                Arc::new(Binding {
                    human: human_or(e.on_behalf_of.as_ref(), &p.human),
                    chain,
                    depth: p.depth + 1,
                    ..(**p).clone()
                })
            }
            Resolved::Human(h, _) => {
                let human = e.on_behalf_of.clone().or_else(|| Some(h.clone()));
                self.session_instance(issue, e, human, at)
            }
            Resolved::Unattributed(_) => {
                self.session_instance(issue, e, e.on_behalf_of.clone(), at)
            }
        };
        self.bind_credential(issue.credential.clone(), child.clone(), at);
        match caller {
            Resolved::Unattributed(_) => Resolved::Instance(child, issue.basis.clone()),
            resolved => resolved,
        }
    }

    /// The instance a new session starts: one telemetry already named like
    /// the session, else the session itself, as the issued role's agent.
    fn session_instance(
        &mut self,
        issue: &SessionIssue,
        e: &NormEvent,
        human: Option<String>,
        at: i64,
    ) -> Arc<Binding> {
        if let Some(b) = self.session(&instance_key(&issue.name), at) {
            return b;
        }
        let known = self.root_instance(issue.session.clone(), e, human, at);
        let mut b = (*known).clone();
        b.agent_id = issue.agent.clone();
        b.spawns = false;
        b.agent_name = Some(issue.name.clone());
        let b = Arc::new(b);
        self.set_session(instance_key(&issue.session), b.clone(), at);
        b
    }
}

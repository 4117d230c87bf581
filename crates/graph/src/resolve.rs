//! Resolving a record's [`Resolve`] hints to an instance: the first of its
//! ways that applies decides. Spans and sub-agents, sessions and named
//! instances, unseen long-lived sessions and principals — in terms of keys,
//! never of a log format.

use std::sync::Arc;

use delegraph_model::{ActorKind, HintText, NormEvent, Resolve};

use crate::binding::{Binding, Resolved, human_or};
use crate::index::{Indexes, instance_key};

impl Indexes {
    /// The record's instance (or human, or why neither), by its hints.
    pub(crate) fn resolve(&mut self, e: &NormEvent, at: i64) -> Resolved {
        e.hints
            .resolve
            .iter()
            .find_map(|way| self.try_way(way, e, at))
            .unwrap_or_else(|| {
                Resolved::Unattributed("no link hint ties the record to an instance".into())
            })
    }

    /// One way, when it applies.
    fn try_way(&mut self, way: &Resolve, e: &NormEvent, at: i64) -> Option<Resolved> {
        let instance = |b: Arc<Binding>, basis: &HintText| Resolved::Instance(b, basis.clone());
        match way {
            Resolve::Credential { credential, basis } => {
                self.credential(credential, at).map(|b| instance(b, basis))
            }
            Resolve::ChildSpan { parent, basis } => {
                self.span(parent, at).map(|b| instance(b, basis))
            }
            Resolve::SameAgentSpan { parent, basis } => self
                .span(parent, at)
                .filter(|p| p.agent_name.is_some() && p.agent_name == e.agent.name)
                .map(|b| instance(b, basis)),
            Resolve::SubAgent { parent, instance } => {
                let p = self.span(parent, at)?;
                Some(self.sub_agent(&p, instance, e, at))
            }
            Resolve::Session { key, basis } => self.session(key, at).map(|b| instance(b, basis)),
            Resolve::UnseenSession {
                name,
                id,
                agent,
                basis,
            } => Some(instance(self.unseen_session(name, id, agent, e, at), basis)),
            Resolve::Human { basis } => (e.actor_kind == ActorKind::Human).then(|| {
                Resolved::Human(
                    e.actor.id.clone(),
                    [basis, " (", e.actor_kind_basis.as_str(), ")"].concat(),
                )
            }),
            Resolve::Instance {
                id,
                human,
                aliases,
                basis,
            } => {
                let b = self.root_instance(id.clone(), e, human.clone(), at);
                for key in aliases {
                    self.set_session(key.clone(), b.clone(), at);
                }
                Some(instance(b, basis))
            }
            Resolve::Principal { id, shared } => Some(self.principal(id, *shared, e, at)),
            Resolve::Unresolved { reason } => Some(Resolved::Unattributed(reason.clone())),
        }
    }

    /// A sub-agent instance `id` one level below the parent span's instance,
    /// for the human the record names, else the parent's.
    fn sub_agent(&mut self, p: &Binding, id: &str, e: &NormEvent, at: i64) -> Resolved {
        let mut chain = p.chain.clone();
        let id: Arc<str> = id.into();
        chain.push(id.clone());
        let b = Arc::new(Binding {
            instance: id.clone(),
            root: p.root.clone(),
            agent_id: e.agent.agent_id.clone(),
            agent_name: e.agent.name.clone(),
            human: human_or(e.on_behalf_of.as_ref(), &p.human),
            chain,
            depth: p.depth + 1,
            spawns: false,
            per_principal: false,
        });
        self.set_session(instance_key(&id), b.clone(), at);
        Resolved::Instance(b, format!("sub-agent of {}", p.instance).into())
    }

    /// A long-lived session whose start was not seen: the instance named
    /// `name` if known, else the session `id` as an instance that spawns.
    fn unseen_session(
        &mut self,
        name: &str,
        id: &str,
        agent: &Option<String>,
        e: &NormEvent,
        at: i64,
    ) -> Arc<Binding> {
        if let Some(b) = self.session(&instance_key(name), at) {
            return b;
        }
        let known = self.root_instance(id.to_owned(), e, e.on_behalf_of.clone(), at);
        let mut b = (*known).clone();
        b.agent_id = b.agent_id.or_else(|| agent.clone());
        b.spawns = true;
        let b = Arc::new(b);
        self.set_session(instance_key(id), b.clone(), at);
        b
    }

    /// A non-human principal's instance; a shared one is marked so the
    /// human each record names wins.
    fn principal(&mut self, id: &str, shared: bool, e: &NormEvent, at: i64) -> Resolved {
        let mut b = self.root_instance(id.to_owned(), e, e.on_behalf_of.clone(), at);
        if shared && !b.per_principal {
            let mut x = (*b).clone();
            x.per_principal = true;
            b = Arc::new(x);
            self.set_session(instance_key(id), b.clone(), at);
        }
        let basis = match e.actor_kind {
            ActorKind::Agent | ActorKind::SubAgent => "agent identity",
            _ => "non-human principal",
        };
        Resolved::Instance(b, basis.into())
    }
}

//! Binding actions to the approvals they ran under: the task envelope a
//! human approved for the instance (or its root), and the policy decision
//! that allowed the action.
//!
//! A decision is bound by the id the runtime propagated when there is one;
//! else by the instance's latest decision for the same tool or action within
//! a short window before the action (a decision precedes what it allows);
//! else the envelope's own approving decision stands for it. State is
//! bounded (LRU by instance and by decision id) and saved with the stitcher.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use delegraph_model::{
    Approval, Breach, Category, EnvelopeChange, NormEvent, Source, TaskEnvelope, Timestamp,
};
use lru::LruCache;
use serde::{Deserialize, Serialize};

/// Decisions remembered per instance for binding by time.
const RECENT_PER_INSTANCE: usize = 64;

/// An envelope in force for an instance, with what it has been used for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EnvelopeState {
    envelope: TaskEnvelope,
    /// Revoked or completed, and when.
    ended: Option<(EnvelopeChange, i64)>,
    /// Tool calls made under it.
    calls: u64,
}

/// What is kept of a decision to bind actions to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DecisionNote {
    id: String,
    at: i64,
    allowed: Option<bool>,
    action: Option<String>,
    resource: Option<String>,
}

/// Limits of the approval book.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApprovalLimits {
    pub window_ns: i64,
    pub lookback_ns: i64,
    pub max_instances: usize,
    pub max_decisions: usize,
}

/// The approval book as saved between runs.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct SavedApprovals {
    envelopes: Vec<(String, EnvelopeState)>,
    decisions: Vec<(String, DecisionNote)>,
    recent: Vec<(String, VecDeque<DecisionNote>)>,
}

/// Envelopes by instance, decisions by id and by instance.
pub(crate) struct ApprovalBook {
    limits: ApprovalLimits,
    envelopes: LruCache<String, EnvelopeState>,
    decisions: LruCache<String, DecisionNote>,
    recent: LruCache<String, VecDeque<DecisionNote>>,
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN)
}

/// An item the envelope lists, exactly or by a `*` pattern.
fn allowed_by(patterns: &[String], item: &str) -> bool {
    patterns.iter().any(|p| crate::wildcard(p, item))
}

fn listed(items: &[String]) -> String {
    const MAX: usize = 8;
    let mut s = items.iter().take(MAX).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > MAX {
        s.push_str(&format!(", and {} more", items.len() - MAX));
    }
    format!("[{s}]")
}

fn time(ns: i64) -> String {
    Timestamp::from_nanos(ns).to_string()
}

impl ApprovalBook {
    pub(crate) fn new(limits: ApprovalLimits) -> Self {
        Self {
            limits,
            envelopes: LruCache::new(cap(limits.max_instances)),
            decisions: LruCache::new(cap(limits.max_decisions)),
            recent: LruCache::new(cap(limits.max_instances)),
        }
    }

    pub(crate) fn save(&self) -> SavedApprovals {
        SavedApprovals {
            envelopes: crate::save_lru(&self.envelopes),
            decisions: crate::save_lru(&self.decisions),
            recent: crate::save_lru(&self.recent),
        }
    }

    pub(crate) fn load(limits: ApprovalLimits, s: SavedApprovals) -> Self {
        Self {
            limits,
            envelopes: crate::load_lru(limits.max_instances, s.envelopes),
            decisions: crate::load_lru(limits.max_decisions, s.decisions),
            recent: crate::load_lru(limits.max_instances, s.recent),
        }
    }

    /// Learn from an approval record (a decision or an envelope event) of
    /// `instance`.
    pub(crate) fn note(&mut self, e: &NormEvent, instance: &str) {
        let at = e.event_time.nanos();
        if let Some(d) = &e.decision {
            let note = DecisionNote {
                id: d.decision_id.clone(),
                at,
                allowed: d.allowed,
                action: d.action.clone(),
                resource: e.resources.first().map(|r| r.id.clone()),
            };
            self.decisions.put(note.id.clone(), note.clone());
            let list = self.recent.get_or_insert_mut(instance.to_owned(), VecDeque::new);
            if list.len() >= RECENT_PER_INSTANCE {
                list.pop_front();
            }
            list.push_back(note);
        }
        if let Some(x) = &e.envelope {
            match x.change {
                EnvelopeChange::Approved => {
                    self.envelopes.put(
                        instance.to_owned(),
                        EnvelopeState {
                            envelope: x.envelope.clone(),
                            ended: None,
                            calls: 0,
                        },
                    );
                }
                EnvelopeChange::Amended => {
                    let st = self.envelopes.get_or_insert_mut(instance.to_owned(), || {
                        EnvelopeState {
                            envelope: TaskEnvelope {
                                envelope_id: x.envelope.envelope_id.clone(),
                                ..TaskEnvelope::default()
                            },
                            ended: None,
                            calls: 0,
                        }
                    });
                    amend(&mut st.envelope, &x.envelope);
                }
                EnvelopeChange::Revoked | EnvelopeChange::Completed => {
                    if let Some(st) = self.envelopes.get_mut(instance)
                        && st.envelope.envelope_id == x.envelope.envelope_id
                    {
                        st.ended.get_or_insert((x.change, at));
                    }
                }
            }
        }
    }

    /// The approval an event of `instances` (the instance first, then the
    /// instances it was delegated from) ran under, with its breaches.
    pub(crate) fn resolve(&mut self, e: &NormEvent, instances: &[&str]) -> Option<Approval> {
        let at = e.event_time.nanos();
        let owner = instances
            .iter()
            .find(|i| self.envelopes.contains(**i))
            .map(|i| (*i).to_owned());
        let mut approval = Approval::default();
        if let Some(d) = &e.decision {
            approval.decision_id = Some(d.decision_id.clone());
            approval.decision_allowed = d.allowed;
            approval.decision_basis = Some("this decision".into());
        } else if let Some(id) = &e.trace.decision_id {
            approval.decision_id = Some(id.clone());
            approval.decision_allowed = self.decisions.get(id).and_then(|n| n.allowed);
            approval.decision_basis = Some("propagated decision id".into());
        } else if let Some(n) = self.by_time(e, instances, at) {
            approval.decision_id = Some(n.id);
            approval.decision_allowed = n.allowed;
            approval.decision_basis = Some(format!(
                "same instance and action within {} s before",
                self.limits.window_ns / 1_000_000_000
            ));
        }
        let decided_lately = instances.iter().any(|i| {
            self.recent.peek(*i).is_some_and(|l| {
                l.back()
                    .is_some_and(|n| n.at <= at && at - n.at <= self.limits.lookback_ns)
            })
        });
        let Some(owner) = owner else {
            return (approval.decision_id.is_some() || decided_lately).then_some(approval);
        };
        let st = self.envelopes.get_mut(&owner)?;
        let env = &st.envelope;
        approval.envelope_id = Some(env.envelope_id.clone());
        approval.task_id = env.task_id.clone();
        approval.approved_by = env.approved_by.clone();
        approval.purpose = env.purpose.clone();
        if approval.decision_id.is_none() {
            approval.decision_id = env.decision_id.clone();
            approval.decision_basis = env
                .decision_id
                .as_ref()
                .map(|_| "the envelope's approving decision".into());
        }
        if !e.is_approval_record() {
            let counts = e.category == Category::ToolCall && !e.echoes_span();
            if counts {
                st.calls += 1;
            }
            approval.breaches = breaches(e, st, at);
        }
        Some(approval)
    }

    /// The instance's latest decision for this action within the window.
    fn by_time(&mut self, e: &NormEvent, instances: &[&str], at: i64) -> Option<DecisionNote> {
        let action: Vec<&str> = [
            e.tool.as_ref().map(|t| t.name.as_str()),
            Some(e.source_event_type.as_str()),
            Some(e.operation.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let window = self.limits.window_ns;
        instances.iter().find_map(|i| {
            self.recent.peek(*i)?.iter().rev().find(|n| {
                n.at <= at
                    && at - n.at <= window
                    && n.action.as_deref().is_some_and(|a| action.contains(&a))
                    && n.resource.as_ref().is_none_or(|r| {
                        e.resources.is_empty() || e.resources.iter().any(|x| &x.id == r)
                    })
            })
        })
        .cloned()
    }
}

/// Apply an amendment: the fields it states replace the envelope's.
fn amend(env: &mut TaskEnvelope, by: &TaskEnvelope) {
    macro_rules! take {
        ($($opt:ident),*; $($list:ident),*) => {
            $(if by.$opt.is_some() { env.$opt = by.$opt.clone(); })*
            $(if !by.$list.is_empty() { env.$list = by.$list.clone(); })*
        };
    }
    take!(task_id, purpose, approved_by, approval_method, approval_reference, decision_id,
          not_before, expires_at, max_calls; tools, operations, resources, scopes);
}

fn breach(kind: &str, item: impl Into<String>, detail: String) -> Breach {
    Breach {
        kind: kind.to_owned(),
        item: item.into(),
        detail,
    }
}

/// Every way `e` leaves the envelope.
fn breaches(e: &NormEvent, st: &EnvelopeState, at: i64) -> Vec<Breach> {
    let env = &st.envelope;
    let mut out = Vec::new();
    if let Some((change, when)) = st.ended
        && at > when
    {
        out.push(breach(
            "ended",
            time(at),
            format!("acted after the envelope was {} at {}", change.as_str(), time(when)),
        ));
    }
    if let Some(nb) = env.not_before
        && at < nb.nanos()
    {
        out.push(breach(
            "not_started",
            time(at),
            format!("acted before the approval starts (not_before {nb})"),
        ));
    }
    if let Some(x) = env.expires_at
        && at > x.nanos()
    {
        out.push(breach(
            "expired",
            time(at),
            format!("acted after the approval expired (expires_at {x})"),
        ));
    }
    if e.category == Category::AgentInvoke {
        return out;
    }
    match (&e.tool, e.category) {
        (Some(t), Category::ToolCall) if !env.tools.is_empty() => {
            if !allowed_by(&env.tools, &t.name) {
                out.push(breach(
                    "tool",
                    &t.name,
                    format!(
                        "tool `{}` is not among the approved tools {}",
                        t.name,
                        listed(&env.tools)
                    ),
                ));
            }
        }
        (None, _)
            if !env.operations.is_empty()
                && !matches!(e.source, Source::Otlp | Source::Mcp)
                && e.category != Category::Authentication =>
        {
            if !allowed_by(&env.operations, &e.operation) {
                out.push(breach(
                    "operation",
                    &e.operation,
                    format!(
                        "operation `{}` is not among the approved operations {}",
                        e.operation,
                        listed(&env.operations)
                    ),
                ));
            }
        }
        _ => {}
    }
    if !env.resources.is_empty()
        && let Some(r) = e
            .resources
            .iter()
            .filter(|r| r.kind.as_deref() != Some("mcp_server"))
            .find(|r| !allowed_by(&env.resources, &r.id))
    {
        out.push(breach(
            "resource",
            &r.id,
            format!(
                "resource `{}` is outside the approved resources {}",
                r.id,
                listed(&env.resources)
            ),
        ));
    }
    if !env.scopes.is_empty()
        && let Some(s) = e.scopes.iter().find(|s| !env.scopes.contains(s))
    {
        out.push(breach(
            "scope",
            s,
            format!(
                "scope `{s}` was not granted (approved scopes {})",
                listed(&env.scopes)
            ),
        ));
    }
    if let Some(max) = env.max_calls
        && st.calls > max
        && e.category == Category::ToolCall
    {
        out.push(breach(
            "max_calls",
            max.to_string(),
            format!("tool call {} exceeds the approved max_calls {max}", st.calls),
        ));
    }
    out
}

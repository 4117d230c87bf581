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

use delegraph_model::{
    Approval, Breach, Category, EnvelopeChange, NormEvent, Resource, TaskEnvelope, Timestamp,
    load_lru, lru_entries, new_lru,
};
use lru::LruCache;
use serde::{Deserialize, Serialize};

use crate::inventory::wildcard;

/// Decisions remembered per instance for binding by time.
const RECENT_PER_INSTANCE: usize = 64;

/// An envelope in force for an instance, with what it has been used for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EnvelopeState {
    /// Saved as its JSON text: `TaskEnvelope` leaves out its empty fields,
    /// which postcard (no field names) cannot read back.
    #[serde(with = "envelope_text")]
    envelope: TaskEnvelope,
    /// Revoked or completed, and when.
    ended: Option<(EnvelopeChange, i64)>,
    /// Tool calls made under it.
    calls: u64,
    /// Event time of the last record that used it, for idle eviction.
    last: i64,
}

/// A task envelope as the JSON text stored rows and the API use.
mod envelope_text {
    use delegraph_model::TaskEnvelope;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(e: &TaskEnvelope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&serde_json::to_string(e).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TaskEnvelope, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// What is kept of a decision to bind actions to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DecisionNote {
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

/// The approval book between runs, one field order for both ways: saved
/// with its entries borrowed ([`SavedApprovalsRef`], no copy of every
/// envelope and decision at each save), restored owned ([`SavedApprovals`]).
#[derive(Serialize, Deserialize)]
pub(crate) struct Approvals<E, D, R> {
    envelopes: E,
    decisions: D,
    recent: R,
}

/// Entries of an LRU map as [`lru_entries`] lists them, borrowed.
type Borrowed<'a, V> = Vec<(&'a str, &'a V)>;

/// The approval book as saved.
pub(crate) type SavedApprovalsRef<'a> = Approvals<
    Borrowed<'a, EnvelopeState>,
    Borrowed<'a, DecisionNote>,
    Borrowed<'a, VecDeque<DecisionNote>>,
>;

/// The approval book as restored.
pub(crate) type SavedApprovals = Approvals<
    Vec<(String, EnvelopeState)>,
    Vec<(String, DecisionNote)>,
    Vec<(String, VecDeque<DecisionNote>)>,
>;

/// Envelopes by instance, decisions by id and by instance.
pub(crate) struct ApprovalBook {
    limits: ApprovalLimits,
    envelopes: LruCache<String, EnvelopeState>,
    decisions: LruCache<String, DecisionNote>,
    recent: LruCache<String, VecDeque<DecisionNote>>,
}

/// What an event acted on: its resources but the channels it went through
/// (a gateway's own URL, not what the call touched).
fn targets(e: &NormEvent) -> impl Iterator<Item = &Resource> {
    e.resources
        .iter()
        .filter(|r| !e.hints.channels.contains(&r.id))
}

/// An item the envelope lists, exactly or by a `*` pattern.
fn allowed_by(patterns: &[String], item: &str) -> bool {
    patterns.iter().any(|p| wildcard(p, item))
}

fn listed(items: &[String]) -> String {
    const MAX: usize = 8;
    let mut s = items
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
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
            envelopes: new_lru(limits.max_instances),
            decisions: new_lru(limits.max_decisions),
            recent: new_lru(limits.max_instances),
        }
    }

    pub(crate) fn save(&self) -> SavedApprovalsRef<'_> {
        Approvals {
            envelopes: lru_entries(&self.envelopes),
            decisions: lru_entries(&self.decisions),
            recent: lru_entries(&self.recent),
        }
    }

    pub(crate) fn load(limits: ApprovalLimits, s: SavedApprovals) -> Self {
        Self {
            limits,
            envelopes: load_lru(limits.max_instances, s.envelopes),
            decisions: load_lru(limits.max_decisions, s.decisions),
            recent: load_lru(limits.max_instances, s.recent),
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
            let list = self
                .recent
                .get_or_insert_mut(instance.to_owned(), VecDeque::new);
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
                            last: at,
                        },
                    );
                }
                EnvelopeChange::Amended => {
                    let st =
                        self.envelopes
                            .get_or_insert_mut(instance.to_owned(), || EnvelopeState {
                                envelope: TaskEnvelope {
                                    envelope_id: x.envelope.envelope_id.clone(),
                                    ..TaskEnvelope::default()
                                },
                                ended: None,
                                calls: 0,
                                last: at,
                            });
                    st.last = st.last.max(at);
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
        approval.recent_decision = decided_lately;
        let Some(owner) = owner else {
            return (approval.decision_id.is_some() || decided_lately).then_some(approval);
        };
        let st = self.envelopes.get_mut(&owner)?;
        st.last = st.last.max(at);
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
        if !e.is_approval_record() && !e.category.is_observation() {
            let counts = e.category == Category::ToolCall && !e.echoes_span();
            if counts {
                st.calls += 1;
            }
            approval.breaches = breaches(e, st, at);
        }
        Some(approval)
    }

    /// Drop what no record has used since `horizon` (event time): the
    /// envelopes and decision lists of instances gone idle, and decisions
    /// made before it. Each map's least recently used entry is its oldest
    /// (records come in event-time order), so a sweep stops at the first
    /// entry still in use.
    pub(crate) fn sweep(&mut self, horizon: i64) {
        while self
            .envelopes
            .peek_lru()
            .is_some_and(|(_, st)| st.last < horizon)
        {
            self.envelopes.pop_lru();
        }
        while self
            .decisions
            .peek_lru()
            .is_some_and(|(_, n)| n.at < horizon)
        {
            self.decisions.pop_lru();
        }
        while self
            .recent
            .peek_lru()
            .is_some_and(|(_, l)| l.back().is_none_or(|n| n.at < horizon))
        {
            self.recent.pop_lru();
        }
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
        instances
            .iter()
            .find_map(|i| {
                self.recent.peek(*i)?.iter().rev().find(|n| {
                    n.at <= at
                        && at - n.at <= window
                        && n.action.as_deref().is_some_and(|a| action.contains(&a))
                        && n.resource.as_ref().is_none_or(|r| {
                            let mut touched = targets(e).peekable();
                            touched.peek().is_none() || touched.any(|x| &x.id == r)
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

/// `item` when the envelope lists `kind`s and not this one.
fn outside(kind: &str, approved: &[String], item: &str) -> Option<Breach> {
    (!approved.is_empty() && !allowed_by(approved, item)).then(|| {
        breach(
            kind,
            item,
            format!(
                "{kind} `{item}` is not among the approved {kind}s {}",
                listed(approved)
            ),
        )
    })
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
            format!(
                "acted after the envelope was {} at {}",
                change.as_str(),
                time(when)
            ),
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
        (Some(t), Category::ToolCall) => out.extend(outside("tool", &env.tools, &t.name)),
        // The agent runtime's own telemetry (spans, gateway lines) names no
        // API operation an envelope could list.
        (None, c) if !e.hints.agent_runtime && c != Category::Authentication => {
            out.extend(outside("operation", &env.operations, &e.operation));
        }
        _ => {}
    }
    out.extend(targets(e).find_map(|r| outside("resource", &env.resources, &r.id)));
    out.extend(
        e.scopes
            .iter()
            .find_map(|s| outside("scope", &env.scopes, s)),
    );
    if let Some(max) = env.max_calls
        && st.calls > max
        && e.category == Category::ToolCall
    {
        out.push(breach(
            "max_calls",
            max.to_string(),
            format!(
                "tool call {} exceeds the approved max_calls {max}",
                st.calls
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const SEC: i64 = 1_000_000_000;

    fn limits() -> ApprovalLimits {
        ApprovalLimits {
            window_ns: 120 * SEC,
            lookback_ns: 3600 * SEC,
            max_instances: 16,
            max_decisions: 16,
        }
    }

    /// An event at second `s` of 2026-05-06T10:00, with `extra` fields.
    fn ev(s: i64, extra: serde_json::Value) -> NormEvent {
        let mut v = json!({
            "event_id": format!("e{s}"), "source": "mcp", "source_event_type": "tools/call",
            "event_time": format!("2026-05-06T10:{:02}:{:02}Z", s / 60, s % 60),
            "category": "tool_call", "operation": "tools/call", "actor": {"id": "a"},
            "actor_kind": "agent", "actor_kind_basis": "t", "outcome": "success",
            "origin": {"kind": "file", "path": "t", "line": 1, "index": null}, "raw": "{}"
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn envelope(s: i64, change: &str, body: serde_json::Value) -> NormEvent {
        let mut env = json!({"envelope_id": "env-1"});
        for (k, x) in body.as_object().unwrap() {
            env[k] = x.clone();
        }
        ev(
            s,
            json!({"source": "task_envelope", "category": "approval",
                     "envelope": {"change": change, "envelope": env}}),
        )
    }

    fn decision(s: i64, id: &str, action: &str, allowed: bool) -> NormEvent {
        ev(
            s,
            json!({"source": "opa", "category": "policy_decision",
            "decision": {"decision_id": id, "engine": "opa", "policy": "p",
                         "allowed": allowed, "action": action}}),
        )
    }

    fn tool(s: i64, name: &str) -> NormEvent {
        ev(s, json!({"tool": {"name": name}}))
    }

    fn kinds(a: &Option<Approval>) -> Vec<String> {
        a.as_ref()
            .unwrap()
            .breaches
            .iter()
            .map(|b| b.kind.clone())
            .collect()
    }

    #[test]
    fn an_envelope_covers_sub_agents_and_each_breach_is_named() {
        let mut book = ApprovalBook::new(limits());
        book.note(
            &envelope(
                0,
                "approved",
                json!({"approved_by": "ana@example.com", "tools": ["get_*"],
                "resources": ["order:88*"], "scopes": ["orders:read"], "max_calls": 2,
                "expires_at": "2026-05-06T10:05:00Z"}),
            ),
            "root",
        );
        let lineage = ["sub", "root"];
        let ok = book.resolve(&tool(10, "get_order"), &lineage);
        assert_eq!(ok.as_ref().unwrap().inside_envelope(), Some(true));
        assert_eq!(ok.unwrap().approved_by.as_deref(), Some("ana@example.com"));
        let mut e = tool(20, "refund_order");
        e.resources = vec![delegraph_model::Resource {
            id: "order:9999".into(),
            kind: None,
            is_secret: false,
        }];
        e.scopes = vec!["orders:read".into(), "refunds:write".into()];
        let a = book.resolve(&e, &lineage);
        assert_eq!(kinds(&a), ["tool", "resource", "scope"]);
        assert_eq!(
            kinds(&book.resolve(&tool(400, "get_order"), &lineage)),
            ["expired", "max_calls"]
        );
        // Nothing covers an instance outside the lineage.
        assert!(book.resolve(&tool(30, "get_order"), &["other"]).is_none());
    }

    #[test]
    fn amendments_replace_fields_and_a_completed_envelope_covers_nothing_after() {
        let mut book = ApprovalBook::new(limits());
        book.note(&envelope(0, "approved", json!({"tools": ["a"]})), "i");
        book.note(&envelope(5, "amended", json!({"tools": ["a", "b"]})), "i");
        assert!(kinds(&book.resolve(&tool(6, "b"), &["i"])).is_empty());
        book.note(&envelope(7, "completed", json!({})), "i");
        assert_eq!(kinds(&book.resolve(&tool(8, "b"), &["i"])), ["ended"]);
    }

    #[test]
    fn decisions_bind_by_id_then_by_instance_tool_and_time() {
        let mut book = ApprovalBook::new(limits());
        book.note(&decision(0, "d-read", "read", true), "i");
        book.note(&decision(1, "d-write", "write", false), "i");
        let mut carried = tool(2, "read");
        carried.trace.decision_id = Some("d-write".into());
        let a = book.resolve(&carried, &["i"]).unwrap();
        assert_eq!(
            (a.decision_id.as_deref(), a.decision_allowed),
            (Some("d-write"), Some(false))
        );
        let a = book.resolve(&tool(3, "read"), &["i"]).unwrap();
        assert_eq!(a.decision_id.as_deref(), Some("d-read"));
        // Past the window, no decision binds, but the instance is still
        // under approval within the lookback.
        let a = book.resolve(&tool(200, "read"), &["i"]).unwrap();
        assert_eq!(a.decision_id, None);
        // A decision never binds an action before it.
        let mut early = ApprovalBook::new(limits());
        early.note(&decision(50, "d-late", "read", true), "i");
        assert!(early.resolve(&tool(40, "read"), &["i"]).is_none());
    }

    /// Saved borrowed, read back owned: the restored book saves the same
    /// bytes and binds as the one saved did.
    #[test]
    fn a_saved_book_restores_its_envelopes_and_decisions() {
        let mut book = ApprovalBook::new(limits());
        book.note(&envelope(0, "approved", json!({"tools": ["read"]})), "i");
        book.note(&decision(1, "d-read", "read", true), "i");
        book.note(&decision(2, "d-other", "read", false), "j");
        let saved = postcard::to_stdvec(&book.save()).unwrap();
        let read: SavedApprovals = postcard::from_bytes(&saved).unwrap();
        let mut back = ApprovalBook::load(limits(), read);
        assert_eq!(postcard::to_stdvec(&back.save()).unwrap(), saved);
        let a = back.resolve(&tool(3, "read"), &["i"]).unwrap();
        assert_eq!(a.decision_id.as_deref(), Some("d-read"));
        assert_eq!(a.inside_envelope(), Some(true));
    }
}

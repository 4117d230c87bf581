//! Resolving every event to an agent instance and its human, across sources.
//!
//! The stitcher knows no log format: each decoder states how its records
//! tie to instances as [`LinkHints`](delegraph_model::LinkHints) — ways to
//! find the instance (credential, parent span, session key, named
//! instance, …) and keys to bind for later records — and the stitcher
//! resolves them against bounded indexes ([`crate::index`]). A binding says
//! which instance a key belongs to, its root instance, logical agent, human
//! and delegation chain. Events are expected in event-time order (see
//! [`crate::reorder::ReorderBuffer`]), so issuances and parent spans come first.

use delegraph_model::{AgentContext, Attribution, NormEvent};
use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalBook, ApprovalLimits, SavedApprovals};
use crate::binding::{Binding, Resolved};
use crate::chain;
use crate::config::StitchConfig;
use crate::index::Indexes;
use crate::index_saved::SavedIndexes;
use crate::instance::{Instance, InstanceTable, SavedInstances};
use crate::inventory::Inventory;

/// Counters for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StitchStats {
    /// Events attributed to an instance.
    pub attributed: u64,
    /// Events attributed to a human acting directly.
    pub human_direct: u64,
    /// Events left unattributed.
    pub unattributed: u64,
    /// Index entries evicted because the LRU caps were reached.
    pub evicted_by_cap: u64,
    /// Index entries evicted because they were idle past the TTL.
    pub evicted_idle: u64,
}

/// Cross-source identity resolution with bounded state.
pub struct Stitcher {
    index: Indexes,
    instances: InstanceTable,
    /// Attributed / human / unattributed counts (evictions live with the
    /// indexes and the instance table).
    stats: StitchStats,
    inventory: Inventory,
    approvals: ApprovalBook,
}

/// Everything a stitcher knows, as saved between runs (field order is the
/// checkpoint's format).
#[derive(Serialize, Deserialize)]
struct Saved<I, N, A> {
    index: I,
    instances: N,
    stats: StitchStats,
    approvals: A,
}

/// Saved state that could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("stitcher state: {0}")]
pub struct StateError(String);

fn approval_limits(cfg: &StitchConfig) -> ApprovalLimits {
    ApprovalLimits {
        window_ns: cfg.decision_window_ns,
        lookback_ns: cfg.approval_lookback_ns,
        max_instances: cfg.max_instances,
        max_decisions: cfg.max_credentials,
    }
}

impl Stitcher {
    /// A stitcher with the given limits.
    pub fn new(cfg: StitchConfig) -> Self {
        Self {
            index: Indexes::new(&cfg),
            instances: InstanceTable::new(cfg.max_instances, cfg.pack_idle_ns),
            stats: StitchStats::default(),
            inventory: Inventory::default(),
            approvals: ApprovalBook::new(approval_limits(&cfg)),
        }
    }

    /// Everything needed to continue exactly where this left off: bindings,
    /// live instances and their graphs, counters (compact binary, exact).
    ///
    /// A stream saves it at every epoch's end while it takes no message,
    /// so its parts are serialised on two threads: postcard writes a
    /// struct as its fields one after the other, and the approval book
    /// (envelopes as JSON text, decisions: the largest part for a fleet of
    /// agents) serialised apart and appended gives the same bytes as the
    /// whole [`Saved`] serialised at once.
    pub fn save(&self) -> Result<Vec<u8>, StateError> {
        let err = |e: postcard::Error| StateError(e.to_string());
        let (head, approvals) = std::thread::scope(|scope| {
            let approvals = scope.spawn(|| postcard::to_stdvec(&self.approvals.save()));
            let head = postcard::to_stdvec(&(
                self.index.save(),
                self.instances.save(),
                self.saved_stats(),
            ));
            let approvals = approvals
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (head, approvals)
        });
        let approvals = approvals.map_err(err)?;
        let mut bytes = head.map_err(err)?;
        bytes.extend_from_slice(&approvals);
        Ok(bytes)
    }

    /// The counters as saved, evictions included.
    fn saved_stats(&self) -> StitchStats {
        StitchStats {
            evicted_by_cap: self.index.evicted_by_cap,
            evicted_idle: self.index.evicted_idle,
            ..self.stats
        }
    }

    /// A stitcher continuing from [`Stitcher::save`]'s output.
    pub fn restore(cfg: StitchConfig, saved: &[u8]) -> Result<Self, StateError> {
        let s: Saved<SavedIndexes, SavedInstances, SavedApprovals> =
            postcard::from_bytes(saved).map_err(|e| StateError(e.to_string()))?;
        let evicted = (s.stats.evicted_by_cap, s.stats.evicted_idle);
        Ok(Self {
            index: Indexes::load(&cfg, s.index, evicted).map_err(StateError)?,
            instances: InstanceTable::load(s.instances, cfg.pack_idle_ns),
            stats: StitchStats {
                evicted_by_cap: 0,
                evicted_idle: 0,
                ..s.stats
            },
            inventory: Inventory::default(),
            approvals: ApprovalBook::load(approval_limits(&cfg), s.approvals),
        })
    }

    /// Counters so far (eviction counts include the instance table's).
    pub fn stats(&self) -> StitchStats {
        StitchStats {
            evicted_by_cap: self.index.evicted_by_cap + self.instances.evicted_by_cap(),
            evicted_idle: self.index.evicted_idle + self.instances.evicted_idle(),
            ..self.stats
        }
    }

    /// The per-instance state (graphs, first/last seen, …).
    pub fn instances(&self) -> &InstanceTable {
        &self.instances
    }

    /// Instances evicted since the last call, to be written out.
    pub fn drain_retired(&mut self) -> Vec<Instance> {
        self.instances.drain_retired()
    }

    /// Entries held across all indexes (for memory tests).
    pub fn entries(&self) -> usize {
        self.index.len() + self.instances.len()
    }

    /// Use the SOC's agent inventory to classify identities.
    pub fn set_inventory(&mut self, inventory: Inventory) {
        self.inventory = inventory;
    }

    /// Attribute `e` (sets `e.attribution`), record it in its instance, and
    /// return what the graph knows about its instance and credential, so
    /// nothing needs to read back into the stitcher's tables.
    pub fn attribute(&mut self, e: &mut NormEvent) -> AgentContext {
        self.inventory.apply(e);
        let at = e.event_time.nanos();
        let mut resolved = self.index.resolve(e, at);
        if let Some(issue) = &e.hints.issues {
            resolved = self.index.issue(issue, e, resolved, at);
        }
        let attribution = match resolved {
            Resolved::Instance(b, basis) => {
                self.stats.attributed += 1;
                self.index.bind(&e.hints.bind, &b, at);
                self.instance_attribution(e, &b, basis.into_owned())
            }
            Resolved::Human(human, basis) => {
                self.stats.human_direct += 1;
                Attribution {
                    initiator: Some(human.clone()),
                    chain: vec![human],
                    basis,
                    ..Attribution::default()
                }
            }
            Resolved::Unattributed(reason) => {
                self.stats.unattributed += 1;
                Attribution {
                    initiator: e.on_behalf_of.clone(),
                    basis: format!("unattributed: {reason}"),
                    ..Attribution::default()
                }
            }
        };
        e.attribution = Some(Box::new(attribution));
        if let Some(horizon) = self.index.maybe_sweep(at) {
            self.instances.evict_idle(horizon);
            self.approvals.sweep(horizon);
        }
        self.context(e)
    }

    /// Bind `e` to its approval and record it in instance `b`'s graph.
    fn instance_attribution(&mut self, e: &NormEvent, b: &Binding, basis: String) -> Attribution {
        if e.is_approval_record() {
            self.approvals.note(e, &b.instance);
        }
        let approval = self.approvals.resolve(e, &chain::lineage(b));
        self.instances.record(e, b, approval.as_ref());
        let (initiator, chain) = chain::initiator_and_chain(e, b);
        let chain = match &approval {
            Some(a) => chain::with_approval(chain, initiator.as_deref(), a),
            None => chain,
        };
        Attribution {
            agent_id: b.agent_id.clone(),
            instance: Some(String::from(&*b.instance)),
            root_instance: Some(String::from(&*b.root)),
            initiator,
            chain,
            depth: b.depth,
            basis,
            approval,
        }
    }

    /// What the graph knows about an attributed event's instance and the
    /// credential it used, for rules' `delegraph.*` fields.
    fn context(&self, e: &NormEvent) -> AgentContext {
        let instance = e
            .attribution
            .as_ref()
            .and_then(|a| a.instance.as_deref())
            .and_then(|i| self.instances.get(i));
        let credential_since = match (instance.as_ref(), &e.credential_used) {
            (Some(i), Some(c)) => i.credential_first_seen(&c.id),
            _ => None,
        };
        AgentContext {
            task_end: instance.as_ref().and_then(|i| i.task_end),
            credential_since,
            instance_since: instance.as_ref().map(|i| i.first_seen),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use delegraph_decode::{Collected, DocumentDecoder, OriginBase};

    use super::*;
    use crate::approval::SavedApprovalsRef;
    use crate::index_saved::SavedIndexesRef;
    use crate::instance::SavedInstancesRef;

    /// The parts serialised on two threads and joined are the bytes of
    /// the whole serialised at once: the checkpoint's format is unchanged.
    #[test]
    fn the_parts_saved_apart_are_the_bytes_of_the_whole() {
        let fixtures = delegraph_testdata::checkout_root().join("fixtures");
        let mut s = Stitcher::new(StitchConfig::default());
        for file in ["task_envelope/envelopes.jsonl", "mcp/gateway.jsonl"] {
            let text = std::fs::read(fixtures.join(file)).unwrap();
            let base = OriginBase::File { path: file.into() };
            let decoded = Collected::gather(|sink| {
                DocumentDecoder::default().decode_document(&text, &base, sink)
            });
            for e in decoded.events() {
                s.attribute(&mut e.clone());
            }
        }
        let approvals = postcard::to_stdvec(&s.approvals.save()).unwrap();
        let fresh = Stitcher::new(StitchConfig::default());
        let none = postcard::to_stdvec(&fresh.approvals.save()).unwrap();
        assert!(approvals.len() > none.len() + 100, "approvals to save");
        let whole: Saved<SavedIndexesRef, SavedInstancesRef, SavedApprovalsRef> = Saved {
            index: s.index.save(),
            instances: s.instances.save(),
            stats: s.saved_stats(),
            approvals: s.approvals.save(),
        };
        assert_eq!(s.save().unwrap(), postcard::to_stdvec(&whole).unwrap());
    }
}

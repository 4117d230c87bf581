//! The built-in detectors, one file each. Each implements
//! [`crate::detector::Detector`], keeps its own state, and compares an
//! instance (its behaviour record and its own measurements) with its
//! agent's baseline: what was expected, what was seen, how rare, from how
//! much history.

mod credential_lifetime;
mod cross_environment;
mod data_flow;
mod delegation;
mod envelope;
mod policy_probe;
mod privilege_escalation;
mod record_check;
mod scope_growth;
mod secret_access;
mod shared_identity;
mod tool_chain;
mod unapproved;
mod value_provenance;

use delegraph_model::{Evidence, NormEvent};

use crate::baseline::AgentBaseline;
use crate::config::{DetectConfig, Effective};
use crate::detector::{Detector, Signal};
use crate::features::dim;
use crate::instance::Instance;
use crate::{DetectorId, stats};
use record_check::RecordCheck;

/// Every detector, in the order the engine calls them (see
/// [`crate::detector`]): the order findings of one moment are raised in,
/// which accumulated risk depends on. A new detector is one file in this
/// folder and one line here.
pub(crate) fn registry() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(tool_chain::ToolChain::default()),
        Box::new(RecordCheck {
            id: DetectorId::ScopeGrowth,
            reads: |c| c.scope,
            check: scope_growth::scope_growth,
        }),
        Box::new(RecordCheck {
            id: DetectorId::CrossEnvironment,
            reads: |c| c.tenant,
            check: cross_environment::cross_environment,
        }),
        Box::new(secret_access::SecretAccess::default()),
        Box::new(privilege_escalation::PrivilegeEscalation),
        Box::new(credential_lifetime::CredentialLifetime::default()),
        Box::new(shared_identity::SharedIdentity::default()),
        Box::new(delegation::Delegation::default()),
        Box::new(credential_lifetime::CredentialSlack::default()),
        Box::new(data_flow::DataFlow::default()),
        Box::new(envelope::Envelope),
        Box::new(policy_probe::PolicyProbe::default()),
        Box::new(unapproved::Unapproved::default()),
        Box::new(value_provenance::ValueProvenance::default()),
    ]
}

/// What a signal is computed from. `event` is the event being looked at;
/// it is `None` when an instance is checked as it closes.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a DetectConfig,
    pub event: Option<&'a NormEvent>,
    pub profile: &'a Instance,
    pub baseline: Option<&'a AgentBaseline>,
    pub agent: &'a str,
}

impl Ctx<'_> {
    pub fn settings(&self, detector: DetectorId) -> Effective {
        self.cfg.effective(detector.name(), Some(self.agent))
    }

    /// Decayed instances in the baseline.
    pub fn n(&self) -> f64 {
        self.baseline.map(|b| b.instances).unwrap_or(0.0)
    }

    /// Instances learned (undecayed), for "from how much history".
    pub fn history(&self) -> u64 {
        self.baseline.map(|b| b.learned).unwrap_or(0)
    }

    /// A statistical signal, when the detector is on, the baseline has
    /// enough history and `p` is at or below the alert level.
    pub fn statistical(&self, detector: DetectorId, p: f64) -> Option<Signal> {
        let s = self.settings(detector);
        if !s.enabled || self.history() < s.min_history || p > s.alert_p {
            return None;
        }
        Some(Signal::new(
            detector,
            Some(p),
            stats::risk(s.impact, p, self.cfg.full_confidence_p),
        ))
    }

    /// A signal for something that departs from a policy-like boundary
    /// (a new account): raised whenever the baseline is warm, scored like
    /// [`Ctx::definite`].
    pub fn boundary(&self, detector: DetectorId, hits: f64) -> Option<Signal> {
        let s = self.settings(detector);
        if self.history() < s.min_history {
            return None;
        }
        self.definite(detector, hits)
    }

    /// A signal for something wrong in itself (a permission change, a key
    /// used after its task): at least half the impact, the rest growing
    /// with how rare it is for this agent (`hits` of its instances did it).
    pub fn definite(&self, detector: DetectorId, hits: f64) -> Option<Signal> {
        let s = self.settings(detector);
        if !s.enabled {
            return None;
        }
        let p = stats::rate_p(hits, self.n());
        let c = stats::confidence(p, self.cfg.full_confidence_p);
        let risk = (f64::from(s.impact) * (0.5 + 0.5 * c)).round() as u8;
        Some(Signal::new(detector, Some(p), risk))
    }

    /// A signal for leaving a boundary a person or a policy set (an
    /// approved envelope, a denied decision): no baseline needed, full impact.
    pub fn policy(&self, detector: DetectorId) -> Option<Signal> {
        let s = self.settings(detector);
        s.enabled.then(|| Signal::new(detector, None, s.impact))
    }

    /// "of 183 support-agent instances" / "no history yet".
    pub fn history_phrase(&self) -> String {
        match self.history() {
            0 => format!("no earlier {} instances", self.agent),
            h => format!("{h} earlier {} instances", self.agent),
        }
    }
}

/// Dimensions `tool_chain` counts rare items over.
pub(crate) const CHAIN_DIMS: [&str; 4] = [dim::TOOL, dim::TRANSITION, dim::TRIGRAM, dim::SUB_AGENT];
/// Dimensions `scope_growth` counts rare items over.
pub(crate) const SCOPE_DIMS: [&str; 4] = [dim::SERVICE, dim::OPERATION, dim::SCOPE, dim::PRIVILEGE];

/// One rare-or-new item of an instance: (dimension, item, share of
/// baseline instances, evidence), borrowed from the instance's record (most
/// are only counted; a finding copies the ones it cites).
pub(crate) type RareItem<'a> = (&'static str, &'a str, f64, &'a Evidence);

/// Items of an instance that are rare or new for its agent.
pub(crate) struct RareItems<'a> {
    pub items: Vec<RareItem<'a>>,
    /// Expected rare-or-new items per instance.
    pub rate: f64,
    /// Their standard deviation across the agent's instances.
    pub sd: f64,
    /// P(at least this many) under the baseline.
    pub p: f64,
}

/// The instance's rare-or-new items over `dims`.
pub(crate) fn rare_list<'a>(ctx: &Ctx<'a>, dims: &[&'static str]) -> Vec<RareItem<'a>> {
    let mut items = Vec::new();
    for d in dims {
        for (item, ev) in ctx.profile.items(d) {
            let (rare, share) = match ctx.baseline {
                Some(b) => (b.is_rare(d, item, ctx.cfg.rare_share), b.share(d, item)),
                None => (true, 0.0),
            };
            if rare {
                items.push((*d, item.as_str(), share, ev));
            }
        }
    }
    items
}

/// Count the instance's rare-or-new items over `dims` and test the count
/// against the agent's expected number (known rare items' shares plus the
/// Good–Turing chance of something new), with the spread the agent's own
/// instances showed when they closed (`metric`: variance over mean, so long
/// and varied conversations, which have many, are not flagged for that).
pub(crate) fn rare_items<'a>(
    ctx: &Ctx<'a>,
    dims: &[&'static str],
    metric: Option<&str>,
) -> RareItems<'a> {
    let items = rare_list(ctx, dims);
    let rate: f64 = dims
        .iter()
        .map(|d| {
            ctx.baseline
                .map(|b| b.rare_rate(d, ctx.cfg.rare_share))
                .unwrap_or(1.0)
        })
        .sum();
    let dispersion = match (metric, ctx.baseline) {
        (Some(m), Some(b)) => match b.count(m) {
            (mean, var) if mean > 0.0 => (var / mean).max(1.0),
            _ => 1.0,
        },
        _ => 1.0,
    };
    let var = rate * dispersion;
    RareItems {
        p: stats::count_tail(items.len() as u64, rate, var),
        sd: var.sqrt(),
        items,
        rate,
    }
}

/// "get_schema (new), a→b (0.4%)" for the first few items.
pub(crate) fn list_items<S: AsRef<str>, E>(
    items: &[(&'static str, S, f64, E)],
    max: usize,
) -> String {
    let mut parts: Vec<String> = items
        .iter()
        .take(max)
        .map(|(_, item, share, _)| {
            if *share <= 0.0 {
                format!("{} (never seen)", item.as_ref())
            } else {
                format!("{} (in {:.1}% of instances)", item.as_ref(), share * 100.0)
            }
        })
        .collect();
    if items.len() > max {
        parts.push(format!("and {} more", items.len() - max));
    }
    parts.join(", ")
}

/// Count floor for a metric the agent has never shown: one occurrence in
/// the next instance has the Good–Turing chance 1/(n+1).
pub(crate) fn count_p(ctx: &Ctx<'_>, metric: &str, k: u64) -> (f64, f64, f64) {
    let (mean, var) = ctx.baseline.map(|b| b.count(metric)).unwrap_or((0.0, 0.0));
    let floor = 1.0 / (ctx.n() + 1.0);
    let p = stats::count_tail(k, mean.max(floor), var);
    (p, mean, var.sqrt())
}

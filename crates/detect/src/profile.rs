//! What one open agent instance has done so far.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use delegraph_model::{Evidence, NormEvent};
use serde::{Deserialize, Serialize};

use crate::baseline::Observation;
use crate::features::{dim, metric};

/// Most tool results kept per instance for data-flow checks.
const MAX_RESULTS: usize = 64;
/// Longest tool result or request text kept.
const MAX_TEXT: usize = 16 * 1024;
/// Most items kept per dimension of one instance.
const MAX_ITEMS: usize = 512;

/// An open instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    /// Instance id.
    pub instance: String,
    /// Root of its delegation chain.
    pub root: String,
    /// Logical agent (baseline key).
    pub agent_id: Option<String>,
    /// Human it runs for.
    pub human: Option<String>,
    /// Delegation chain, root first.
    pub chain: Vec<String>,
    /// First and last event time (ns).
    pub first_seen: i64,
    /// Last event time (ns).
    pub last_seen: i64,
    /// When the task ended, once known.
    pub task_end: Option<i64>,
    /// The last two tools, newest last.
    pub recent_tools: Vec<String>,
    /// Items (dimension index in [`dim::ALL`], item, the event that first
    /// showed it). A flat list: most instances touch a few dozen items, and
    /// nested maps cost kilobytes per instance.
    pub items: Vec<(u8, String, Evidence)>,
    /// Secret reads, and the secrets read with their first evidence.
    pub secret_reads: u64,
    /// Distinct secrets.
    pub secrets: BTreeMap<String, Evidence>,
    /// Sub-agent instances started under this (root) instance.
    pub sub_agents: BTreeMap<String, Evidence>,
    /// Deepest delegation seen under this root.
    pub max_depth: u32,
    /// Flags raised.
    pub flags: BTreeSet<String>,
    /// Highest risk of its findings.
    pub max_risk: u8,
    /// Detector subjects already raised for it.
    pub raised: BTreeSet<String>,
    /// The human's request text, when telemetry carries it.
    pub request: String,
    /// Credentials it used (a few; bounded by the engine).
    pub credentials: Vec<String>,
    /// Its own credential that stayed valid longest after the task ended,
    /// and for how many minutes (measured when it closes).
    pub credential_slack: Option<(String, u64)>,
    /// Rare-item counts measured when the instance closed (baseline metrics).
    pub rare: BTreeMap<String, u64>,
    /// Recent tool results, oldest first.
    pub results: VecDeque<ToolResult>,
    /// Denied policy decisions, oldest first (bounded).
    pub denials: VecDeque<Denial>,
    /// Whether any of its events ran under an approval.
    pub approval_seen: bool,
    /// Actions it made with no approval context.
    pub unapproved_actions: u64,
    /// The first of those.
    pub first_unapproved: Option<Evidence>,
}

/// A policy decision that refused the instance something.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Denial {
    /// Decision time (ns).
    pub at: i64,
    /// The tool or action asked for.
    pub action: Option<String>,
    /// The resource asked about.
    pub resource: Option<String>,
    /// The credential the request carried.
    pub credential: Option<String>,
    /// The decision record.
    pub evidence: Evidence,
}

/// A tool's output, kept to trace where later arguments came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ToolResult {
    /// The tool that returned it.
    pub tool: String,
    /// What it returned (clipped).
    pub text: String,
    /// The event that carried it.
    pub evidence: Evidence,
}

/// Evidence for one event.
pub fn evidence(e: &NormEvent) -> Evidence {
    Evidence {
        event_id: e.event_id.clone(),
        origin: e.origin.to_string(),
    }
}

fn clip(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Profile {
    /// Add `item` to `dimension`; true when it is new for this instance.
    pub fn add_item(&mut self, dimension: &str, item: String, e: &NormEvent) -> bool {
        let d = dim::index(dimension);
        let mut held = 0;
        for (x, name, _) in &self.items {
            if *x == d {
                if *name == item {
                    return false;
                }
                held += 1;
            }
        }
        if held >= MAX_ITEMS {
            return false;
        }
        self.items.push((d, item, evidence(e)));
        true
    }

    /// Items of one dimension.
    pub fn items(&self, dimension: &str) -> impl Iterator<Item = (&String, &Evidence)> {
        let d = dim::index(dimension);
        self.items
            .iter()
            .filter(move |(x, _, _)| *x == d)
            .map(|(_, name, ev)| (name, ev))
    }

    /// Remember a tool call; returns the new transition and trigram.
    pub fn push_tool(&mut self, tool: &str) -> (Option<String>, Option<String>) {
        let transition = self.recent_tools.last().map(|a| format!("{a}→{tool}"));
        let trigram = (self.recent_tools.len() == 2)
            .then(|| format!("{}→{}→{tool}", self.recent_tools[0], self.recent_tools[1]));
        self.recent_tools.push(tool.to_owned());
        if self.recent_tools.len() > 2 {
            self.recent_tools.remove(0);
        }
        (transition, trigram)
    }

    /// Keep the human's request (the first one seen wins; later turns append).
    pub fn add_request(&mut self, text: &str) {
        if self.request.len() < MAX_TEXT {
            self.request.push_str(clip(text));
            self.request.push('\n');
        }
    }

    /// Keep a tool result for data-flow checks.
    pub fn add_result(&mut self, tool: &str, text: &str, e: &NormEvent) {
        if self.results.len() == MAX_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(ToolResult {
            tool: tool.to_owned(),
            text: clip(text).to_owned(),
            evidence: evidence(e),
        });
    }

    /// What the baseline learns from this instance when it closes.
    pub fn observation(&self) -> Observation {
        let mut obs = Observation::default();
        for d in dim::ALL {
            let set: BTreeSet<String> = self.items(d).map(|(k, _)| k.clone()).collect();
            obs.items.insert(d, set);
        }
        obs.counts.insert(metric::SECRET_READS, self.secret_reads);
        obs.counts
            .insert(metric::DISTINCT_SECRETS, self.secrets.len() as u64);
        obs.counts.insert(
            metric::OPERATIONS,
            self.items(dim::OPERATION).count() as u64,
        );
        if self.instance == self.root {
            obs.counts
                .insert(metric::SUB_AGENTS, self.sub_agents.len() as u64);
            obs.counts.insert(metric::DEPTH, u64::from(self.max_depth));
        }
        if let Some((_, minutes)) = &self.credential_slack {
            obs.counts.insert(metric::CREDENTIAL_SLACK, *minutes);
        }
        if let Some(k) = self.rare.get(metric::RARE_CHAIN) {
            obs.counts.insert(metric::RARE_CHAIN, *k);
        }
        for f in &self.flags {
            if let Some(known) = crate::features::flag_name(f) {
                obs.flags.insert(known);
            }
        }
        if self.approval_seen {
            obs.flags.insert(crate::features::flag::APPROVED);
        }
        obs
    }
}

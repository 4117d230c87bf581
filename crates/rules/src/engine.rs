//! The loaded rule set, indexed, and the engine that runs it over events
//! and turns matches into findings.

use std::collections::HashMap;
use std::sync::Arc;

use delegraph_model::{
    AgentContext, Analyzer, AnalyzerId, AnalyzerStateError, AnalyzerStats, AttributedEvent,
    EventSignals, Evidence, Finding, NormEvent, Source, finding_id,
};

use serde::{Deserialize, Serialize};

use crate::correlation::{Correlation, CorrelationState, Fired, Hit};
use crate::fields::{EventView, FieldRef, FieldValue};
use crate::rule::Rule;
use crate::sequence::{Outcome, Pending, Sequence, SequenceState};

/// Value of [`Finding::detector`] on rule findings.
pub const RULE_DETECTOR: &str = "sigma";

/// Rules of one source, indexed by an exact field value each requires.
#[derive(Debug, Default)]
struct SourceIndex {
    /// Field → lower-cased value → rules requiring it.
    anchored: Vec<(FieldRef, HashMap<String, Vec<usize>>)>,
    /// Rules with no such requirement: tried on every event.
    free: Vec<usize>,
}

/// Compiled rules and correlations, ready to share between threads.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    correlations: Vec<Correlation>,
    sequences: Vec<Sequence>,
    index: HashMap<Source, SourceIndex>,
    files: usize,
    digest: u64,
}

impl RuleSet {
    /// Index compiled rules by source and anchor field.
    pub(crate) fn new(
        rules: Vec<Rule>,
        correlations: Vec<Correlation>,
        sequences: Vec<Sequence>,
        files: usize,
        digest: u64,
    ) -> Self {
        let mut index: HashMap<Source, SourceIndex> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            for s in &r.sources {
                let idx = index.entry(*s).or_default();
                match r.logic.anchor() {
                    Some((field, values)) => {
                        let slot = match idx.anchored.iter().position(|(f, _)| f == field) {
                            Some(p) => p,
                            None => {
                                idx.anchored.push((field.clone(), HashMap::new()));
                                idx.anchored.len() - 1
                            }
                        };
                        for v in values {
                            idx.anchored[slot]
                                .1
                                .entry(v.to_owned())
                                .or_default()
                                .push(i);
                        }
                    }
                    _ => idx.free.push(i),
                }
            }
        }
        Self {
            rules,
            correlations,
            sequences,
            index,
            files,
            digest,
        }
    }

    /// An empty set (no rules directory).
    pub fn empty() -> Self {
        Self::new(Vec::new(), Vec::new(), Vec::new(), 0, 0)
    }

    /// The detection rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The correlation rules.
    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    /// The sequences (extension documents).
    pub fn sequences(&self) -> &[Sequence] {
        &self.sequences
    }

    /// Rule files it was loaded from.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Hash of the rule files' names and texts: what a replay's run id
    /// includes, so changed rules make a new run (0 for no rules).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Indices of the rules the event matches, in rule order.
    pub fn matching(&self, ev: &EventView<'_>) -> Vec<usize> {
        let Some(idx) = self.index.get(&ev.event.source) else {
            return Vec::new();
        };
        let mut candidates: Vec<usize> = idx.free.clone();
        let mut values: Vec<FieldValue<'_>> = Vec::new();
        // Lower-cased into one buffer, not a new string per value looked up.
        let mut lower = String::new();
        for (field, by_value) in &idx.anchored {
            values.clear();
            ev.values(field, &mut values);
            for v in &values {
                let text = v.text();
                if text.is_ascii() {
                    lower.clear();
                    lower.push_str(&text);
                    lower.make_ascii_lowercase();
                } else {
                    lower = text.to_lowercase();
                }
                if let Some(rules) = by_value.get(lower.as_str()) {
                    candidates.extend_from_slice(rules);
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&i| self.rules[i].matches(ev));
        candidates
    }
}

/// Windows and chains in flight: what the checkpoint keeps (postcard, over
/// ordered maps, so the same state always gives the same bytes).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct EngineState {
    correlations: CorrelationState,
    sequences: SequenceState,
}

/// The id the rules engine's state is stored under in the checkpoint.
pub const RULES_ANALYZER: AnalyzerId = AnalyzerId("rules");

fn encode(state: &EngineState) -> Result<Vec<u8>, crate::RulesStateError> {
    postcard::to_stdvec(state).map_err(|e| crate::RulesStateError(e.to_string()))
}

/// Runs a rule set over attributed events in event-time order.
pub struct RuleEngine {
    set: Arc<RuleSet>,
    state: EngineState,
    matches: u64,
}

impl RuleEngine {
    /// Run `set` from empty correlation state.
    pub fn new(set: Arc<RuleSet>) -> Self {
        Self {
            set,
            state: EngineState::default(),
            matches: 0,
        }
    }

    /// The rules in force.
    pub fn set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Switch to a new rule set (hot reload); open windows of correlations
    /// that are still loaded are kept.
    pub fn replace(&mut self, set: Arc<RuleSet>) {
        let ids: Vec<&str> = set.correlations.iter().map(|c| c.id.as_str()).collect();
        self.state.correlations.keep_only(&ids);
        let ids: Vec<&str> = set.sequences.iter().map(|c| c.id.as_str()).collect();
        self.state.sequences.keep_only(&ids);
        self.set = set;
    }

    /// Rule matches seen so far.
    pub fn matches(&self) -> u64 {
        self.matches
    }

    /// Open correlation groups, sequence groups and pending absences.
    pub fn open_groups(&self) -> usize {
        self.state.correlations.groups() + self.state.sequences.size()
    }

    /// Correlation windows and sequence chains as bytes, for the checkpoint.
    pub fn save(&self) -> Result<Vec<u8>, crate::RulesStateError> {
        encode(&self.state)
    }

    /// Restore windows saved by [`save`](Self::save) under `set`.
    pub fn restore(set: Arc<RuleSet>, saved: &[u8]) -> Result<Self, crate::RulesStateError> {
        let mut engine = Self::new(set);
        engine.load(saved)?;
        Ok(engine)
    }

    /// Replace the state with `saved`, keeping only what the rules in force
    /// still use.
    fn load(&mut self, saved: &[u8]) -> Result<(), crate::RulesStateError> {
        self.state =
            postcard::from_bytes(saved).map_err(|e| crate::RulesStateError(e.to_string()))?;
        self.replace(self.set.clone());
        Ok(())
    }

    /// Evaluate one attributed event with the signals earlier analyzers
    /// added; findings go to `out`. `detected_at` is the stream's event-time
    /// clock.
    pub fn observe(
        &mut self,
        event: &NormEvent,
        context: AgentContext,
        signals: &EventSignals,
        detected_at: i64,
        out: &mut Vec<Finding>,
    ) {
        let ev = EventView::with_signals(event, context, signals);
        let set = self.set.clone();
        for due in self.state.sequences.advance(event.event_time.nanos()) {
            out.push(absence_finding(due, detected_at));
        }
        for i in set.matching(&ev) {
            self.matches += 1;
            let rule = &set.rules[i];
            if rule.generate {
                out.push(rule_finding(rule, event, detected_at));
            }
            for c in set.correlations.iter().filter(|c| c.uses(i)) {
                let positions: Vec<usize> = c.positions(i).collect();
                for pos in positions {
                    let Some(group) = c.group_key(pos, &ev) else {
                        continue;
                    };
                    let hit = Hit {
                        time: event.event_time.nanos(),
                        rule: pos,
                        value: c.value(&ev),
                        event_id: event.event_id.clone(),
                        origin: event.origin.text(),
                    };
                    if let Some(fired) = self.state.correlations.observe(c, group, hit) {
                        out.push(correlation_finding(c, &fired, event, detected_at));
                    }
                }
            }
            for s in set.sequences.iter().filter(|s| s.uses(i)) {
                for (pos, group) in s.slots(i, &ev) {
                    let hit = Hit {
                        time: event.event_time.nanos(),
                        rule: pos,
                        value: None,
                        event_id: event.event_id.clone(),
                        origin: event.origin.text(),
                    };
                    match self.state.sequences.observe(s, pos, &group, hit) {
                        Outcome::Fired(hits) => {
                            out.push(sequence_finding(s, &group, &hits, event, detected_at));
                        }
                        Outcome::Pending {
                            hits,
                            deadline,
                            after,
                        } => {
                            let finding = sequence_finding(s, &group, &hits, event, 0);
                            self.state.sequences.hold(
                                s,
                                &group,
                                Pending {
                                    deadline,
                                    after,
                                    hits,
                                    finding,
                                },
                            );
                        }
                        Outcome::Nothing => {}
                    }
                }
            }
        }
    }
}

impl Analyzer for RuleEngine {
    fn id(&self) -> AnalyzerId {
        RULES_ANALYZER
    }

    fn observe(
        &mut self,
        ev: &AttributedEvent<'_>,
        signals: &mut EventSignals,
        clock: i64,
        out: &mut Vec<Finding>,
    ) {
        RuleEngine::observe(self, ev.event, ev.context, signals, clock, out);
    }

    /// Sequences whose absent step's deadline passed `now` fire.
    fn expire(&mut self, now: i64, out: &mut Vec<Finding>) {
        for due in self.state.sequences.advance(now) {
            out.push(absence_finding(due, now));
        }
    }

    fn save(&self) -> Result<Vec<u8>, AnalyzerStateError> {
        RuleEngine::save(self).map_err(|e| state_error(&e))
    }

    fn restore(&mut self, saved: &[u8]) -> Result<(), AnalyzerStateError> {
        self.load(saved).map_err(|e| state_error(&e))
    }

    fn stats(&self) -> AnalyzerStats {
        AnalyzerStats::from([
            ("matches".to_owned(), self.matches),
            ("open_groups".to_owned(), self.open_groups() as u64),
        ])
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn state_error(e: &crate::RulesStateError) -> AnalyzerStateError {
    AnalyzerStateError {
        analyzer: RULES_ANALYZER,
        message: e.0.clone(),
    }
}

/// Findings carry the acting instance's attribution.
fn attributed(mut f: Finding, e: &NormEvent) -> Finding {
    let a = e.attribution.as_ref();
    f.agent_id = a
        .and_then(|a| a.agent_id.clone())
        .or_else(|| e.agent.agent_id.clone());
    f.agent_instance = a.and_then(|a| a.instance.clone());
    f.root_instance = a.and_then(|a| a.root_instance.clone());
    f.initiator = a
        .and_then(|a| a.initiator.clone())
        .or_else(|| e.on_behalf_of.clone());
    f.chain = a.map(|a| a.chain.clone()).unwrap_or_default();
    f.credential_id = e.credential_used.as_ref().map(|c| c.id.clone());
    (f.tool, f.resource) = e.tool_and_resource();
    f
}

fn who(e: &NormEvent) -> String {
    let a = e.attribution.as_ref();
    match a.and_then(|a| a.instance.as_deref()) {
        Some(i) => {
            let human = a
                .and_then(|a| a.initiator.as_deref())
                .map_or("no human on record".to_owned(), |h| format!("for {h}"));
            format!("agent instance {i} ({human})")
        }
        None => format!("{} ({})", e.actor.id, e.actor_kind.as_str()),
    }
}

/// What raised a finding: a rule, a correlation or a sequence.
struct Raiser<'a> {
    id: &'a str,
    severity: delegraph_model::Severity,
    risk: u8,
    tags: &'a [String],
}

/// A finding of `by` about events grouped under `key` (the instance or
/// actor for a rule, the group for a correlation or sequence), named after
/// its first event and dated `event_time`, attributed like `e`; the caller
/// writes what it says.
fn base_finding(
    by: &Raiser<'_>,
    key: &str,
    first_event: &str,
    event_time: i64,
    e: &NormEvent,
    detected_at: i64,
) -> Finding {
    let finding = Finding {
        finding_id: finding_id(&format!("sigma:{}", by.id), key, first_event),
        detector: RULE_DETECTOR.to_owned(),
        rule_id: Some(by.id.to_owned()),
        severity: by.severity,
        risk_score: by.risk,
        event_time,
        detected_at,
        agent_id: None,
        agent_instance: None,
        root_instance: None,
        initiator: None,
        credential_id: None,
        tool: None,
        resource: None,
        summary: String::new(),
        expected: String::new(),
        observed: String::new(),
        p_value: None,
        baseline_instances: 0,
        evidence: Vec::new(),
        chain: Vec::new(),
        tags: by.tags.to_vec(),
        instance_risk: 0,
        human_risk: 0,
    };
    attributed(finding, e)
}

fn subject(e: &NormEvent) -> String {
    e.attribution
        .as_ref()
        .and_then(|a| a.instance.clone())
        .unwrap_or_else(|| e.actor.id.clone())
}

fn rule_finding(rule: &Rule, e: &NormEvent, detected_at: i64) -> Finding {
    let by = Raiser {
        id: &rule.id,
        severity: rule.severity,
        risk: rule.risk,
        tags: &rule.tags,
    };
    let mut f = base_finding(
        &by,
        &subject(e),
        &e.event_id,
        e.event_time.nanos(),
        e,
        detected_at,
    );
    f.summary = format!(
        "Rule \"{}\" matched {} by {}.",
        rule.title,
        e.operation,
        who(e)
    );
    f.expected = format!("no event matching rule {}", rule.id);
    f.observed = format!("{} ({})", e.operation, e.event_id);
    f.evidence = vec![Evidence {
        event_id: e.event_id.clone(),
        origin: e.origin.text(),
    }];
    f
}

/// A finding about a correlation window or a sequence chain: named after
/// its first match, dated by its last, its first 20 matches as evidence.
fn window_finding(
    by: &Raiser<'_>,
    group: &str,
    hits: &[Hit],
    e: &NormEvent,
    detected_at: i64,
) -> Finding {
    let first = hits.first().map_or("", |h| h.event_id.as_str());
    let time = hits.last().map_or(e.event_time.nanos(), |h| h.time);
    let mut f = base_finding(by, group, first, time, e, detected_at);
    f.evidence = hits
        .iter()
        .take(20)
        .map(|h| Evidence {
            event_id: h.event_id.clone(),
            origin: h.origin.clone(),
        })
        .collect();
    f
}

fn group_label(group: &str) -> String {
    if group.is_empty() {
        "all events".to_owned()
    } else {
        group.replace('\u{1f}', ", ")
    }
}

/// A sequence's finding, attributed to the event that completed its chain;
/// for a chain ending in an absent step, the finding it will raise once
/// the deadline passes.
fn sequence_finding(
    s: &Sequence,
    group: &str,
    hits: &[Hit],
    e: &NormEvent,
    detected_at: i64,
) -> Finding {
    let by = Raiser {
        id: &s.id,
        severity: s.severity,
        risk: s.risk,
        tags: &s.tags,
    };
    let mut f = window_finding(&by, group, hits, e, detected_at);
    let (steps, absent) = s.describe();
    f.summary = match absent {
        None => format!(
            "Sequence \"{}\" completed for {} within {}: {steps} (last by {}).",
            s.title,
            group_label(group),
            s.maxspan,
            who(e)
        ),
        Some(a) => format!(
            "Sequence \"{}\" for {}: {steps} (last by {}), and no \"{a}\" within {}.",
            s.title,
            group_label(group),
            who(e),
            s.maxspan
        ),
    };
    f.expected = match absent {
        None => format!("no {steps} within {}", s.maxspan),
        Some(a) => format!("\"{a}\" within {} of the first step", s.maxspan),
    };
    f.observed = format!("{} steps matched", hits.len());
    f
}

/// A pending chain whose absent step's deadline passed.
fn absence_finding(p: Pending, detected_at: i64) -> Finding {
    let mut f = p.finding;
    f.event_time = p.deadline;
    f.detected_at = detected_at;
    f
}

fn correlation_finding(c: &Correlation, fired: &Fired, e: &NormEvent, detected_at: i64) -> Finding {
    let by = Raiser {
        id: &c.id,
        severity: c.severity,
        risk: c.risk,
        tags: &c.tags,
    };
    let mut f = window_finding(&by, &fired.group, &fired.hits, e, detected_at);
    f.summary = format!(
        "Correlation \"{}\" fired for {} ({} matching events; last by {}).",
        c.title,
        group_label(&fired.group),
        fired.hits.len(),
        who(e)
    );
    f.expected = format!("correlation {} not satisfied", c.id);
    f.observed = format!("{} counted within the timespan", fired.counted);
    f
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

//! Sigma correlation rules evaluated in stream, in event time.
//!
//! Each correlation keeps, per group (the values of its `group-by` fields),
//! the matches of its rules inside the last `timespan`, sorted by event
//! time, so a match that arrives late still lands in the right window.
//! When a window satisfies the condition the correlation fires once and
//! the window's matches are spent. State is bounded: matches older than
//! the timespan behind the newest event are dropped, a group keeps at most
//! [`MAX_PER_GROUP`] matches and a correlation at most [`MAX_GROUPS`] groups.

use std::collections::{BTreeMap, BTreeSet};

use rsigma_parser::{ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType};
use serde::{Deserialize, Serialize};

use crate::fields::{EventView, FieldRef};
use crate::rule::{Rule, known_id, level_risk, resolve, span_nanos};
use crate::temporal_condition::{self, RuleExpr, TemporalCondition};

/// Most matches one group holds; the oldest go first.
pub const MAX_PER_GROUP: usize = 4096;
/// Most groups one correlation holds; the stalest go first.
pub const MAX_GROUPS: usize = 100_000;

/// What a correlation counts.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    EventCount,
    ValueCount(Vec<FieldRef>),
    /// Every referenced rule, or a Sigma v2.2 condition over them.
    Temporal(Option<RuleExpr>),
    /// These positions, matched in this order.
    TemporalOrdered(Vec<usize>),
}

/// A compiled correlation rule.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// Its id (or name, or title).
    pub id: String,
    /// Title for summaries.
    pub title: String,
    /// Severity of its findings.
    pub severity: delegraph_model::Severity,
    /// Risk of its findings.
    pub risk: u8,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether the referenced rules also raise their own findings.
    pub generate: bool,
    kind: Kind,
    /// Referenced rules, in the order written (matters for temporal_ordered).
    rules: Vec<usize>,
    /// Group-by fields per referenced rule (aliases resolved).
    group_by: Vec<Vec<FieldRef>>,
    /// Timespan in nanoseconds.
    span: i64,
    predicates: Vec<(ConditionOperator, u64)>,
}

/// One rule match a window holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// Event time (ns).
    pub time: i64,
    /// Which referenced rule (position in the correlation's list).
    pub rule: usize,
    /// The counted field's value (value_count).
    pub value: Option<String>,
    /// The event's id.
    pub event_id: String,
    /// Where it was read.
    pub origin: String,
}

/// A correlation that fired: its group and the matches it rests on.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The group's key (`field=value` joined).
    pub group: String,
    /// The matches of the window, in event time.
    pub hits: Vec<Hit>,
    /// What the condition counted (events, distinct values or rules).
    pub counted: usize,
}

impl Correlation {
    /// Compile against the loaded detection rules.
    pub fn compile(c: &CorrelationRule, rules: &[Rule]) -> Result<Self, String> {
        let refs = c
            .rules
            .iter()
            .map(|r| resolve(rules, r))
            .collect::<Result<Vec<_>, _>>()?;
        if refs.is_empty() {
            return Err("references no rule".into());
        }
        let (predicates, field, extended) = match &c.condition {
            CorrelationCondition::Threshold {
                predicates, field, ..
            } => (predicates.clone(), field.clone(), None),
            CorrelationCondition::Extended(expr) => (
                Vec::new(),
                None,
                Some(temporal_condition::compile(c, expr)?),
            ),
        };
        let kind = match (extended, c.correlation_type) {
            (Some(TemporalCondition::Unordered(expr)), _) => Kind::Temporal(Some(expr)),
            (Some(TemporalCondition::Ordered(order)), _) => Kind::TemporalOrdered(order),
            (Some(TemporalCondition::Absence { .. }), _) => {
                return Err("a condition with `not` is compiled as a sequence".into());
            }
            (None, kind) => Self::threshold_kind(kind, field, refs.len())?,
        };
        let group_by = (0..refs.len())
            .map(|pos| group_fields(c, pos, &rules[refs[pos]]))
            .collect::<Result<_, _>>()?;
        let (severity, risk) = level_risk(c.level);
        Ok(Self {
            id: known_id(c.id.as_ref(), c.name.as_ref(), &c.title),
            title: c.title.clone(),
            severity,
            risk,
            tags: c.tags.clone(),
            generate: c.generate,
            kind,
            rules: refs,
            group_by,
            span: span_nanos(c.timespan.seconds),
            predicates,
        })
    }

    /// What a correlation with a threshold condition counts.
    fn threshold_kind(
        kind: CorrelationType,
        field: Option<Vec<String>>,
        rules: usize,
    ) -> Result<Kind, String> {
        Ok(match kind {
            CorrelationType::EventCount => Kind::EventCount,
            CorrelationType::ValueCount => {
                let fields = field.ok_or("value_count needs condition.field")?;
                Kind::ValueCount(
                    fields
                        .iter()
                        .map(|f| FieldRef::parse(f))
                        .collect::<Result<_, _>>()?,
                )
            }
            CorrelationType::Temporal => Kind::Temporal(None),
            CorrelationType::TemporalOrdered => Kind::TemporalOrdered((0..rules).collect()),
            other => return Err(format!("correlation type {other:?} is not supported")),
        })
    }

    /// Whether it references rule `i`.
    pub fn uses(&self, i: usize) -> bool {
        self.rules.contains(&i)
    }

    /// Positions of rule `i` among the referenced rules.
    pub(crate) fn positions(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, r)| **r == i)
            .map(|(p, _)| p)
    }

    /// The group key of an event matched by referenced rule `pos`, or none
    /// when a group-by field is missing (Sigma: such events do not count).
    pub(crate) fn group_key(&self, pos: usize, ev: &EventView<'_>) -> Option<String> {
        group_key(&self.group_by[pos], ev)
    }

    /// The counted value of an event (value_count).
    pub(crate) fn value(&self, ev: &EventView<'_>) -> Option<String> {
        let Kind::ValueCount(fields) = &self.kind else {
            return None;
        };
        let mut values = Vec::new();
        let mut out = Vec::new();
        for f in fields {
            values.clear();
            ev.values(f, &mut values);
            out.push(values.first()?.text().into_owned());
        }
        Some(out.join("\u{1f}"))
    }

    fn satisfied(&self, n: usize) -> bool {
        let n = n as u64;
        self.predicates.iter().all(|(op, v)| match op {
            ConditionOperator::Lt => n < *v,
            ConditionOperator::Lte => n <= *v,
            ConditionOperator::Gt => n > *v,
            ConditionOperator::Gte => n >= *v,
            ConditionOperator::Eq => n == *v,
            ConditionOperator::Neq => n != *v,
        })
    }

    /// Evaluate the windows a new match at `time` belongs to; the first
    /// that satisfies the condition, as positions in `hits`.
    fn fire(&self, hits: &[Hit], time: i64) -> Option<(Vec<usize>, usize)> {
        // Windows start at a match no earlier than `time - span` and no
        // later than `time`, and contain `time`.
        for (s, start) in hits.iter().enumerate() {
            if start.time < time.saturating_sub(self.span) || start.time > time {
                continue;
            }
            let end = start.time.saturating_add(self.span);
            let window: Vec<usize> = (s..hits.len())
                .take_while(|&i| hits[i].time <= end)
                .collect();
            if let Some(n) = self.window_counts(hits, &window) {
                return Some((window, n));
            }
        }
        None
    }

    /// What the window counts, when it satisfies the condition.
    fn window_counts(&self, hits: &[Hit], window: &[usize]) -> Option<usize> {
        match &self.kind {
            Kind::EventCount => Some(window.len()).filter(|n| self.satisfied(*n)),
            Kind::ValueCount(_) => {
                let distinct: BTreeSet<&str> = window
                    .iter()
                    .filter_map(|&i| hits[i].value.as_deref())
                    .collect();
                Some(distinct.len()).filter(|n| self.satisfied(*n))
            }
            Kind::Temporal(expr) => {
                let present: BTreeSet<usize> = window.iter().map(|&i| hits[i].rule).collect();
                let holds = match expr {
                    None => (0..self.rules.len()).all(|p| present.contains(&p)),
                    Some(expr) => expr.holds(&|p| present.contains(&p)),
                };
                holds.then_some(present.len())
            }
            Kind::TemporalOrdered(order) => {
                let mut next = 0;
                for &i in window {
                    if order.get(next) == Some(&hits[i].rule) {
                        next += 1;
                    }
                }
                (next == order.len()).then_some(next)
            }
        }
    }
}

/// Open windows of every correlation, by group.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CorrelationState {
    /// Correlation id → group key → matches sorted by event time.
    groups: BTreeMap<String, BTreeMap<String, Vec<Hit>>>,
    /// Newest event time seen (ns).
    newest: i64,
}

impl CorrelationState {
    /// Groups held, across correlations.
    pub fn groups(&self) -> usize {
        self.groups.values().map(BTreeMap::len).sum()
    }

    /// Record a match and return what fired.
    pub(crate) fn observe(&mut self, c: &Correlation, group: String, hit: Hit) -> Option<Fired> {
        self.newest = self.newest.max(hit.time);
        let horizon = self.newest.saturating_sub(c.span);
        if hit.time < horizon {
            // Later than any window it could belong to.
            return None;
        }
        let groups = self.groups.entry(c.id.clone()).or_default();
        let hits = group_slot(groups, &group, horizon);
        let time = hit.time;
        insert_sorted(hits, hit);
        let (window, counted) = c.fire(hits, time)?;
        let fired = spend(hits, &window);
        if hits.is_empty() {
            groups.remove(&group);
        }
        Some(Fired {
            group,
            hits: fired,
            counted,
        })
    }

    /// Drop the windows of correlations no longer loaded.
    pub(crate) fn keep_only(&mut self, ids: &[&str]) {
        self.groups.retain(|id, _| ids.contains(&id.as_str()));
    }
}

/// The fields correlation `c` groups the events of its `pos`-th rule by:
/// `group-by`, with aliases (which name a field differently per rule)
/// resolved.
pub(crate) fn group_fields(
    c: &CorrelationRule,
    pos: usize,
    rule: &Rule,
) -> Result<Vec<FieldRef>, String> {
    c.group_by
        .iter()
        .map(|g| {
            let name = c
                .aliases
                .iter()
                .find(|a| &a.alias == g)
                .and_then(|a| {
                    a.mapping
                        .iter()
                        .find(|(r, _)| rule.is(r) || c.rules.get(pos) == Some(*r))
                        .map(|(_, f)| f.clone())
                })
                .unwrap_or_else(|| g.clone());
            FieldRef::parse(&name)
        })
        .collect()
}

/// The values of `fields` in an event, joined: the key of its group, or
/// none when a field is missing (such events do not count).
pub(crate) fn group_key(fields: &[FieldRef], ev: &EventView<'_>) -> Option<String> {
    let mut key = String::new();
    let mut values = Vec::new();
    for f in fields {
        values.clear();
        ev.values(f, &mut values);
        let v = values.first()?;
        if !key.is_empty() {
            key.push('\u{1f}');
        }
        key.push_str(&v.text());
    }
    Some(key)
}

/// The matches of `group`, created if need be, with matches before
/// `horizon` dropped; at [`MAX_GROUPS`], groups with nothing after the
/// horizon go first, then the stalest.
pub(crate) fn group_slot<'a>(
    groups: &'a mut BTreeMap<String, Vec<Hit>>,
    group: &str,
    horizon: i64,
) -> &'a mut Vec<Hit> {
    if groups.len() >= MAX_GROUPS && !groups.contains_key(group) {
        groups.retain(|_, hits| hits.last().is_some_and(|h| h.time >= horizon));
        if groups.len() >= MAX_GROUPS
            && let Some(stalest) = groups
                .iter()
                .min_by_key(|(_, h)| h.last().map_or(i64::MIN, |h| h.time))
                .map(|(k, _)| k.clone())
        {
            groups.remove(&stalest);
        }
    }
    let hits = groups.entry(group.to_owned()).or_default();
    hits.retain(|h| h.time >= horizon);
    hits
}

/// Insert a match in event-time order (after equal times: ties count in
/// arrival order); past [`MAX_PER_GROUP`] the oldest goes.
pub(crate) fn insert_sorted(hits: &mut Vec<Hit>, hit: Hit) {
    let at = hits.partition_point(|h| h.time <= hit.time);
    hits.insert(at, hit);
    if hits.len() > MAX_PER_GROUP {
        hits.remove(0);
    }
}

/// Take the matches at `positions` (ascending) out of `hits`, in order.
pub(crate) fn spend(hits: &mut Vec<Hit>, positions: &[usize]) -> Vec<Hit> {
    let mut taken = Vec::with_capacity(positions.len());
    for &i in positions.iter().rev() {
        taken.push(hits.remove(i));
    }
    taken.reverse();
    taken
}

//! The sequence extension: ordered steps with a maximum span, grouped by a
//! key that each step may read from a different field, optionally ending
//! in an absent step ("A, then B, and no C before the span ends").
//!
//! Sigma's `temporal_ordered` says that rules matched in order inside a
//! window; it cannot join steps on different fields (the key created in
//! step one, used in step two) or say that something did *not* happen.
//! Both are what investigators of agents ask: a credential minted and then
//! used elsewhere; a task that started and never ended. A sequence lives in
//! its own YAML document beside Sigma rules (top-level key `sequence:`),
//! referencing rules by id or name like a correlation does.
//!
//! Evaluation is in event time. Steps match in order (ties in event time
//! count in the order received), each step a different event, all within
//! `maxspan` of the first step's event. A trailing absent step turns a
//! complete chain into a pending one; it fires once the stream's event
//! time passes the first event's time plus `maxspan` with no match of the
//! absent rule from the last present step on, and is cancelled by one.

use std::collections::{BTreeMap, BTreeSet};

use delegraph_model::{Finding, Severity};
use rsigma_parser::{CorrelationCondition, CorrelationRule, Level, Timespan};
use serde::{Deserialize, Serialize};

use crate::correlation::{Hit, group_fields, group_key, group_slot, insert_sorted, spend};
use crate::fields::{EventView, FieldRef};
use crate::rule::{Rule, known_id, level_risk, resolve, span_nanos};
use crate::temporal_condition::{self, TemporalCondition};

/// Most pending absences held; past it the earliest deadline is dropped
/// (and counted) rather than fired, since nothing proved the absence.
pub const MAX_PENDING: usize = 100_000;

/// One key or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Keys {
    One(String),
    Many(Vec<String>),
}

impl Keys {
    fn names(&self) -> Vec<String> {
        match self {
            Keys::One(k) => vec![k.clone()],
            Keys::Many(k) => k.clone(),
        }
    }
}

/// A sequence document as written. Other Sigma metadata (status,
/// description, references, author, …) may appear and is ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct SequenceDoc {
    pub(crate) title: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    tags: Vec<String>,
    sequence: SequenceSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceSpec {
    #[serde(default)]
    by: Option<Keys>,
    maxspan: String,
    steps: Vec<StepSpec>,
    #[serde(default)]
    generate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    absent: Option<String>,
    #[serde(default)]
    by: Option<Keys>,
}

/// One step: which rule, and the fields its events are grouped by.
#[derive(Debug, Clone)]
struct Step {
    rule: usize,
    key: Vec<FieldRef>,
}

/// A compiled sequence.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Its id (or name, or title).
    pub id: String,
    /// Title for summaries.
    pub title: String,
    /// Severity of its findings.
    pub severity: Severity,
    /// Risk of its findings.
    pub risk: u8,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether the referenced rules also raise their own findings.
    pub generate: bool,
    /// `maxspan` as written.
    pub maxspan: String,
    steps: Vec<Step>,
    absent: Option<Step>,
    span: i64,
    /// Titles of the present steps' rules, then of the absent step's.
    titles: Vec<String>,
}

impl Sequence {
    /// Compile a document against the loaded detection rules.
    pub(crate) fn compile(doc: &SequenceDoc, rules: &[Rule]) -> Result<Self, String> {
        let spec = &doc.sequence;
        let span = Timespan::parse(&spec.maxspan).map_err(|_| {
            format!(
                "maxspan `{}` is not a timespan like 30s, 10m, 1h, 7d",
                spec.maxspan
            )
        })?;
        let default_key = spec.by.as_ref().map(Keys::names).unwrap_or_default();
        let mut steps = Vec::new();
        let mut absent = None;
        for (n, s) in spec.steps.iter().enumerate() {
            let (name, is_absent) = match (&s.rule, &s.absent) {
                (Some(r), None) => (r, false),
                (None, Some(r)) => (r, true),
                _ => {
                    return Err(format!(
                        "step {} needs exactly one of `rule` or `absent`",
                        n + 1
                    ));
                }
            };
            let rule = resolve(rules, name)?;
            let key_names =
                s.by.as_ref()
                    .map(Keys::names)
                    .unwrap_or(default_key.clone());
            let key = key_names
                .iter()
                .map(|k| FieldRef::parse(k))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(first) = steps.first().map(|s: &Step| s.key.len())
                && first != key.len()
            {
                return Err(format!(
                    "step {} groups by {} fields and step 1 by {first}; every step needs as many",
                    n + 1,
                    key.len()
                ));
            }
            let step = Step { rule, key };
            if is_absent {
                if n + 1 != spec.steps.len() || n == 0 {
                    return Err(format!(
                        "step {}: an `absent` step must be the last and follow a present step",
                        n + 1
                    ));
                }
                absent = Some(step);
            } else {
                steps.push(step);
            }
        }
        if steps.is_empty() {
            return Err("a sequence needs at least one step".into());
        }
        if steps.len() == 1 && absent.is_none() {
            return Err("a sequence of one step is a rule; add a step or an `absent` step".into());
        }
        let (severity, risk) = level_risk(doc.level);
        Ok(Self {
            id: known_id(doc.id.as_ref(), doc.name.as_ref(), &doc.title),
            title: doc.title.clone(),
            severity,
            risk,
            tags: doc.tags.clone(),
            generate: spec.generate,
            maxspan: spec.maxspan.clone(),
            titles: steps
                .iter()
                .chain(&absent)
                .map(|s| rules[s.rule].title.clone())
                .collect(),
            steps,
            absent,
            span: span_nanos(span.seconds),
        })
    }

    /// Compile a Sigma v2.2 `temporal` or `temporal_ordered` correlation
    /// whose condition negates a rule (`a and not b`): its present rules
    /// become the steps, the negated one the absent step, `timespan` the
    /// maxspan and `group-by` each step's key (see `temporal_condition`).
    pub(crate) fn from_correlation(c: &CorrelationRule, rules: &[Rule]) -> Result<Self, String> {
        let CorrelationCondition::Extended(expr) = &c.condition else {
            return Err("only a boolean condition with `not` is a sequence".into());
        };
        let TemporalCondition::Absence { present, absent } = temporal_condition::compile(c, expr)?
        else {
            return Err("only a condition with `not` is a sequence".into());
        };
        let step = |pos: usize| -> Result<Step, String> {
            let name = c
                .rules
                .get(pos)
                .ok_or("condition names a rule not listed")?;
            let rule = resolve(rules, name)?;
            let key = group_fields(c, pos, &rules[rule])?;
            Ok(Step { rule, key })
        };
        let steps = present
            .into_iter()
            .map(step)
            .collect::<Result<Vec<_>, _>>()?;
        let absent = step(absent)?;
        let (severity, risk) = level_risk(c.level);
        Ok(Self {
            id: known_id(c.id.as_ref(), c.name.as_ref(), &c.title),
            title: c.title.clone(),
            severity,
            risk,
            tags: c.tags.clone(),
            generate: c.generate,
            maxspan: c.timespan.original.clone(),
            titles: steps
                .iter()
                .chain(std::iter::once(&absent))
                .map(|s| rules[s.rule].title.clone())
                .collect(),
            steps,
            absent: Some(absent),
            span: span_nanos(c.timespan.seconds),
        })
    }

    /// Whether it references rule `i`.
    pub fn uses(&self, i: usize) -> bool {
        self.steps.iter().chain(&self.absent).any(|s| s.rule == i)
    }

    /// The steps rule `i` fills, as positions (the absent step is the one
    /// after the last present step), with the event's group key for each.
    pub(crate) fn slots(&self, i: usize, ev: &EventView<'_>) -> Vec<(usize, String)> {
        self.steps
            .iter()
            .chain(&self.absent)
            .enumerate()
            .filter(|(_, s)| s.rule == i)
            .filter_map(|(p, s)| group_key(&s.key, ev).map(|k| (p, k)))
            .collect()
    }

    /// What the steps say, for summaries: "A → B" and the absent step's
    /// title, if any.
    pub(crate) fn describe(&self) -> (String, Option<&str>) {
        let present = self.titles[..self.steps.len()].join(" → ");
        (
            present,
            self.absent
                .as_ref()
                .map(|_| self.titles[self.steps.len()].as_str()),
        )
    }

    fn is_absent_step(&self, pos: usize) -> bool {
        self.absent.is_some() && pos == self.steps.len()
    }

    /// The earliest complete chain of present steps in `hits`, as positions.
    fn chain(&self, hits: &[Hit]) -> Option<Vec<usize>> {
        'start: for (s, first) in hits.iter().enumerate() {
            if first.rule != 0 {
                continue;
            }
            let end = first.time.saturating_add(self.span);
            let mut chain = vec![s];
            for step in 1..self.steps.len() {
                let at = chain[chain.len() - 1];
                let prev = &hits[at].event_id;
                let next = (at + 1..hits.len())
                    .take_while(|&j| hits[j].time <= end)
                    .find(|&j| hits[j].rule == step && hits[j].event_id != *prev);
                match next {
                    Some(j) => chain.push(j),
                    None => continue 'start,
                }
            }
            return Some(chain);
        }
        None
    }

    /// Whether `hits` hold a match of the absent step within `from..=to`.
    fn absent_seen(&self, hits: &[Hit], from: i64, to: i64) -> bool {
        let pos = self.steps.len();
        hits.iter()
            .any(|h| h.rule == pos && h.time >= from && h.time <= to)
    }
}

/// A chain waiting for its absent step's deadline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// When the absence is proved (first event's time + maxspan).
    pub deadline: i64,
    /// The last present step's time: absent matches count from here.
    pub after: i64,
    /// The chain's matches.
    pub hits: Vec<Hit>,
    /// The finding to raise, attributed to the chain's last event.
    pub finding: Finding,
}

/// What a sequence step produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A chain without an absent step completed.
    Fired(Vec<Hit>),
    /// A chain waits for its absent step's deadline.
    Pending {
        /// The chain's matches.
        hits: Vec<Hit>,
        /// First event's time + maxspan.
        deadline: i64,
        /// The last present step's time.
        after: i64,
    },
    /// Nothing yet.
    Nothing,
}

/// Open chains of every sequence, by group, and pending absences.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SequenceState {
    /// Sequence id → group key → matches sorted by event time.
    groups: BTreeMap<String, BTreeMap<String, Vec<Hit>>>,
    /// `sequence id \u{1e} group` → chains waiting for their deadline.
    pending: BTreeMap<String, Vec<Pending>>,
    /// (deadline, pending key), for finding what is due.
    deadlines: BTreeSet<(i64, String)>,
    /// Newest event time seen (ns): the watermark deadlines are read on.
    newest: i64,
    /// Pending absences dropped at [`MAX_PENDING`].
    dropped: u64,
}

fn pending_key(seq: &str, group: &str) -> String {
    format!("{seq}\u{1e}{group}")
}

impl SequenceState {
    /// Groups and pending absences held.
    pub fn size(&self) -> usize {
        self.groups.values().map(BTreeMap::len).sum::<usize>() + self.deadlines.len()
    }

    /// Record a match of step `pos` of `seq` in `group`.
    pub(crate) fn observe(&mut self, seq: &Sequence, pos: usize, group: &str, hit: Hit) -> Outcome {
        self.newest = self.newest.max(hit.time);
        let horizon = self.newest.saturating_sub(seq.span);
        if seq.is_absent_step(pos) {
            // An absent match cancels the chains it follows, and is kept for
            // chains that complete later but began before it.
            let key = pending_key(&seq.id, group);
            if let Some(list) = self.pending.get_mut(&key) {
                let t = hit.time;
                let (gone, kept): (Vec<Pending>, Vec<Pending>) = list
                    .drain(..)
                    .partition(|p| t >= p.after && t <= p.deadline);
                *list = kept;
                for p in gone {
                    if !list.iter().any(|k| k.deadline == p.deadline) {
                        self.deadlines.remove(&(p.deadline, key.clone()));
                    }
                }
                if list.is_empty() {
                    self.pending.remove(&key);
                }
            }
        }
        if hit.time < horizon {
            return Outcome::Nothing;
        }
        let groups = self.groups.entry(seq.id.clone()).or_default();
        let hits = group_slot(groups, group, horizon);
        insert_sorted(hits, hit);
        let Some(chain) = seq.chain(hits) else {
            return Outcome::Nothing;
        };
        let start = hits[chain[0]].time;
        let after = hits[chain[chain.len() - 1]].time;
        let spent = spend(hits, &chain);
        if hits.is_empty() {
            groups.remove(group);
        }
        if seq.absent.is_none() {
            return Outcome::Fired(spent);
        }
        let deadline = start.saturating_add(seq.span);
        let followed = self
            .groups
            .get(&seq.id)
            .and_then(|g| g.get(group))
            .is_some_and(|h| seq.absent_seen(h, after, deadline));
        if followed {
            Outcome::Nothing
        } else {
            Outcome::Pending {
                hits: spent,
                deadline,
                after,
            }
        }
    }

    /// Hold a chain until its deadline.
    pub(crate) fn hold(&mut self, seq: &Sequence, group: &str, pending: Pending) {
        let key = pending_key(&seq.id, group);
        if self.deadlines.len() >= MAX_PENDING
            && let Some(first) = self.deadlines.pop_first()
        {
            if let Some(list) = self.pending.get_mut(&first.1) {
                list.retain(|p| p.deadline != first.0);
                if list.is_empty() {
                    self.pending.remove(&first.1);
                }
            }
            self.dropped += 1;
        }
        self.deadlines.insert((pending.deadline, key.clone()));
        self.pending.entry(key).or_default().push(pending);
    }

    /// Move the watermark to `time` and take the chains whose deadline it
    /// passed: their absence is proved.
    pub(crate) fn advance(&mut self, time: i64) -> Vec<Pending> {
        self.newest = self.newest.max(time);
        let mut due = Vec::new();
        while let Some((deadline, _)) = self.deadlines.first()
            && *deadline < self.newest
        {
            let Some((deadline, key)) = self.deadlines.pop_first() else {
                break;
            };
            if let Some(list) = self.pending.get_mut(&key) {
                let (now, later): (Vec<Pending>, Vec<Pending>) =
                    list.drain(..).partition(|p| p.deadline == deadline);
                *list = later;
                due.extend(now);
                if list.is_empty() {
                    self.pending.remove(&key);
                }
            }
        }
        due
    }

    /// Drop the state of sequences no longer loaded.
    pub(crate) fn keep_only(&mut self, ids: &[&str]) {
        self.groups.retain(|id, _| ids.contains(&id.as_str()));
        let live = |key: &str| {
            key.split('\u{1e}')
                .next()
                .is_some_and(|id| ids.contains(&id))
        };
        self.pending.retain(|k, _| live(k));
        self.deadlines.retain(|(_, k)| live(k));
    }
}

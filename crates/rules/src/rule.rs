//! A detection rule compiled: metadata the finding needs and its logic.

use delegraph_model::{Severity, Source};
use rsigma_parser::{Level, SigmaRule};

use crate::detection::Logic;
use crate::logsource;
use crate::matcher::CompileError;

/// One compiled Sigma detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's `id` (or, lacking one, its `name` or title).
    pub id: String,
    /// `name`, which correlations may reference instead of the id.
    pub name: Option<String>,
    /// Title for summaries.
    pub title: String,
    /// Severity from `level`.
    pub severity: Severity,
    /// Risk score the finding carries.
    pub risk: u8,
    /// `tags` (`attack.t1098.001`, `owasp-nhi.nhi5`, …).
    pub tags: Vec<String>,
    /// Sources its logsource maps to.
    pub sources: Vec<Source>,
    /// Whether its matches become findings on their own (a rule only a
    /// correlation references does not, unless the correlation says `generate`).
    pub generate: bool,
    pub(crate) logic: Logic,
    pub(crate) filters: Vec<Logic>,
}

/// Severity and risk score for a Sigma level.
pub fn level_risk(level: Option<Level>) -> (Severity, u8) {
    match level {
        Some(Level::Informational) => (Severity::Info, 10),
        Some(Level::Low) => (Severity::Low, 30),
        None | Some(Level::Medium) => (Severity::Medium, 50),
        Some(Level::High) => (Severity::High, 70),
        Some(Level::Critical) => (Severity::Critical, 90),
    }
}

/// The id a rule, correlation or sequence is known by: its `id`, else its
/// `name`, else its title.
pub(crate) fn known_id(id: Option<&String>, name: Option<&String>, title: &str) -> String {
    id.or(name).map_or_else(|| title.to_owned(), Clone::clone)
}

/// The position of the rule `reference` (an id, name or title) means.
pub(crate) fn resolve(rules: &[Rule], reference: &str) -> Result<usize, String> {
    rules
        .iter()
        .position(|x| x.is(reference))
        .ok_or_else(|| format!("references rule `{reference}`, which is not loaded"))
}

/// A Sigma timespan's seconds as event-time nanoseconds (saturating).
pub(crate) fn span_nanos(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX / 1_000_000_000)
        .saturating_mul(1_000_000_000)
}

impl Rule {
    /// Compile one parsed rule.
    pub fn compile(r: &SigmaRule) -> Result<Self, CompileError> {
        let sources = logsource::sources(&r.logsource)?;
        let logic = Logic::compile(&r.detection.named, &r.detection.conditions)?;
        let (severity, risk) = level_risk(r.level);
        Ok(Self {
            id: known_id(r.id.as_ref(), r.name.as_ref(), &r.title),
            name: r.name.clone(),
            title: r.title.clone(),
            severity,
            risk,
            tags: r.tags.clone(),
            sources,
            generate: true,
            logic,
            filters: Vec::new(),
        })
    }

    /// Whether `reference` (an id, name or title in a correlation or
    /// filter) means this rule.
    pub fn is(&self, reference: &str) -> bool {
        self.id == reference || self.name.as_deref() == Some(reference) || self.title == reference
    }

    /// Whether the event satisfies the rule and the condition of every
    /// filter naming it (Sigma filters are AND-ed to the rule: a filter
    /// written `condition: not selection` excludes its selection).
    pub fn matches(&self, ev: &crate::EventView<'_>) -> bool {
        self.logic.matches(ev) && self.filters.iter().all(|f| f.matches(ev))
    }
}

//! Sigma rules over delegraph's events: detection rules (with filters) and
//! correlation rules, compiled once into indexed matchers.
//!
//! Rules are parsed by rsigma-parser, then compiled here: field names
//! resolve to either the vendor record's fields or the `delegraph.*` agent
//! context ([`fields`]), values to string comparisons or regular
//! expressions ([`matcher`]), conditions to trees over the detections.
//! [`RuleSet`] indexes rules by source and by one exact field value each
//! requires, so an event is tried only against rules that could match it.
//! [`RuleEngine`] runs a set in event time, keeps correlation windows and
//! turns matches into findings (same table and id scheme as detectors).

mod correlation;
mod detection;
mod engine;
pub mod fields;
mod load;
mod logsource;
mod matcher;
mod rule;
mod sequence;
mod temporal_condition;
mod watch;
mod yaml_guard;

pub use correlation::{MAX_GROUPS, MAX_PER_GROUP};
pub use engine::{RULE_DETECTOR, RULES_ANALYZER, RuleEngine, RuleSet};
pub use fields::{AgentContext, EventSignals, EventView};
pub use load::{compile_texts, is_rule_file, load_dir, rule_files};
pub use rule::Rule;
pub use sequence::{MAX_PENDING, Sequence};
pub use watch::RuleWatcher;
pub use yaml_guard::{MAX_RULE_FILE_BYTES, guard_yaml};

/// A rule file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RuleError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the file itself is the problem).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Saved correlation state that cannot be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("rule state: {0}")]
pub struct RulesStateError(pub String);

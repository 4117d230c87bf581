//! Sigma v2.2's boolean conditions on `temporal` and `temporal_ordered`
//! correlations: `condition: create_key and not delete_key`.
//!
//! A condition without `not` is read over the set of rules matched inside
//! a window, as the plain temporal types are. A `not` asks for an absence:
//! no match of the negated rule inside the window. In a stream that is
//! known only once event time has passed the window's end, which is what
//! the sequence extension's trailing absent step already proves (firing on
//! the watermark, cancelled by a late match, surviving checkpoints). So a
//! correlation with `not` is compiled into a sequence: its present rules
//! as steps, the negated rule as the absent step, `timespan` as `maxspan`
//! and `group-by` (aliases resolved per rule) as each step's key.
//!
//! Not every boolean form has a streaming meaning we can prove, so the
//! supported forms are named in the errors: one absence per correlation,
//! and, in an unordered `temporal`, one present rule beside it (several
//! present rules need an order to say when the absence starts).

use rsigma_parser::{ConditionExpr, CorrelationCondition, CorrelationRule, CorrelationType};

/// A boolean expression over a correlation's rules, by position in its
/// `rules:` list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleExpr {
    /// Every part holds.
    All(Vec<RuleExpr>),
    /// Some part holds.
    Any(Vec<RuleExpr>),
    /// The rule at this position matched in the window.
    Matched(usize),
}

impl RuleExpr {
    /// Whether the expression holds for the positions present in a window.
    pub(crate) fn holds(&self, present: &dyn Fn(usize) -> bool) -> bool {
        match self {
            RuleExpr::All(parts) => parts.iter().all(|p| p.holds(present)),
            RuleExpr::Any(parts) => parts.iter().any(|p| p.holds(present)),
            RuleExpr::Matched(pos) => present(*pos),
        }
    }

    /// The positions of a conjunction of rules, or none for any other form.
    fn conjunction(&self) -> Option<Vec<usize>> {
        match self {
            RuleExpr::Matched(p) => Some(vec![*p]),
            RuleExpr::All(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    out.extend(p.conjunction()?);
                }
                Some(out)
            }
            RuleExpr::Any(_) => None,
        }
    }
}

/// How a correlation's extended condition is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TemporalCondition {
    /// `temporal`: the expression over the rules present in a window.
    Unordered(RuleExpr),
    /// `temporal_ordered`: these positions matched in this order.
    Ordered(Vec<usize>),
    /// Present rules (positions, in order), then no match of the rule at
    /// `absent` until the span after the first one ends.
    Absence {
        /// The rules that must match, in the order they must match.
        present: Vec<usize>,
        /// The rule that must not match.
        absent: usize,
    },
}

/// The extended condition of a temporal correlation, compiled; errors say
/// which form is not supported and what to write instead.
pub(crate) fn compile(
    c: &CorrelationRule,
    expr: &ConditionExpr,
) -> Result<TemporalCondition, String> {
    let ordered = match c.correlation_type {
        CorrelationType::Temporal => false,
        CorrelationType::TemporalOrdered => true,
        other => {
            return Err(format!(
                "a boolean condition needs type temporal or temporal_ordered, not {other:?}"
            ));
        }
    };
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for term in conjuncts(expr) {
        match term {
            ConditionExpr::Not(inner) => match inner.as_ref() {
                ConditionExpr::Identifier(name) => absent.push(position(c, name)?),
                other => {
                    return Err(format!(
                        "`not {other}`: only a single rule may be negated (write `not a and not b` as two correlations)"
                    ));
                }
            },
            other => present.push(positive(c, other)?),
        }
    }
    match absent.as_slice() {
        [] => {
            let expr = match present.len() {
                1 => present.remove(0),
                _ => RuleExpr::All(present),
            };
            if ordered {
                let order = expr.conjunction().ok_or(
                    "temporal_ordered takes a condition of rules joined by `and` (order is the `rules:` order)",
                )?;
                Ok(TemporalCondition::Ordered(in_rules_order(order)))
            } else {
                Ok(TemporalCondition::Unordered(expr))
            }
        }
        [absent] => {
            let mut steps = Vec::new();
            for p in &present {
                steps.extend(
                    p.conjunction()
                        .ok_or("beside `not`, the present rules must be joined by `and`")?,
                );
            }
            if steps.is_empty() {
                return Err("`not` needs a rule that is present, e.g. `a and not b`".into());
            }
            if !ordered && steps.len() > 1 {
                return Err(
                    "with `not`, a temporal correlation takes one present rule; for several, use temporal_ordered (they then match in `rules:` order) or a sequence document"
                        .into(),
                );
            }
            if steps.contains(absent) {
                return Err("a rule cannot be both present and negated".into());
            }
            Ok(TemporalCondition::Absence {
                present: in_rules_order(steps),
                absent: *absent,
            })
        }
        _ => Err("only one rule may be negated per correlation".into()),
    }
}

/// Whether a correlation's condition negates a rule anywhere (it then runs
/// on the sequence engine, or is refused there with the reason).
pub(crate) fn negates(c: &CorrelationRule) -> bool {
    fn has_not(e: &ConditionExpr) -> bool {
        match e {
            ConditionExpr::Not(_) => true,
            ConditionExpr::And(parts) | ConditionExpr::Or(parts) => parts.iter().any(has_not),
            ConditionExpr::Identifier(_) | ConditionExpr::Selector { .. } => false,
        }
    }
    matches!(&c.condition, CorrelationCondition::Extended(e) if has_not(e))
}

/// The top-level `and` terms of an expression, nested `and`s flattened.
fn conjuncts(expr: &ConditionExpr) -> Vec<&ConditionExpr> {
    match expr {
        ConditionExpr::And(parts) => parts.iter().flat_map(conjuncts).collect(),
        other => vec![other],
    }
}

/// A term without `not`.
fn positive(c: &CorrelationRule, expr: &ConditionExpr) -> Result<RuleExpr, String> {
    match expr {
        ConditionExpr::Identifier(name) => Ok(RuleExpr::Matched(position(c, name)?)),
        ConditionExpr::And(parts) => Ok(RuleExpr::All(
            parts
                .iter()
                .map(|p| positive(c, p))
                .collect::<Result<_, _>>()?,
        )),
        ConditionExpr::Or(parts) => Ok(RuleExpr::Any(
            parts
                .iter()
                .map(|p| positive(c, p))
                .collect::<Result<_, _>>()?,
        )),
        ConditionExpr::Not(_) => {
            Err("`not` is supported at the top level only (`a and not b`)".into())
        }
        ConditionExpr::Selector { .. } => Err(
            "selectors (`1 of …`) are not supported in correlation conditions; name the rules"
                .into(),
        ),
    }
}

/// Where a condition's name is in the correlation's `rules:` list.
fn position(c: &CorrelationRule, name: &str) -> Result<usize, String> {
    c.rules.iter().position(|r| r == name).ok_or_else(|| {
        format!("the condition names `{name}`, which is not in the correlation's `rules:`")
    })
}

/// Positions sorted into `rules:` order, each once.
fn in_rules_order(mut positions: Vec<usize>) -> Vec<usize> {
    positions.sort_unstable();
    positions.dedup();
    positions
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsigma_parser::parse_sigma_yaml;

    fn compiled(kind: &str, condition: &str) -> Result<TemporalCondition, String> {
        let text = format!(
            "title: C\ncorrelation:\n  type: {kind}\n  rules: [a, b, c]\n  group-by: [k]\n  timespan: 1h\n  condition: {condition}\n"
        );
        let collection = parse_sigma_yaml(&text).map_err(|e| e.to_string())?;
        let c = &collection.correlations[0];
        let CorrelationCondition::Extended(expr) = &c.condition else {
            return Err("not an extended condition".into());
        };
        compile(c, expr)
    }

    #[test]
    fn a_negated_rule_becomes_an_absence_after_the_present_ones() {
        assert_eq!(
            compiled("temporal", "a and not b"),
            Ok(TemporalCondition::Absence {
                present: vec![0],
                absent: 1
            })
        );
        assert_eq!(
            compiled("temporal_ordered", "c and a and not b"),
            Ok(TemporalCondition::Absence {
                present: vec![0, 2],
                absent: 1
            })
        );
    }

    #[test]
    fn conditions_without_not_are_read_over_the_window() {
        let Ok(TemporalCondition::Unordered(expr)) = compiled("temporal", "a and (b or c)") else {
            panic!("not unordered");
        };
        assert!(expr.holds(&|p| p == 0 || p == 2));
        assert!(!expr.holds(&|p| p == 1 || p == 2));
        assert_eq!(
            compiled("temporal_ordered", "c and a"),
            Ok(TemporalCondition::Ordered(vec![0, 2]))
        );
    }

    #[test]
    fn unsupported_forms_say_what_to_write() {
        for (kind, condition, says) in [
            ("temporal", "a and b and not c", "temporal_ordered"),
            ("temporal", "a and not (b or c)", "single rule"),
            ("temporal", "a and not b and not c", "only one"),
            ("temporal", "a and not x", "`x`"),
            ("temporal", "not a", "present"),
            ("temporal_ordered", "a or b", "joined by `and`"),
            ("temporal", "a and not a", "both"),
        ] {
            let err = compiled(kind, condition).expect_err(condition);
            assert!(err.contains(says), "{condition}: {err}");
        }
    }
}

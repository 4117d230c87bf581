//! Silences as a few set-based SQL predicates, however many there are.
//! One `AND NOT (…)` per silence made a left-deep expression tree that
//! overflowed the planner's stack past about 1,500 silences; grouped by
//! the columns they match, exclusions become at most one clause per shape
//! (one per combination of matchable columns actually used): an anti-join
//! on an inline `VALUES` table. Not an `IN` list, even for one column: a
//! filter on the table is pushed into the Delta scan, whose file-skipping
//! translation turns a long list into as deep a chain of `OR`s. A NULL
//! column never matches, as before.

use std::collections::BTreeMap;

use crate::StoreError;

/// Columns an exclusion may match on.
pub const EXCLUDABLE: [&str; 8] = [
    "detector",
    "rule_id",
    "agent_id",
    "agent_instance",
    "initiator",
    "credential_id",
    "tool",
    "resource",
];

/// A quoted SQL string literal.
pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The column a silence may match on, by name, or a refusal.
fn excludable(c: &str) -> Result<&'static str, StoreError> {
    EXCLUDABLE
        .iter()
        .copied()
        .find(|e| *e == c)
        .ok_or_else(|| StoreError::Refused(format!("cannot filter on column {c:?}")))
}

/// The WHERE clauses keeping only rows where every (column, value) of
/// `pairs` matches; columns outside [`EXCLUDABLE`] are refused.
pub(crate) fn equality_clauses(pairs: &[(String, String)]) -> Result<Vec<String>, StoreError> {
    pairs
        .iter()
        .map(|(c, v)| Ok(format!("{} = {}", excludable(c)?, lit(v))))
        .collect()
}

/// The WHERE clauses leaving out `table`'s rows that match any exclusion
/// (each a list of (column, value) that must all match).
pub(crate) fn exclusion_clauses(
    table: &str,
    exclude: &[Vec<(String, String)>],
) -> Result<Vec<String>, StoreError> {
    // Shape (sorted columns) → the value tuples of its exclusions.
    let mut shapes: BTreeMap<Vec<&str>, Vec<Vec<&str>>> = BTreeMap::new();
    for group in exclude {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (c, v) in group {
            pairs.push((excludable(c)?, v.as_str()));
        }
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        if pairs.is_empty() {
            continue;
        }
        let (cols, vals): (Vec<&str>, Vec<&str>) = pairs.into_iter().unzip();
        shapes.entry(cols).or_default().push(vals);
    }
    Ok(shapes
        .into_iter()
        .map(|(cols, rows)| {
            let values: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "({})",
                        r.iter().map(|v| lit(v)).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            let on: Vec<String> = cols
                .iter()
                .map(|c| format!("s.{c} = {table}.{c}"))
                .collect();
            format!(
                "NOT EXISTS (SELECT 1 FROM (VALUES {}) AS s({}) WHERE {})",
                values.join(", "),
                cols.join(", "),
                on.join(" AND ")
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(c, v)| ((*c).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn exclusions_group_by_shape() {
        let mut many: Vec<Vec<(String, String)>> = (0..5000)
            .map(|i| x(&[("agent_id", &format!("a{i}"))]))
            .collect();
        many.push(x(&[("detector", "d"), ("initiator", "o'brien")]));
        many.push(x(&[("initiator", "h"), ("detector", "e")]));
        let clauses = exclusion_clauses("findings", &many).unwrap();
        assert_eq!(clauses.len(), 2, "{clauses:?}");
        assert!(
            clauses[0].starts_with("NOT EXISTS (SELECT 1 FROM (VALUES ('a0'), ('a1')"),
            "{}",
            &clauses[0][..80]
        );
        assert_eq!(
            clauses[1],
            "NOT EXISTS (SELECT 1 FROM (VALUES ('d', 'o''brien'), ('e', 'h')) AS s(detector, initiator) WHERE s.detector = findings.detector AND s.initiator = findings.initiator)"
        );
        assert!(exclusion_clauses("findings", &[x(&[("summary", "x")])]).is_err());
    }
}

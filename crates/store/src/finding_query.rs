//! Findings listings with their triage state: filters, silences (hidden or
//! marked), keyset pagination, counts and id lists for bulk changes, and
//! facet counts. Every value a caller passes reaches SQL as an escaped
//! literal or a checked number.

use std::fmt::Write as _;

use delegraph_model::TriageTarget;
use serde::Serialize;
use serde_json::Value;

use crate::exclusions::{equality_clauses, exclusion_clauses, lit};
use crate::views::rows;
use crate::{SqlEngine, StoreError};

/// How findings are ordered (newest or riskiest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSort {
    /// By event time, newest first.
    #[default]
    Time,
    /// By risk score, highest first.
    Risk,
}

/// Filters of a findings listing. Times are nanoseconds since the epoch.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    /// Event time at or after.
    pub since: Option<i64>,
    /// Event time before.
    pub until: Option<i64>,
    /// Severities to include (`medium`, …).
    pub severities: Vec<String>,
    /// Detector name or rule id.
    pub detector: Option<String>,
    /// Logical agent.
    pub agent: Option<String>,
    /// Agent instance (or its delegation root).
    pub instance: Option<String>,
    /// The human.
    pub human: Option<String>,
    /// The credential.
    pub credential: Option<String>,
    /// Triage statuses to include (`open`, `acknowledged`, `closed`).
    pub statuses: Vec<String>,
    /// Who holds it; an empty string means nobody.
    pub assignee: Option<String>,
    /// Exact matches on columns a silence may name ([`crate::EXCLUDABLE`]),
    /// all of which must hold: what a silence would hide.
    pub matching: Vec<(String, String)>,
    /// Order.
    pub sort: FindingSort,
    /// Page size (1–1000).
    pub limit: usize,
    /// Where the previous page stopped ([`FindingPage::next`]).
    pub cursor: Option<String>,
    /// Silences: findings matching any of these are left out, or marked
    /// `silenced` when [`FindingQuery::include_silenced`] is set. Each is a
    /// list of (column, value) that must all match; columns outside
    /// [`crate::EXCLUDABLE`] are refused.
    pub exclude: Vec<Vec<(String, String)>>,
    /// Keep silenced findings, marked.
    pub include_silenced: bool,
}

/// One page of findings.
#[derive(Debug, Clone, Serialize)]
pub struct FindingPage {
    /// The findings, as rows of the `findings` table with their triage
    /// state (`status`, `disposition`, `assignee`) and `silenced`.
    pub findings: Vec<Value>,
    /// Cursor of the next page, when there may be one.
    pub next: Option<String>,
}

/// Findings joined to their triage state, under the name `findings` so
/// every filter reads the same columns either way.
pub(crate) const TRIAGED: &str = "(SELECT findings.*, coalesce(s.status, 'open') AS status, \
    s.disposition, s.assignee FROM findings \
    LEFT JOIN finding_state s ON s.finding_id = findings.finding_id) AS findings";

pub(crate) const FINDING_COLUMNS: &str = "finding_id, detector, rule_id, severity, risk_score, \
    CAST(event_time AS VARCHAR) AS event_time, CAST(detected_at AS VARCHAR) AS detected_at, \
    agent_id, agent_instance, delegation_root, initiator, credential_id, tool, resource, summary, \
    expected, observed, p_value, baseline_instances, evidence, evidence_origins, chain, tags, \
    instance_risk, human_risk, status, disposition, assignee, \
    CAST(event_time AS BIGINT) AS event_time_ns";

/// Columns a listing may be grouped by ([`SqlEngine::finding_facets`]).
pub const FACETS: [&str; 6] = [
    "detector",
    "severity",
    "status",
    "agent_id",
    "initiator",
    "assignee",
];

/// The last row of a page: `<sort key>.<finding id>`.
fn parse_cursor(c: &str) -> Result<(i64, String), StoreError> {
    let bad = || StoreError::Refused(format!("invalid cursor {c:?}"));
    let (key, id) = c.split_once('.').ok_or_else(bad)?;
    let key: i64 = key.parse().map_err(|_| bad())?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((key, id.to_owned()))
}

impl FindingQuery {
    fn sort_key(&self) -> &'static str {
        match self.sort {
            FindingSort::Time => "CAST(event_time AS BIGINT)",
            FindingSort::Risk => "CAST(risk_score AS BIGINT)",
        }
    }

    /// The filters (silences included unless they are only marked), not
    /// the cursor.
    fn filters(&self) -> Result<Vec<String>, StoreError> {
        let mut wh: Vec<String> = Vec::new();
        if let Some(t) = self.since {
            wh.push(format!("CAST(event_time AS BIGINT) >= {t}"));
        }
        if let Some(t) = self.until {
            wh.push(format!("CAST(event_time AS BIGINT) < {t}"));
        }
        let in_list = |col: &str, vals: &[String]| {
            let list: Vec<String> = vals.iter().map(|s| lit(s)).collect();
            format!("{col} IN ({})", list.join(", "))
        };
        if !self.severities.is_empty() {
            wh.push(in_list("severity", &self.severities));
        }
        if !self.statuses.is_empty() {
            wh.push(in_list("status", &self.statuses));
        }
        if let Some(d) = &self.detector {
            wh.push(format!("(detector = {0} OR rule_id = {0})", lit(d)));
        }
        for (col, v) in [
            ("agent_id", &self.agent),
            ("initiator", &self.human),
            ("credential_id", &self.credential),
        ] {
            if let Some(v) = v {
                wh.push(format!("{col} = {}", lit(v)));
            }
        }
        if let Some(i) = &self.instance {
            wh.push(format!(
                "(agent_instance = {0} OR delegation_root = {0})",
                lit(i)
            ));
        }
        wh.extend(equality_clauses(&self.matching)?);
        match self.assignee.as_deref() {
            Some("") => wh.push("assignee IS NULL".into()),
            Some(a) => wh.push(format!("assignee = {}", lit(a))),
            None => {}
        }
        if !self.include_silenced {
            wh.extend(exclusion_clauses("findings", &self.exclude)?);
        }
        Ok(wh)
    }
}

fn where_sql(wh: &[String]) -> String {
    if wh.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wh.join(" AND "))
    }
}

impl SqlEngine {
    /// A page of findings matching `q`.
    pub async fn findings(&self, q: &FindingQuery) -> Result<FindingPage, StoreError> {
        let mut wh = q.filters()?;
        let key = q.sort_key();
        if let Some(c) = &q.cursor {
            let (k, id) = parse_cursor(c)?;
            wh.push(format!(
                "({key} < {k} OR ({key} = {k} AND finding_id > {}))",
                lit(&id)
            ));
        }
        let limit = q.limit.clamp(1, 1000);
        // Two steps: the page's ids by the sort key alone, then their
        // rows. Sorting whole rows would decode every column of every
        // matching finding to keep a hundred.
        let mut sql = format!(
            "SELECT finding_id, {key} AS sort_key FROM {TRIAGED}{}",
            where_sql(&wh)
        );
        let _ = write!(
            sql,
            " ORDER BY sort_key DESC, finding_id ASC LIMIT {}",
            limit + 1
        );
        let mut keys = rows(self, &sql).await?;
        let more = keys.len() > limit;
        keys.truncate(limit);
        let mut found = self.findings_by_id(&keys).await?;
        let next = if more {
            keys.last().and_then(|r| {
                Some(format!(
                    "{}.{}",
                    r["sort_key"].as_i64()?,
                    r["finding_id"].as_str()?
                ))
            })
        } else {
            None
        };
        if q.include_silenced {
            self.mark_silenced(&mut found, &q.exclude).await?;
        }
        for r in &mut found {
            if let Some(o) = r.as_object_mut() {
                o.remove("event_time_ns");
            }
        }
        Ok(FindingPage {
            findings: found,
            next,
        })
    }

    /// The rows of the findings `keys` names (`finding_id`), in its order.
    async fn findings_by_id(&self, keys: &[Value]) -> Result<Vec<Value>, StoreError> {
        let ids: Vec<String> = keys
            .iter()
            .filter_map(|k| k["finding_id"].as_str().map(lit))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {FINDING_COLUMNS}, false AS silenced FROM {TRIAGED} WHERE finding_id IN ({})",
            ids.join(", ")
        );
        let mut by_id: std::collections::HashMap<String, Value> = rows(self, &sql)
            .await?
            .into_iter()
            .filter_map(|r| Some((r["finding_id"].as_str()?.to_owned(), r)))
            .collect();
        Ok(keys
            .iter()
            .filter_map(|k| by_id.remove(k["finding_id"].as_str()?))
            .collect())
    }

    /// Set `silenced` on the rows a silence matches: those of the page
    /// the exclusions would leave out. A second query over the page's ids,
    /// since the planner takes the exclusions' subqueries only as filters.
    async fn mark_silenced(
        &self,
        page: &mut [Value],
        exclude: &[Vec<(String, String)>],
    ) -> Result<(), StoreError> {
        let clauses = exclusion_clauses("findings", exclude)?;
        let ids: Vec<String> = page
            .iter()
            .filter_map(|r| r["finding_id"].as_str().map(lit))
            .collect();
        if clauses.is_empty() || ids.is_empty() {
            return Ok(());
        }
        let kept: std::collections::HashSet<String> = rows(
            self,
            &format!(
                "SELECT finding_id FROM {TRIAGED} WHERE finding_id IN ({}) AND {}",
                ids.join(", "),
                clauses.join(" AND ")
            ),
        )
        .await?
        .into_iter()
        .filter_map(|r| r["finding_id"].as_str().map(str::to_owned))
        .collect();
        for r in page {
            let hidden = r["finding_id"]
                .as_str()
                .is_some_and(|id| !kept.contains(id));
            r["silenced"] = Value::Bool(hidden);
        }
        Ok(())
    }

    /// How many findings match `q` (cursor and page size ignored), and the
    /// ids of the first `cap` in its order: what a bulk change applies to.
    pub async fn matching_ids(
        &self,
        q: &FindingQuery,
        cap: usize,
    ) -> Result<(u64, Vec<TriageTarget>), StoreError> {
        let wh = where_sql(&q.filters()?);
        let count = rows(self, &format!("SELECT count(*) AS n FROM {TRIAGED}{wh}")).await?;
        let matched = count
            .first()
            .and_then(|r| r["n"].as_u64())
            .unwrap_or_default();
        let ids = rows(
            self,
            &format!(
                "SELECT finding_id, agent_instance FROM {TRIAGED}{wh} \
                 ORDER BY {} DESC, finding_id ASC LIMIT {cap}",
                q.sort_key()
            ),
        )
        .await?
        .iter()
        .filter_map(triage_target)
        .collect();
        Ok((matched, ids))
    }

    /// The stored finding with this id, with its instance.
    pub async fn triage_target(&self, id: &str) -> Result<Option<TriageTarget>, StoreError> {
        let sql = format!(
            "SELECT finding_id, agent_instance FROM findings WHERE finding_id = {} LIMIT 1",
            lit(id)
        );
        Ok(rows(self, &sql).await?.iter().find_map(triage_target))
    }

    /// A finding's triage log, oldest first.
    pub async fn finding_activity(&self, id: &str) -> Result<Vec<Value>, StoreError> {
        let sql = format!(
            "SELECT seq, CAST(at AS VARCHAR) AS at, actor, action, status, disposition, \
             assignee, note, via FROM finding_activity WHERE finding_id = {} ORDER BY seq",
            lit(id)
        );
        rows(self, &sql).await
    }

    /// Counts of the findings matching `q` per value of `column` (one of
    /// [`FACETS`]), most first, at most `limit` values.
    pub async fn finding_facets(
        &self,
        q: &FindingQuery,
        column: &str,
        limit: usize,
    ) -> Result<Vec<(Option<String>, u64)>, StoreError> {
        let mut all = self.finding_facets_each(&[(column, q)], limit).await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`finding_facets`](Self::finding_facets) for several (column,
    /// query) pairs at once, in one pass over the findings: a queue page
    /// counts six facets, each under the page's filters minus its own, and
    /// one scan costs a sixth of six. The filters every query shares go
    /// into the scan's WHERE; the rest become one condition per pair, and
    /// grouping sets count each column only over the rows its condition
    /// keeps.
    pub async fn finding_facets_each(
        &self,
        asks: &[(&str, &FindingQuery)],
        limit: usize,
    ) -> Result<Vec<Vec<(Option<String>, u64)>>, StoreError> {
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses = Vec::with_capacity(asks.len());
        for (column, q) in asks {
            clauses.push((facet_expr(column)?, q.filters()?));
        }
        let common: Vec<String> = clauses[0]
            .1
            .iter()
            .filter(|c| clauses.iter().all(|(_, cs)| cs.contains(c)))
            .cloned()
            .collect();
        let (mut inner, mut outer, mut sets) = (Vec::new(), Vec::new(), Vec::new());
        for (k, (expr, cs)) in clauses.iter().enumerate() {
            let own: Vec<String> = cs
                .iter()
                .filter(|c| !common.contains(c))
                .map(|c| format!("({c})"))
                .collect();
            let keep = if own.is_empty() {
                "true".to_owned()
            } else {
                own.join(" AND ")
            };
            inner.push(format!("{expr} AS c{k}, ({keep}) AS f{k}"));
            outer.push(format!(
                "c{k}, grouping(c{k}) AS g{k}, sum(CASE WHEN f{k} THEN 1 ELSE 0 END) AS n{k}"
            ));
            sets.push(format!("(c{k})"));
        }
        // Ordered here, not in SQL: with a filter fixing the grouped
        // column to one value, DataFusion 55 plans `ORDER BY n DESC, value`
        // into a merge whose input order it then rejects.
        let sql = format!(
            "SELECT {} FROM (SELECT {} FROM {TRIAGED}{}) GROUP BY GROUPING SETS ({})",
            outer.join(", "),
            inner.join(", "),
            where_sql(&common),
            sets.join(", "),
        );
        let found = rows(self, &sql).await?;
        let mut out = Vec::with_capacity(asks.len());
        for k in 0..asks.len() {
            let (c, g, n) = (format!("c{k}"), format!("g{k}"), format!("n{k}"));
            let mut counts: Vec<(Option<String>, u64)> = found
                .iter()
                .filter(|r| r[&g].as_i64() == Some(0))
                .map(|r| {
                    (
                        r[&c].as_str().map(str::to_owned),
                        r[&n].as_u64().unwrap_or_default(),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            counts.truncate(limit.clamp(1, 1000));
            out.push(counts);
        }
        Ok(out)
    }
}

/// The SQL a facet column is counted by (one of [`FACETS`]).
fn facet_expr(column: &str) -> Result<&'static str, StoreError> {
    match FACETS.iter().find(|f| **f == column) {
        Some(&"detector") => Ok("coalesce(rule_id, detector)"),
        Some(col) => Ok(col),
        None => Err(StoreError::Refused(format!(
            "cannot group by {column:?} ({})",
            FACETS.join(", ")
        ))),
    }
}

fn triage_target(row: &Value) -> Option<TriageTarget> {
    Some(TriageTarget {
        finding_id: row["finding_id"].as_str()?.to_owned(),
        agent_instance: row["agent_instance"].as_str().map(str::to_owned),
    })
}

//! `GET /api/v1/findings`, `GET /api/v1/findings/{id}` and the filter
//! every findings route shares (listing, bulk triage, facets, CSV).

use axum::Json;
use axum::extract::{Path, Query, State};
use delegraph_model::{Severity, Timestamp, TriageStatus};
use delegraph_store::{FindingPage, FindingQuery, FindingSort};
use serde::Deserialize;
use serde_json::Value;

use crate::{ApiError, AppState, Caller, Role};

/// Query string of a findings listing (and the `filter` of a bulk change).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    since: Option<String>,
    until: Option<String>,
    /// Comma-separated severities, or `min_severity`.
    severity: Option<String>,
    min_severity: Option<String>,
    detector: Option<String>,
    agent: Option<String>,
    instance: Option<String>,
    human: Option<String>,
    credential: Option<String>,
    /// Comma-separated triage statuses.
    status: Option<String>,
    /// Who holds it; empty for nobody.
    assignee: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    include_silenced: Option<bool>,
}

fn time(s: &Option<String>, name: &str) -> Result<Option<i64>, ApiError> {
    s.as_deref()
        .map(|t| {
            Timestamp::parse_rfc3339(t)
                .map(Timestamp::nanos)
                .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
        })
        .transpose()
}

fn severity(s: &str) -> Result<Severity, ApiError> {
    Severity::parse(s.trim()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown severity {s:?} (info, low, medium, high, critical)"
        ))
    })
}

impl ListParams {
    /// Refuse an order or a page where only filters count (facets).
    pub(crate) fn filters_only(&self) -> Result<(), ApiError> {
        if self.sort.is_some() || self.limit.is_some() || self.cursor.is_some() {
            return Err(ApiError::BadRequest(
                "only the listing's filters apply here (no sort, limit or cursor)".into(),
            ));
        }
        Ok(())
    }

    /// The store's query for these parameters, with the silences in force
    /// (left out, or marked when `include_silenced`).
    pub(crate) fn query(self, st: &AppState) -> Result<FindingQuery, ApiError> {
        let silences = crate::routes::silences::active_exclusions(st)?;
        self.query_with(silences)
    }

    /// The same with the silences given (read once for several queries).
    pub(crate) fn query_with(
        self,
        silences: Vec<Vec<(String, String)>>,
    ) -> Result<FindingQuery, ApiError> {
        let mut severities: Vec<String> = Vec::new();
        if let Some(list) = &self.severity {
            for s in list.split(',') {
                severities.push(severity(s)?.as_str().to_owned());
            }
        }
        if let Some(min) = &self.min_severity {
            let min = severity(min)?;
            severities.extend(
                Severity::ALL
                    .into_iter()
                    .filter(|s| *s >= min)
                    .map(|s| s.as_str().to_owned()),
            );
        }
        let mut statuses = Vec::new();
        for s in self.status.iter().flat_map(|l| l.split(',')) {
            let status = TriageStatus::parse(s.trim()).ok_or_else(|| {
                ApiError::BadRequest(format!("unknown status {s:?} (open, acknowledged, closed)"))
            })?;
            statuses.push(status.as_str().to_owned());
        }
        let sort = match self.sort.as_deref() {
            None | Some("time") => FindingSort::Time,
            Some("risk") => FindingSort::Risk,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "unknown sort {other:?} (time, risk)"
                )));
            }
        };
        Ok(FindingQuery {
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
            severities,
            detector: self.detector,
            agent: self.agent,
            instance: self.instance,
            human: self.human,
            credential: self.credential,
            statuses,
            assignee: self.assignee,
            matching: Vec::new(),
            sort,
            limit: self.limit.unwrap_or(100),
            cursor: self.cursor,
            exclude: silences,
            include_silenced: self.include_silenced == Some(true),
        })
    }
}

pub(crate) async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<FindingPage>, ApiError> {
    caller.require(Role::Viewer)?;
    let q = p.query(&st)?;
    Ok(Json(st.engine().await?.findings(&q).await?))
}

pub(crate) async fn one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    st.engine()
        .await?
        .finding(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no finding {id:?}")))
}

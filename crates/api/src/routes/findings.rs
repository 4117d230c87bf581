//! `GET /api/v1/findings` and `GET /api/v1/findings/{id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use delegraph_model::{Severity, Timestamp};
use delegraph_store::{FindingPage, FindingQuery, FindingSort};
use serde::Deserialize;
use serde_json::Value;

use crate::{ApiError, AppState, Caller, Role};

/// Query string of a findings listing.
#[derive(Debug, Deserialize)]
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

pub(crate) async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<FindingPage>, ApiError> {
    caller.require(Role::Analyst)?;
    let mut severities: Vec<String> = Vec::new();
    if let Some(list) = &p.severity {
        for s in list.split(',') {
            severities.push(severity(s)?.as_str().to_owned());
        }
    }
    if let Some(min) = &p.min_severity {
        let min = severity(min)?;
        severities.extend(
            Severity::ALL
                .into_iter()
                .filter(|s| *s >= min)
                .map(|s| s.as_str().to_owned()),
        );
    }
    let sort = match p.sort.as_deref() {
        None | Some("time") => FindingSort::Time,
        Some("risk") => FindingSort::Risk,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown sort {other:?} (time, risk)"
            )));
        }
    };
    let exclude = if p.include_silenced == Some(true) {
        Vec::new()
    } else {
        crate::routes::silences::active_exclusions(&st)?
    };
    let q = FindingQuery {
        since: time(&p.since, "since")?,
        until: time(&p.until, "until")?,
        severities,
        detector: p.detector,
        agent: p.agent,
        instance: p.instance,
        human: p.human,
        sort,
        limit: p.limit.unwrap_or(100),
        cursor: p.cursor,
        exclude,
    };
    Ok(Json(st.engine().await?.findings(&q).await?))
}

pub(crate) async fn one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    st.engine()
        .await?
        .finding(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no finding {id:?}")))
}

//! Triage: `POST /api/v1/findings/{id}/triage` (status, disposition,
//! assignee, note), `GET /api/v1/findings/{id}/activity` (the log),
//! `POST /api/v1/findings/triage` (bulk, by filter, capped),
//! `GET /api/v1/findings/{id}/similar` (a silence pre-filled from a
//! finding, with how many unclosed findings it would match) and
//! `GET /api/v1/findings/facets/{column}` (counts per value) and
//! `GET /api/v1/triage/summary` (times and false positives per detector).

use axum::Json;
use axum::extract::{Path, Query, State};
use delegraph_model::{ActivityEntry, TriageChange, TriageTarget};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::routes::findings::ListParams;
use crate::triage::{Applied, MAX_BULK};
use crate::{Analyst, ApiError, AppState, Caller, Role, SilenceMatch};

fn entry_json(e: &ActivityEntry) -> Value {
    json!({
        "seq": e.seq,
        "finding_id": e.finding_id,
        "at": delegraph_model::Timestamp::from_nanos(e.at).to_rfc3339(),
        "actor": e.actor,
        "action": e.action,
        "status": e.state.status.as_str(),
        "disposition": e.state.disposition.map(|d| d.as_str()),
        "assignee": e.state.assignee,
        "note": e.note,
        "via": e.via,
    })
}

fn skipped_json(a: &Applied) -> Vec<Value> {
    a.skipped
        .iter()
        .take(100)
        .map(|(id, why)| json!({"finding_id": id, "reason": why.to_string()}))
        .collect()
}

/// Apply `change` to `ids` as `actor`, under the server's triage lock.
pub(crate) async fn apply(
    st: &AppState,
    targets: &[TriageTarget],
    change: &TriageChange,
    actor: &str,
    via: &str,
) -> Result<Applied, ApiError> {
    st.triage_book()
        .await?
        .apply(&st.inner.data_dir, targets, change, actor, via)
}

/// Apply `change` to the stored finding `id` as `actor`: its log entry,
/// 404 when there is no such finding, 409 when the change no longer
/// applies to its state.
pub(crate) async fn apply_one(
    st: &AppState,
    id: &str,
    change: &TriageChange,
    actor: &str,
) -> Result<ActivityEntry, ApiError> {
    let Some(target) = st.engine().await?.triage_target(id).await? else {
        return Err(ApiError::NotFound(format!("no finding {id:?}")));
    };
    let mut applied = apply(st, &[target], change, actor, "single").await?;
    match (applied.entries.pop(), applied.skipped.pop()) {
        (Some(e), _) => Ok(e),
        (None, Some((_, why))) => Err(ApiError::Conflict(why.to_string())),
        (None, None) => Err(ApiError::Internal("no entry and no reason".into())),
    }
}

pub(crate) async fn one(
    State(st): State<AppState>,
    Analyst(caller): Analyst,
    Path(id): Path<String>,
    Json(change): Json<TriageChange>,
) -> Result<Json<Value>, ApiError> {
    let entry = apply_one(&st, &id, &change, &caller.name).await?;
    Ok(Json(entry_json(&entry)))
}

pub(crate) async fn activity(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let engine = st.engine().await?;
    if engine.triage_target(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no finding {id:?}")));
    }
    Ok(Json(
        json!({ "activity": engine.finding_activity(&id).await? }),
    ))
}

/// Body of a bulk change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bulk {
    /// Which findings: the listing's filters (no `sort`, `limit` or
    /// `cursor`; the newest `max` are changed).
    #[serde(default)]
    filter: ListParams,
    change: TriageChange,
    /// At most this many (default and ceiling [`MAX_BULK`]).
    max: Option<usize>,
}

pub(crate) async fn bulk(
    State(st): State<AppState>,
    Analyst(caller): Analyst,
    Json(b): Json<Bulk>,
) -> Result<Json<Value>, ApiError> {
    let cap = b.max.unwrap_or(MAX_BULK).clamp(1, MAX_BULK);
    b.filter.filters_only()?;
    let q = b.filter.query(&st)?;
    let summary = bulk_apply(&st, &q, cap, &b.change, &caller.name, "bulk").await?;
    Ok(Json(summary))
}

/// Apply `change` to the first `cap` findings matching `q`:
/// `{applied, matched, truncated, skipped}`.
pub(crate) async fn bulk_apply(
    st: &AppState,
    q: &delegraph_store::FindingQuery,
    cap: usize,
    change: &TriageChange,
    actor: &str,
    via: &str,
) -> Result<Value, ApiError> {
    change
        .check()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (matched, ids) = st.engine().await?.matching_ids(q, cap).await?;
    let applied = apply(st, &ids, change, actor, via).await?;
    Ok(json!({
        "applied": applied.entries.len(),
        "matched": matched,
        "truncated": matched > ids.len() as u64,
        "skipped": applied.skipped.len(),
        "skipped_sample": skipped_json(&applied),
    }))
}

pub(crate) async fn similar(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let engine = st.engine().await?;
    let f = engine
        .finding(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no finding {id:?}")))?;
    let matcher = SilenceMatch::from_finding(&f);
    let (unclosed, _) = engine.matching_ids(&matcher.unclosed_query(), 0).await?;
    Ok(Json(json!({
        "matcher": matcher,
        "unclosed_matching": unclosed,
        "default_expiry_hours": crate::silences::DEFAULT_EXPIRY_HOURS,
    })))
}

pub(crate) async fn facets(
    State(st): State<AppState>,
    caller: Caller,
    Path(column): Path<String>,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    p.filters_only()?;
    let q = p.query(&st)?;
    let counts = st.engine().await?.finding_facets(&q, &column, 100).await?;
    let values: Vec<Value> = counts
        .into_iter()
        .map(|(v, n)| json!({"value": v, "count": n}))
        .collect();
    Ok(Json(json!({ "column": column, "values": values })))
}

pub(crate) async fn summary(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let rows = st.engine().await?.triage_summary(200).await?;
    Ok(Json(json!({ "detectors": rows })))
}

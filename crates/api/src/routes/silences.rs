//! `GET/POST /api/v1/silences`, `DELETE /api/v1/silences/{id}` (expire),
//! `POST /api/v1/silences/preview` (how many unclosed findings a matcher
//! would hide). Analysts make silences while triaging ("suppress
//! similar"), optionally closing what they match.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use delegraph_model::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::silences::{
    self, MAX_ACTIVE_SILENCES, MAX_MATCH_CHARS, MAX_REASON_CHARS, Silence, SilenceMatch,
};
use crate::{Analyst, ApiError, AppState, Caller, Role};

/// Exclusions for the findings listing: every silence still in force. A
/// silence's `detector` names a detector or a rule id, as the listing's
/// filter does, so it hides findings matching either.
pub(crate) fn active_exclusions(st: &AppState) -> Result<Vec<Vec<(String, String)>>, ApiError> {
    let now = crate::now_ns();
    let mut out = Vec::new();
    for s in silences::load(&st.inner.data_dir)?
        .into_iter()
        .filter(|s| s.expires_at_ns > now)
    {
        let group: Vec<(String, String)> = s
            .matcher
            .columns()
            .into_iter()
            .map(|(c, v)| (c.to_owned(), v))
            .collect();
        if group.iter().any(|(c, _)| c == "detector") {
            let by_rule = group
                .iter()
                .map(|(c, v)| {
                    let c = if c == "detector" { "rule_id" } else { c };
                    (c.to_owned(), v.clone())
                })
                .collect();
            out.push(by_rule);
        }
        out.push(group);
    }
    Ok(out)
}

pub(crate) async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let now = crate::now_ns();
    let all: Vec<Value> = silences::load(&st.inner.data_dir)?
        .into_iter()
        .map(|s| {
            let active = s.expires_at_ns > now;
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["active"] = json!(active);
            v
        })
        .collect();
    Ok(Json(json!({ "silences": all })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSilence {
    pub(crate) matcher: SilenceMatch,
    pub(crate) reason: String,
    /// RFC 3339; default [`silences::DEFAULT_EXPIRY_HOURS`] from now.
    pub(crate) expires_at: Option<String>,
    /// Also close the unclosed findings it matches, with this disposition
    /// and note (at most [`crate::triage::MAX_BULK`]).
    pub(crate) close_matching: Option<CloseMatching>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseMatching {
    pub(crate) disposition: delegraph_model::Disposition,
    pub(crate) note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Preview {
    matcher: SilenceMatch,
}

/// How many unclosed findings a matcher would hide, and a few of them.
pub(crate) async fn preview(
    State(st): State<AppState>,
    caller: Caller,
    Json(p): Json<Preview>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    check_matcher(&p.matcher)?;
    let (n, sample) = st
        .engine()
        .await?
        .matching_ids(&p.matcher.unclosed_query(), 20)
        .await?;
    let sample: Vec<&str> = sample.iter().map(|t| t.finding_id.as_str()).collect();
    Ok(Json(json!({"unclosed_matching": n, "sample": sample})))
}

fn check_matcher(m: &SilenceMatch) -> Result<(), ApiError> {
    if let Some((column, _)) = m
        .columns()
        .into_iter()
        .find(|(_, v)| v.chars().count() > MAX_MATCH_CHARS)
    {
        return Err(ApiError::BadRequest(format!(
            "matcher {column}: at most {MAX_MATCH_CHARS} characters"
        )));
    }
    if m.columns().is_empty() {
        return Err(ApiError::BadRequest(
            "a silence must match on at least one of detector, agent_id, agent_instance, \
             initiator, credential_id, tool, resource"
                .into(),
        ));
    }
    Ok(())
}

pub(crate) async fn create(
    State(st): State<AppState>,
    Analyst(caller): Analyst,
    Json(n): Json<NewSilence>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(make(&st, caller.name, n).await?)))
}

/// Make a silence as `created_by`, closing what it matches if asked:
/// the silence, with `closed` when it closed findings.
pub(crate) async fn make(
    st: &AppState,
    created_by: String,
    n: NewSilence,
) -> Result<Value, ApiError> {
    check_matcher(&n.matcher)?;
    if n.reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::BadRequest(format!(
            "reason: at most {MAX_REASON_CHARS} characters"
        )));
    }
    if n.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("a silence needs a reason".into()));
    }
    let now = crate::now_ns();
    let until = match &n.expires_at {
        Some(t) => Timestamp::parse_rfc3339(t)
            .map_err(|e| ApiError::BadRequest(format!("expires_at: {e}")))?,
        None => Timestamp::from_nanos(now + silences::DEFAULT_EXPIRY_HOURS * 3_600_000_000_000),
    };
    let close = n
        .close_matching
        .map(|c| delegraph_model::TriageChange {
            status: Some(delegraph_model::TriageStatus::Closed),
            disposition: Some(c.disposition),
            assignee: None,
            note: c.note,
        })
        .map(|change| {
            change
                .check()
                .map(|()| change)
                .map_err(|e| ApiError::BadRequest(format!("close_matching: {e}")))
        })
        .transpose()?;
    if until.nanos() <= now {
        return Err(ApiError::BadRequest("expires_at is in the past".into()));
    }
    let _guard = st.inner.silences.lock().await;
    let mut all = silences::load(&st.inner.data_dir)?;
    if all.iter().filter(|s| s.expires_at_ns > now).count() >= MAX_ACTIVE_SILENCES {
        return Err(ApiError::BadRequest(format!(
            "{MAX_ACTIVE_SILENCES} silences are active; expire some first"
        )));
    }
    let mut id = now as u64;
    while all.iter().any(|s| s.id == format!("s{id:016x}")) {
        id = id.wrapping_add(1);
    }
    let s = Silence {
        id: format!("s{id:016x}"),
        matcher: n.matcher,
        reason: n.reason,
        created_by,
        created_at: Timestamp::from_nanos(now).to_rfc3339_secs(),
        expires_at_ns: until.nanos(),
        expires_at: until.to_rfc3339_secs(),
    };
    all.push(s.clone());
    silences::store(&st.inner.data_dir, &all)?;
    drop(_guard);
    let mut out = serde_json::to_value(&s).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(change) = close {
        let via = format!("silence:{}", s.id);
        let q = s.matcher.unclosed_query();
        out["closed"] = crate::routes::triage::bulk_apply(
            st,
            &q,
            crate::triage::MAX_BULK,
            &change,
            &s.created_by,
            &via,
        )
        .await?;
    }
    Ok(out)
}

pub(crate) async fn expire(
    State(st): State<AppState>,
    Analyst(_): Analyst,
    Path(id): Path<String>,
) -> Result<Json<Silence>, ApiError> {
    let _guard = st.inner.silences.lock().await;
    let mut all = silences::load(&st.inner.data_dir)?;
    let now = crate::now_ns();
    let s = all
        .iter_mut()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no silence {id:?}")))?;
    if s.expires_at_ns > now {
        s.expires_at_ns = now;
        s.expires_at = Timestamp::from_nanos(now).to_rfc3339_secs();
    }
    let out = s.clone();
    silences::store(&st.inner.data_dir, &all)?;
    Ok(Json(out))
}

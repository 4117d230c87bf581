//! `GET /api/v1/risk/instances` and `/humans`: risk leaderboards.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState, Caller, Role};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limit {
    limit: Option<usize>,
}

async fn board(
    st: AppState,
    caller: Caller,
    by_human: bool,
    l: Limit,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let rows = st
        .engine()
        .await?
        .risk_leaderboard(by_human, l.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({ "leaders": rows })))
}

pub(crate) async fn instances(
    State(st): State<AppState>,
    caller: Caller,
    Query(l): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    board(st, caller, false, l).await
}

pub(crate) async fn humans(
    State(st): State<AppState>,
    caller: Caller,
    Query(l): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    board(st, caller, true, l).await
}

//! `POST /api/v1/sql {"query": "SELECT ..."}`: read-only SQL with the
//! store's time and memory limits.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, AppState, Caller, Role};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlRequest {
    query: String,
}

pub(crate) async fn query(
    State(st): State<AppState>,
    caller: Caller,
    Json(r): Json<SqlRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let rows = st.engine().await?.query_json(&r.query).await?;
    Ok(Json(json!({ "rows": rows })))
}

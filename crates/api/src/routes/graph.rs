//! `GET /api/v1/instances/{id}/graph?format=json|dot`.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::{ApiError, AppState, Caller, Role};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphParams {
    format: Option<String>,
}

pub(crate) async fn graph(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<GraphParams>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let g = st
        .engine()
        .await?
        .instance_graph(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no graph for instance {id:?}")))?;
    match p.format.as_deref() {
        None | Some("json") => Ok(axum::Json(g.to_json()).into_response()),
        Some("dot") => Ok((
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            g.to_dot(),
        )
            .into_response()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "unknown format {other:?} (json, dot)"
        ))),
    }
}

//! The routes, one file per resource.

pub(crate) mod findings;
mod graph;
mod hygiene;
mod ops;
mod risk;
mod rules;
pub(crate) mod silences;
mod sql;
pub(crate) mod triage;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post, put};

use crate::AppState;
pub(crate) use hygiene::hygiene;

/// Every route (paths as in the OpenAPI document).
pub(crate) fn all() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics_with_token))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .route("/api/v1/findings", get(findings::list))
        .route("/api/v1/findings/{id}", get(findings::one))
        .route("/api/v1/findings/{id}/triage", post(triage::one))
        .route("/api/v1/findings/{id}/activity", get(triage::activity))
        .route("/api/v1/findings/{id}/similar", get(triage::similar))
        .route("/api/v1/findings/triage", post(triage::bulk))
        .route("/api/v1/findings/facets/{column}", get(triage::facets))
        .route("/api/v1/triage/summary", get(triage::summary))
        .route("/api/v1/instances/{id}/graph", get(graph::graph))
        .route("/api/v1/risk/instances", get(risk::instances))
        .route("/api/v1/risk/humans", get(risk::humans))
        .route("/api/v1/sql", post(sql::query))
        .route("/api/v1/rules", get(rules::list))
        .route(
            "/api/v1/rules/{id}",
            put(rules::put).layer(DefaultBodyLimit::max(delegraph_rules::MAX_RULE_FILE_BYTES)),
        )
        .route(
            "/api/v1/silences",
            get(silences::list).post(silences::create),
        )
        .route("/api/v1/silences/preview", post(silences::preview))
        .route("/api/v1/silences/{id}", delete(silences::expire))
        .fallback(ops::not_found)
}

/// The operations address: health and metrics, no tokens.
pub(crate) fn ops() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
}

pub(crate) use ops::store_gauges;

/// Count every answered request by route and status.
pub(crate) async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let resp = next.run(req).await;
    st.metrics().request(&route, resp.status().as_u16());
    resp
}

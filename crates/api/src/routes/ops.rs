//! Health, metrics, the OpenAPI document and the JSON 404.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::metrics::escape;
use crate::{ApiError, AppState};

/// Liveness and whether the store can be queried.
pub(crate) async fn healthz(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    // Never waits for a query slot: health is answered under load.
    st.check_store().await?;
    Ok(Json(json!({"status": "ok"})))
}

/// Prometheus text exposition: the store's gauges (from the last periodic
/// refresh, so a scrape flood runs no query), then the request counters
/// and the ingest loop's, live; all from memory.
pub(crate) async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let mut out = st.store_gauges();
    st.metrics().render_requests(&mut out);
    st.render_live(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// The same on the data address, for holders of a token.
pub(crate) async fn metrics_with_token(
    _caller: crate::Caller,
    st: State<AppState>,
) -> impl IntoResponse {
    metrics(st).await
}

/// Events and findings in the store, as Prometheus gauges.
pub(crate) async fn store_gauges(st: &AppState) -> Result<String, ApiError> {
    let engine = st.engine().await?;
    let mut out = String::new();
    let events = engine
        .own_json("SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source")
        .await?;
    let _ = writeln!(
        out,
        "# HELP delegraph_events_stored Events in the store, by source.\n\
         # TYPE delegraph_events_stored gauge"
    );
    for r in &events {
        let _ = writeln!(
            out,
            "delegraph_events_stored{{source=\"{}\"}} {}",
            escape(r["source"].as_str().unwrap_or_default()),
            r["n"]
        );
    }
    let findings = engine
        .own_json(
            "SELECT coalesce(detector, rule_id) AS detector, severity, count(*) AS n \
             FROM findings GROUP BY coalesce(detector, rule_id), severity ORDER BY 1, 2",
        )
        .await?;
    let _ = writeln!(
        out,
        "# HELP delegraph_findings Findings in the store, by detector (or rule) and severity.\n\
         # TYPE delegraph_findings gauge"
    );
    for r in &findings {
        let _ = writeln!(
            out,
            "delegraph_findings{{detector=\"{}\",severity=\"{}\"}} {}",
            escape(r["detector"].as_str().unwrap_or_default()),
            escape(r["severity"].as_str().unwrap_or_default()),
            r["n"]
        );
    }
    Ok(out)
}

/// The OpenAPI 3.1 document.
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi())
}

/// Unknown paths get a JSON 404 too.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

//! Health, metrics, the OpenAPI document and the JSON 404.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use delegraph_store::StoreError;
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
    triage_gauges(&engine, &mut out).await?;
    check_store_files(st).await?;
    Ok(out)
}

/// Refuse the count when a file the tables' logs name is missing or cut
/// short: the counts above come from the logs' statistics and footers read
/// earlier, so they would not notice.
async fn check_store_files(st: &AppState) -> Result<(), ApiError> {
    let dir = st.inner.data_dir.clone();
    let damaged = tokio::task::spawn_blocking(move || delegraph_store::damaged_in_store(&dir))
        .await
        .map_err(|e| StoreError::Storage(format!("checking the store's files: {e}")))??;
    match damaged.first() {
        None => Ok(()),
        Some(first) => Err(StoreError::Storage(format!(
            "{} damaged file(s), first {first}",
            damaged.len()
        ))
        .into()),
    }
}

/// Detectors (or rules) given their own triage series; the rest are left
/// out, so a store with thousands of rules cannot flood the scrape.
const TRIAGE_DETECTOR_LABELS: usize = 50;

/// Findings by triage status, and per detector the mean times to
/// acknowledge and close and the false-positive ratio (from the
/// `triage_by_detector` view).
async fn triage_gauges(
    engine: &delegraph_store::SqlEngine,
    out: &mut String,
) -> Result<(), ApiError> {
    let by_status = engine
        .own_json(
            "SELECT status, count(*) AS n FROM finding_triage GROUP BY status ORDER BY status",
        )
        .await?;
    let _ = writeln!(
        out,
        "# HELP delegraph_findings_by_status Findings by triage status.\n\
         # TYPE delegraph_findings_by_status gauge"
    );
    for s in delegraph_model::TriageStatus::ALL {
        let n = by_status
            .iter()
            .find(|r| r["status"] == s.as_str())
            .map_or(0, |r| r["n"].as_u64().unwrap_or(0));
        let _ = writeln!(
            out,
            "delegraph_findings_by_status{{status=\"{}\"}} {n}",
            s.as_str()
        );
    }
    let rows = engine
        .own_json(&format!(
            "SELECT detector, mean_seconds_to_acknowledge, mean_seconds_to_close, \
             false_positive_ratio FROM triage_by_detector WHERE detector IS NOT NULL \
             ORDER BY findings DESC, detector LIMIT {TRIAGE_DETECTOR_LABELS}"
        ))
        .await?;
    for (name, column, help) in [
        (
            "delegraph_triage_mean_seconds_to_acknowledge",
            "mean_seconds_to_acknowledge",
            "Mean seconds from detection to first acknowledgement, by detector or rule.",
        ),
        (
            "delegraph_triage_mean_seconds_to_close",
            "mean_seconds_to_close",
            "Mean seconds from detection to close of closed findings, by detector or rule.",
        ),
        (
            "delegraph_triage_false_positive_ratio",
            "false_positive_ratio",
            "False positives among closed findings, by detector or rule.",
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in &rows {
            if let Some(v) = r[column].as_f64() {
                let _ = writeln!(
                    out,
                    "{name}{{detector=\"{}\"}} {v}",
                    escape(r["detector"].as_str().unwrap_or_default())
                );
            }
        }
    }
    Ok(())
}

/// The OpenAPI 3.1 document.
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi())
}

/// Unknown paths get a JSON 404 too.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

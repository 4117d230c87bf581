//! What every response gets, whichever route or framework layer made it:
//! headers that keep browsers and caches from reinterpreting or keeping
//! data, and errors in the API's JSON shape (`{"error": …}`) even when
//! axum itself refused the request (a wrong method, a body too large or of
//! the wrong type, JSON that does not fit) and answered in plain text.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Most bytes of a framework error's text carried into the JSON body.
const MAX_ERROR_TEXT: usize = 4096;

/// Add the security headers; turn non-JSON error bodies into JSON.
pub(crate) async fn hygiene(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    // JSON, and the triage page's own HTML error pages, stay as they are.
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    let mut resp = if status.is_client_error() && !is_json {
        let (mut parts, body) = resp.into_parts();
        let text = to_bytes(body, MAX_ERROR_TEXT)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        let message = if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_lowercase()
        } else {
            text
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        let body = axum::Json(json!({ "error": message })).into_response();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Response::from_parts(parts, Body::new(body.into_body()))
    } else {
        resp
    };
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page sets its own policy; everything else may load nothing.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !h.contains_key(header::REFERRER_POLICY) {
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    resp
}

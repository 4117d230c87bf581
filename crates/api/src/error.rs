//! Errors as JSON bodies with a message and the right status — never a
//! stack trace.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use delegraph_store::StoreError;
use serde_json::json;

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an unknown bearer token.
    #[error("missing or unknown bearer token")]
    Unauthorized,
    /// The token's role may not do this.
    #[error("the {0} role may not do this")]
    Forbidden(&'static str),
    /// Nothing there.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The request no longer applies to the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something on our side.
    #[error("{0}")]
    Internal(String),
    /// Every query slot is taken; try again shortly.
    #[error("too many queries running; retry in a moment")]
    Busy,
    /// The server's last look at the store failed (health).
    #[error("{0}")]
    Unhealthy(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::Refused(_) | StoreError::Query(_)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Store(StoreError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Busy | ApiError::Store(StoreError::Exhausted(_)) | ApiError::Unhealthy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Shedding load is the server working as designed: counted in
        // /metrics, not logged per request (a flood would flood the log).
        if status.is_server_error() && !matches!(self, ApiError::Busy) {
            tracing::error!(error = %self, "request failed");
        }
        // A server-side failure is logged in full; the caller learns only
        // that it happened (its text may hold paths and internals).
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error; the server log has the details".to_owned()
        } else {
            self.to_string()
        };
        let mut resp = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED
            && let Ok(v) = "Bearer realm=\"delegraph\"".parse()
        {
            resp.headers_mut().insert("www-authenticate", v);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Ok(v) = crate::QUEUE_WAIT.as_secs().max(1).to_string().parse()
        {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    }
}

//! `GET /api/v1/rules`, `PUT /api/v1/rules/{name}` (engineer).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::rules;
use crate::{ApiError, AppState, Caller, Engineer, Role};

pub(crate) async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let files = rules::list(&st.inner.rules_dir)?;
    Ok(Json(json!({ "files": files })))
}

/// Create or replace a rule file after compiling the directory with it;
/// the old file stays if the new text is refused.
pub(crate) async fn put(
    State(st): State<AppState>,
    Engineer(caller): Engineer,
    Path(name): Path<String>,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !rules::valid_name(&name) {
        return Err(ApiError::BadRequest(format!(
            "rule file name {:?}: at most {} letters, digits, _ - . only, ending in .yml or .yaml",
            name.chars().take(64).collect::<String>(),
            rules::MAX_NAME
        )));
    }
    let _writing = st.inner.rule_files.lock().await;
    let docs = rules::check_upload(&st.inner.rules_dir, &name, &body)?;
    let path = st.inner.rules_dir.join(&name);
    let existed = path.exists();
    delegraph_store::write_file_atomic(&path, body.as_bytes())?;
    tracing::info!(file = %path.display(), by = %caller.name, "rule file stored");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(json!({"name": name, "rules": docs}))))
}

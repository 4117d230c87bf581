//! What the API tests share: one simulated store, tokens, and copies of
//! the store for tests that write into it.

// Not every test file uses every helper.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use delegraph_api::{AppState, Role, Tokens, router};
use delegraph_store::QueryLimits;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const ANALYST: &str = "analyst-token-0123456789";
pub const ENGINEER: &str = "engineer-token-0123456789";
pub const VIEWER: &str = "viewer-token-0123456789";

/// One store for every test (simulate + replay once).
pub fn store() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sim = dir.path().join("sim");
        delegraph_sim::simulate(
            delegraph_sim::SimConfig {
                seed: 3,
                instances: 400,
                hours: 3.0,
                scenario_rate: 0.1,
                ..delegraph_sim::SimConfig::default()
            },
            &sim,
        )
        .unwrap();
        let files: Vec<String> = [
            "cloudtrail",
            "otlp",
            "mcp",
            "github",
            "okta",
            "opa",
            "envelopes",
        ]
        .iter()
        .map(|f| sim.join(format!("{f}.jsonl")).display().to_string())
        .collect();
        let config = delegraph_pipeline::ReplayConfig::new(dir.path().join("data"));
        delegraph_pipeline::replay_files(&files, &config, |_| {}).unwrap();
        dir
    })
    .path()
}

/// Copy a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else if let Err(e) = std::fs::copy(&p, to.join(e.file_name())) {
            // A file renamed away meanwhile: another test's write in
            // flight (`*.partial`) into the shared store.
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::NotFound,
                "{}: {e}",
                p.display()
            );
        }
    }
}

/// Send one request to `app`; (status, JSON body or null, body text,
/// headers).
pub async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, Value, String, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, text, headers)
}

/// A router over a private copy of the shared store (tests here write).
pub fn private_state(dir: &Path) -> AppState {
    let data = dir.join("data");
    copy_dir(&store().join("data"), &data);
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    AppState::new(
        data,
        Tokens::single("eng", Role::Engineer, ENGINEER)
            .with("ana", Role::Analyst, ANALYST)
            .with("vic", Role::Viewer, VIEWER),
        QueryLimits::default(),
    )
    .with_rules_dir(dir.join("rules"))
}

pub fn private_app(dir: &Path) -> axum::Router {
    router(private_state(dir))
}

pub fn req(method: &str, uri: &str, body: Option<String>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {ENGINEER}"));
    match body {
        Some(text) => b
            .header("content-type", "application/yaml")
            .body(Body::from(text))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

/// `/healthz` answers 200.
pub async fn healthy(app: &axum::Router) {
    let (s, _, text, _) = send(app, req("GET", "/healthz", None)).await;
    assert_eq!(s, StatusCode::OK, "{text}");
}

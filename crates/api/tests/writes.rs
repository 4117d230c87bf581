//! Writes that once let one caller break the API for everyone, or that
//! answered the wrong thing: a silence too long for the findings query,
//! racing rule uploads that together broke the directory, analysts'
//! uploads read before being refused; and a damaged store file reported as
//! the caller's mistake while `/healthz` said all was well.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use delegraph_api::router;
use serde_json::json;
use support::{ANALYST, ENGINEER, healthy, private_app, private_state, req, send};

fn silence(matcher: serde_json::Value) -> Request<Body> {
    let body = json!({"matcher": matcher, "reason": "test", "expires_at": "2099-01-01T00:00:00Z"});
    Request::post("/api/v1/silences")
        .header("authorization", format!("Bearer {ENGINEER}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn silences_longer_than_the_findings_query_allows_still_leave_it_working() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    // One value over the cap is refused, naming the field.
    let (s, v, _, _) = send(&app, silence(json!({"detector": "x".repeat(300_000)}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("detector"), "{v}");
    // Six hundred at the cap make a findings query far over the analysts'
    // statement limit (256 KiB); the server's own query is not refused.
    for i in 0..600 {
        let value = format!("{i:04}{}", "d".repeat(508));
        let (s, v, _, _) = send(&app, silence(json!({"detector": value}))).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, v, _, _) = send(&app, req("GET", "/api/v1/findings?limit=5", None)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!v["findings"].as_array().unwrap().is_empty(), "{v}");
    healthy(&app).await;
}

fn rule(id: &str, title: &str) -> String {
    format!(
        "title: {title}\nid: {id}\nlogsource: {{product: aws, service: cloudtrail}}\n\
         detection:\n  sel: {{eventName: {title}}}\n  condition: sel\nlevel: low\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_uploads_cannot_together_break_the_rule_directory() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let id = "5f0e7c1a-7d65-4c3b-9d2e-0a4b3c2d1e0f";
    for round in 0..10 {
        let uploads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|f| {
                let (app, body) = (app.clone(), rule(id, &format!("R{round}{f}")));
                let path = format!("/api/v1/rules/r{round}{f}.yml");
                tokio::spawn(async move { send(&app, req("PUT", &path, Some(body))).await })
            })
            .collect();
        let mut stored = 0;
        for u in uploads {
            let (s, v, _, _) = u.await.unwrap();
            if s.is_success() {
                stored += 1;
            } else {
                assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
                // The refusal points at the second definition's file.
                let e = v["error"].as_str().unwrap();
                assert!(e.contains(&format!("r{round}")) && e.contains(":"), "{e}");
                assert!(e.contains("used twice"), "{e}");
            }
        }
        assert_eq!(stored, 1, "round {round}: both uploads of id {id} stored");
        // Leave the directory as it was for the next round.
        for f in ["a", "b"] {
            let _ = std::fs::remove_file(dir.path().join(format!("rules/r{round}{f}.yml")));
        }
    }
    let (s, v, _, _) = send(&app, req("GET", "/api/v1/rules", None)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn an_analyst_is_refused_before_the_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    // Over the size limit and not YAML: an engineer would get 413.
    let put = || {
        Request::put("/api/v1/rules/x.yml")
            .header("content-type", "text/plain")
            .body(Body::from("x".repeat(1 << 20)))
    };
    let analyst = put()
        .map(|r| {
            let mut r = r;
            r.headers_mut().insert(
                "authorization",
                format!("bearer {ANALYST}").parse().unwrap(),
            );
            r
        })
        .unwrap();
    let (s, v, _, _) = send(&app, analyst).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let engineer = req("PUT", "/api/v1/rules/x.yml", Some("x".repeat(1 << 20)));
    let (s, _, _, _) = send(&app, engineer).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_damaged_store_file_is_the_servers_failure_and_health_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let state = private_state(dir.path());
    let app = router(state.clone());
    state.refresh_store_gauges().await.unwrap();
    healthy(&app).await;
    // Cut a findings file short, as a full disk or a bad copy would.
    let findings = dir.path().join("data/findings");
    let day = std::fs::read_dir(&findings)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("day="))
        })
        .unwrap();
    let file = std::fs::read_dir(&day)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let (s, v, _, _) = send(&app, req("GET", "/api/v1/findings", None)).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(!v["error"].as_str().unwrap().contains("Parquet"), "{v}");
    let sql = Request::post("/api/v1/sql")
        .header("authorization", format!("Bearer {ENGINEER}"))
        .header("content-type", "application/json")
        .body(Body::from(
            // Reads every column: a count alone is answered from the table
            // log's statistics, and a column whose pages lie in the intact
            // half is read correctly through the footer cached earlier.
            json!({"query": "SELECT * FROM findings"}).to_string(),
        ))
        .unwrap();
    let (s, v, text, _) = send(&app, sql).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    let root = dir.path().display().to_string();
    assert!(!text.contains(&root), "the error shows {root}: {text}");
    // The next periodic count fails, and health reports it.
    assert!(state.refresh_store_gauges().await.is_err());
    let (s, v, _, _) = send(&app, req("GET", "/healthz", None)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // Repaired, health recovers at the next count.
    std::fs::write(&file, &bytes).unwrap();
    state.refresh_store_gauges().await.unwrap();
    healthy(&app).await;
}

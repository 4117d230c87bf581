//! The HTTP API over a store filled by a simulated replay: auth on every
//! data route, filters and pagination, evidence and chain, graphs, risk,
//! read-only SQL, silences, metrics and the OpenAPI document.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use delegraph_api::{AppState, Role, Tokens, router};
use delegraph_store::QueryLimits;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;
use support::{ANALYST, ENGINEER, VIEWER, copy_dir, store};

fn app(data: &Path) -> axum::Router {
    let tokens = Tokens::single("ana", Role::Analyst, ANALYST)
        .with("eng", Role::Engineer, ENGINEER)
        .with("vic", Role::Viewer, VIEWER);
    router(AppState::new(
        data.join("data"),
        tokens,
        QueryLimits::default(),
    ))
}

/// The shared store, served to one analyst.
fn analyst_state() -> AppState {
    AppState::new(
        store().join("data"),
        Tokens::single("ana", Role::Analyst, ANALYST),
        QueryLimits::default(),
    )
}

async fn call(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        // A string body is sent as it is (rule files are YAML).
        Some(Value::String(text)) => req
            .header("content-type", "application/yaml")
            .body(Body::from(text))
            .unwrap(),
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app(store()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, text)
}

/// Every data route: (method, path, body, least role).
fn data_routes(finding: &str, instance: &str) -> Vec<(&'static str, String, Option<Value>, Role)> {
    vec![
        ("GET", "/api/v1/findings".into(), None, Role::Viewer),
        (
            "GET",
            format!("/api/v1/findings/{finding}"),
            None,
            Role::Viewer,
        ),
        (
            "GET",
            format!("/api/v1/instances/{instance}/graph"),
            None,
            Role::Viewer,
        ),
        ("GET", "/api/v1/risk/instances".into(), None, Role::Viewer),
        ("GET", "/api/v1/risk/humans".into(), None, Role::Viewer),
        (
            "POST",
            "/api/v1/sql".into(),
            Some(json!({"query": "SELECT 1 AS x"})),
            Role::Viewer,
        ),
        ("GET", "/api/v1/silences".into(), None, Role::Viewer),
        ("GET", "/api/v1/rules".into(), None, Role::Viewer),
        (
            "PUT",
            "/api/v1/rules/auth_test.yml".into(),
            Some(json!(
                "title: auth test\nlogsource: {product: aws}\ndetection:\n  sel: {eventName: Nothing}\n  condition: sel\n"
            )),
            Role::Engineer,
        ),
        (
            "POST",
            format!("/api/v1/findings/{finding}/triage"),
            Some(json!({"note": "auth test"})),
            Role::Analyst,
        ),
        (
            "GET",
            format!("/api/v1/findings/{finding}/activity"),
            None,
            Role::Viewer,
        ),
        (
            "GET",
            format!("/api/v1/findings/{finding}/similar"),
            None,
            Role::Viewer,
        ),
        (
            "GET",
            "/api/v1/findings/facets/detector".into(),
            None,
            Role::Viewer,
        ),
        (
            "POST",
            "/api/v1/findings/triage".into(),
            Some(json!({"filter": {"detector": "nothing-real"}, "change": {"note": "auth test"}})),
            Role::Analyst,
        ),
        ("GET", "/api/v1/triage/summary".into(), None, Role::Viewer),
        (
            "POST",
            "/api/v1/silences/preview".into(),
            Some(json!({"matcher": {"detector": "nothing-real"}})),
            Role::Viewer,
        ),
        (
            "POST",
            "/api/v1/silences".into(),
            Some(
                json!({"matcher": {"detector": "nothing-real"}, "reason": "auth test", "expires_at": "2099-01-01T00:00:00Z"}),
            ),
            Role::Analyst,
        ),
        (
            "DELETE",
            "/api/v1/silences/s-none".into(),
            None,
            Role::Analyst,
        ),
    ]
}

async fn first_finding() -> (String, String) {
    let (s, v, _) = call(
        "GET",
        "/api/v1/findings?limit=1&sort=risk",
        Some(ANALYST),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let f = &v["findings"][0];
    (
        f["finding_id"].as_str().unwrap().to_owned(),
        f["agent_instance"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn every_data_route_needs_a_token_and_the_right_role() {
    let (finding, instance) = first_finding().await;
    for (method, path, body, role) in data_routes(&finding, &instance) {
        let (s, v, _) = call(method, &path, None, body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(v["error"].is_string(), "{method} {path}: {v}");
        let (s, _, _) = call(method, &path, Some("wrong-token"), body.clone()).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a wrong token"
        );
        // Every role below the route's is refused before anything is
        // done; the route's own role (and those above) get through.
        for (token, has) in [
            (VIEWER, Role::Viewer),
            (ANALYST, Role::Analyst),
            (ENGINEER, Role::Engineer),
        ] {
            let (s, v, text) = call(method, &path, Some(token), body.clone()).await;
            if has < role {
                assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as {has:?}: {v}");
            } else {
                assert!(
                    s.is_success() || s == StatusCode::NOT_FOUND,
                    "{method} {path} as {has:?}: {s} {text}"
                );
            }
        }
    }
    for open in ["/healthz", "/api/v1/openapi.json"] {
        let (s, _, _) = call("GET", open, None, None).await;
        assert_eq!(s, StatusCode::OK, "{open}");
    }
    // Metrics on the data address: any role's token.
    let (s, _, _) = call("GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = call("GET", "/metrics", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn findings_filter_sort_and_page_without_overlap() {
    let (_, all, _) = call("GET", "/api/v1/findings?limit=1000", Some(ANALYST), None).await;
    let total = all["findings"].as_array().unwrap().len();
    assert!(total > 20, "{total}");
    let mut seen = std::collections::BTreeSet::new();
    let mut uri = "/api/v1/findings?limit=7&sort=risk".to_owned();
    let mut last_risk = u64::MAX;
    loop {
        let (s, page, _) = call("GET", &uri, Some(ANALYST), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for f in page["findings"].as_array().unwrap() {
            assert!(
                seen.insert(f["finding_id"].as_str().unwrap().to_owned()),
                "repeated {f}"
            );
            let r = f["risk_score"].as_u64().unwrap();
            assert!(r <= last_risk, "not sorted by risk");
            last_risk = r;
        }
        match page["next"].as_str() {
            Some(c) => uri = format!("/api/v1/findings?limit=7&sort=risk&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), total, "pages cover every finding once");
    let (_, high, _) = call(
        "GET",
        "/api/v1/findings?limit=1000&min_severity=high&detector=privilege_escalation",
        Some(ANALYST),
        None,
    )
    .await;
    let high = high["findings"].as_array().unwrap();
    assert!(!high.is_empty());
    for f in high {
        assert_eq!(f["detector"], "privilege_escalation");
        assert!(
            ["high", "critical"].contains(&f["severity"].as_str().unwrap()),
            "{f}"
        );
    }
    for bad in [
        "?severity=urgent",
        "?since=yesterday",
        "?sort=name",
        "?cursor=zzz",
        "?colour=red",
    ] {
        let (s, v, _) = call(
            "GET",
            &format!("/api/v1/findings{bad}"),
            Some(ANALYST),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

#[tokio::test]
async fn one_finding_carries_evidence_events_and_its_chain_and_graphs_render() {
    let (finding, instance) = first_finding().await;
    let (s, f, _) = call(
        "GET",
        &format!("/api/v1/findings/{finding}"),
        Some(ANALYST),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!f["evidence_events"].as_array().unwrap().is_empty(), "{f}");
    assert!(
        f["evidence_events"][0]["origin"]
            .as_str()
            .unwrap()
            .contains(".jsonl:"),
        "{f}"
    );
    assert!(!f["chain"].as_array().unwrap().is_empty(), "{f}");
    let (s, _, _) = call("GET", "/api/v1/findings/0000", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, g, _) = call(
        "GET",
        &format!("/api/v1/instances/{instance}/graph"),
        Some(ANALYST),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(g["nodes"].as_array().unwrap().len() >= 2, "{g}");
    let (s, _, dot) = call(
        "GET",
        &format!("/api/v1/instances/{instance}/graph?format=dot"),
        Some(ANALYST),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(dot.starts_with("digraph delegation {"), "{dot}");
    let (s, board, _) = call("GET", "/api/v1/risk/humans?limit=5", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::OK);
    let risks: Vec<u64> = board["leaders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["risk"].as_u64().unwrap())
        .collect();
    assert!(
        !risks.is_empty() && risks.windows(2).all(|w| w[0] >= w[1]),
        "{board}"
    );
}

#[tokio::test]
async fn sql_is_read_only() {
    let (s, v, _) = call(
        "POST",
        "/api/v1/sql",
        Some(ANALYST),
        Some(json!({"query": "SELECT count(*) AS n FROM events"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["rows"][0]["n"].as_u64().unwrap() > 1000, "{v}");
    for q in [
        "DROP TABLE events",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "COPY events TO '/tmp/x.csv'",
        "INSERT INTO events SELECT * FROM events",
        "SET datafusion.execution.batch_size = 1",
        "SELECT * FROM '/etc/passwd'",
    ] {
        let (s, v, text) = call(
            "POST",
            "/api/v1/sql",
            Some(ANALYST),
            Some(json!({"query": q})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {text}");
        assert!(
            v["error"].is_string() && !text.contains("panicked"),
            "{q}: {text}"
        );
    }
}

#[tokio::test]
async fn silences_hide_findings_until_they_expire() {
    // A store of its own: silences are written into it.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&store().join("data"), &data);
    let app = router(AppState::new(
        data,
        Tokens::single("eng", Role::Engineer, ENGINEER),
        QueryLimits::default(),
    ));
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let s = resp.status();
            let b = resp.into_body().collect().await.unwrap().to_bytes();
            (
                s,
                serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
            )
        }
    };
    let get = |uri: &str| {
        Request::get(uri)
            .header("authorization", format!("Bearer {ENGINEER}"))
            .body(Body::empty())
            .unwrap()
    };
    let count = |v: &Value| v["findings"].as_array().unwrap().len();
    let (_, before) = send(get("/api/v1/findings?limit=1000&detector=tool_chain")).await;
    assert!(count(&before) > 0);
    let (s, silence) = send(
        Request::post("/api/v1/silences")
            .header("authorization", format!("Bearer {ENGINEER}"))
            .header("content-type", "application/json")
            .body(Body::from(json!({"matcher": {"detector": "tool_chain"}, "reason": "tuning", "expires_at": "2099-01-01T00:00:00Z"}).to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{silence}");
    assert_eq!(silence["created_by"], "eng");
    let (_, during) = send(get("/api/v1/findings?limit=1000&detector=tool_chain")).await;
    assert_eq!(count(&during), 0);
    let (_, shown) = send(get(
        "/api/v1/findings?limit=1000&detector=tool_chain&include_silenced=true",
    ))
    .await;
    assert_eq!(count(&shown), count(&before));
    let id = silence["id"].as_str().unwrap();
    let (s, _) = send(
        Request::delete(format!("/api/v1/silences/{id}"))
            .header("authorization", format!("Bearer {ENGINEER}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, after) = send(get("/api/v1/findings?limit=1000&detector=tool_chain")).await;
    assert_eq!(count(&after), count(&before));
    let (_, list) = send(get("/api/v1/silences")).await;
    let mine = list["silences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap();
    assert_eq!(mine["active"], false, "{list}");
}

#[tokio::test]
async fn metrics_and_openapi_describe_what_is_served() {
    let state = analyst_state();
    state.refresh_store_gauges().await.unwrap();
    let resp = delegraph_api::ops_router(state)
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.contains("# TYPE delegraph_findings gauge"), "{text}");
    assert!(
        text.contains("delegraph_findings{detector=\"privilege_escalation\""),
        "{text}"
    );
    assert!(
        text.contains("delegraph_events_stored{source=\"cloudtrail\"}"),
        "{text}"
    );
    let (_, doc, _) = call("GET", "/api/v1/openapi.json", None, None).await;
    let paths = doc["paths"].as_object().unwrap();
    let (finding, instance) = first_finding().await;
    let mut documented = std::collections::BTreeSet::new();
    for (method, path, _, _) in data_routes(&finding, &instance) {
        let template = path
            .replace(&finding, "{id}")
            .replace(&instance, "{id}")
            .replace("s-none", "{id}")
            .replace("auth_test.yml", "{id}")
            .replace("facets/detector", "facets/{column}");
        assert!(
            paths
                .get(&template)
                .and_then(|p| p.get(method.to_lowercase()))
                .is_some(),
            "{method} {template} missing from the OpenAPI document"
        );
        documented.insert(template);
    }
    for p in paths.keys() {
        let (s, v, _) = call("GET", &p.replace("{id}", "x"), Some(ENGINEER), None).await;
        assert!(
            v["error"] != "no such route",
            "{p} is documented but not routed ({s})"
        );
    }
    let (s, v, _) = call("GET", "/api/v1/nothing", Some(ANALYST), None).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no such route"))
    );
}

#[tokio::test]
async fn rule_files_are_listed_checked_and_replaced_only_by_valid_ones() {
    let good = "title: Agent created an access key\nid: 7f1c\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: CreateAccessKey}\n  condition: sel\n";
    let (s, v, _) = call(
        "PUT",
        "/api/v1/rules/api_test_rule.yml",
        Some(ENGINEER),
        Some(json!(good)),
    )
    .await;
    assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{s} {v}");
    assert_eq!(v["rules"][0]["level"], "high");
    let (s, v, _) = call(
        "PUT",
        "/api/v1/rules/api_test_rule.yml",
        Some(ENGINEER),
        Some(json!("title: broken\ndetection:\n  sel: [unclosed\n")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("api_test_rule.yml") && msg.contains("line"),
        "{msg}"
    );
    // Valid YAML the engine refuses: an unknown modifier, at its line.
    let (s, v, _) = call(
        "PUT",
        "/api/v1/rules/api_test_rule.yml",
        Some(ENGINEER),
        Some(json!(good.replace("eventName:", "eventName|nosuch:"))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.starts_with("api_test_rule.yml:6: "), "{msg}");
    // A correlation naming a rule no file defines.
    let (s, v, _) = call(
        "PUT",
        "/api/v1/rules/api_test_corr.yml",
        Some(ENGINEER),
        Some(json!("title: c\ncorrelation:\n  type: event_count\n  rules: [no-such-rule]\n  timespan: 5m\n  condition: {gte: 2}\n")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("no-such-rule"), "{v}");
    // A correlation naming the stored rule, in another file, is accepted.
    let (s, v, _) = call(
        "PUT",
        "/api/v1/rules/api_test_corr.yml",
        Some(ENGINEER),
        Some(json!("title: c\ncorrelation:\n  type: event_count\n  rules: [7f1c]\n  timespan: 5m\n  condition: {gte: 2}\n")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["rules"][0]["kind"], "correlation");
    let (s, v, _) = call(
        "PUT",
        "/api/v1/rules/..%2Fescape.yml",
        Some(ENGINEER),
        Some(json!(good)),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v, _) = call("GET", "/api/v1/rules", Some(ANALYST), None).await;
    assert_eq!(s, StatusCode::OK);
    let file = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "api_test_rule.yml")
        .unwrap();
    assert_eq!(
        file["rules"][0]["title"], "Agent created an access key",
        "the refused upload left the earlier file: {file}"
    );
}

/// Health checks arriving together open the store once, and a check a
/// second later opens it again (the store may have gone since).
#[tokio::test]
async fn a_flood_of_health_checks_opens_the_store_once_a_second() {
    let state = analyst_state();
    let app = router(state.clone());
    let get = || {
        let app = app.clone();
        async move {
            let req = Request::get("/healthz").body(Body::empty()).unwrap();
            app.oneshot(req).await.unwrap().status()
        }
    };
    let statuses = futures::future::join_all((0..16).map(|_| get())).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(state.health_store_opens(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get().await, StatusCode::OK);
    assert_eq!(state.health_store_opens(), 2);
}

//! Triage over a simulated store: the lifecycle of one finding, roles,
//! the append-only activity log, bulk changes with a cap, concurrent
//! changes to one finding, suppress-similar with its preview and the
//! option to close what it matches, the views and metrics, and a restart.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use delegraph_api::router;
use serde_json::{Value, json};
use support::{ANALYST, VIEWER, private_state, send};

fn call(method: &str, uri: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn get(app: &axum::Router, uri: &str) -> Value {
    let (s, v, text, _) = send(app, call("GET", uri, VIEWER, None)).await;
    assert_eq!(s, StatusCode::OK, "{uri}: {text}");
    v
}

async fn triage(app: &axum::Router, id: &str, change: Value) -> (StatusCode, Value) {
    let uri = format!("/api/v1/findings/{id}/triage");
    let (s, v, _, _) = send(app, call("POST", &uri, ANALYST, Some(change))).await;
    (s, v)
}

async fn sql(app: &axum::Router, query: &str) -> Vec<Value> {
    let (s, v, text, _) = send(
        app,
        call(
            "POST",
            "/api/v1/sql",
            VIEWER,
            Some(json!({ "query": query })),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{query}: {text}");
    v["rows"].as_array().cloned().unwrap_or_default()
}

fn ids(page: &Value) -> Vec<String> {
    page["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The detector with the most findings, and how many it has.
async fn busiest_detector(app: &axum::Router) -> (String, u64) {
    let v = get(app, "/api/v1/findings/facets/detector").await;
    let top = &v["values"][0];
    (
        top["value"].as_str().unwrap().to_owned(),
        top["count"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn one_finding_from_open_to_closed_and_back_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let st = private_state(dir.path());
    let app = router(st.clone());
    let page = get(&app, "/api/v1/findings?limit=1&sort=risk").await;
    let id = ids(&page).remove(0);
    assert_eq!(page["findings"][0]["status"], "open", "{page}");

    // A viewer reads but may not triage.
    let uri = format!("/api/v1/findings/{id}/triage");
    let (s, _, _, _) = send(
        &app,
        call(
            "POST",
            &uri,
            VIEWER,
            Some(json!({"status": "acknowledged"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = triage(&app, &id, json!({"status": "acknowledged"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["action"].as_str(), v["actor"].as_str()),
        (Some("acknowledge"), Some("ana"))
    );
    let acked = get(&app, "/api/v1/findings?status=acknowledged&limit=1000").await;
    assert_eq!(ids(&acked), vec![id.clone()]);
    let open = get(&app, "/api/v1/findings?status=open&limit=1000").await;
    assert!(!ids(&open).contains(&id));

    // A false positive needs a note; then it closes.
    let fp = json!({"status": "closed", "disposition": "false_positive_logic"});
    let (s, v) = triage(&app, &id, fp.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("note"), "{v}");
    let mut with_note = fp;
    with_note["note"] = json!("the nightly export job; see ticket 42");
    let (s, v) = triage(&app, &id, with_note).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Closed changes only by reopening: 409, saying so.
    let (s, v) = triage(&app, &id, json!({"status": "acknowledged"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("reopen"), "{v}");
    let detail = get(&app, &format!("/api/v1/findings/{id}")).await;
    assert_eq!(
        (detail["status"].as_str(), detail["disposition"].as_str()),
        (Some("closed"), Some("false_positive_logic"))
    );

    // The views agree with the API.
    let state = sql(
        &app,
        &format!(
            "SELECT status, disposition, updated_by FROM finding_state WHERE finding_id = '{id}'"
        ),
    )
    .await;
    assert_eq!(
        state,
        vec![
            json!({"status": "closed", "disposition": "false_positive_logic", "updated_by": "ana"})
        ]
    );

    // A restart rebuilds the state from the log: still closed.
    let restarted = router(private_state_again(&st));
    let (s, _) = triage(&restarted, &id, json!({"status": "acknowledged"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = triage(
        &restarted,
        &id,
        json!({"status": "open", "note": "new evidence"}),
    )
    .await;
    assert_eq!(
        (s, v["action"].as_str()),
        (StatusCode::OK, Some("reopen")),
        "{v}"
    );

    let log = get(&restarted, &format!("/api/v1/findings/{id}/activity")).await;
    let actions: Vec<&str> = log["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["acknowledge", "close", "reopen"]);
    assert_eq!(
        log["activity"][1]["note"],
        "the nightly export job; see ticket 42"
    );
    assert_eq!(log["activity"][2]["disposition"], Value::Null);
}

/// A second server over the same data directory (a restart).
fn private_state_again(st: &delegraph_api::AppState) -> delegraph_api::AppState {
    delegraph_api::AppState::new(
        st.data_dir().to_path_buf(),
        delegraph_api::Tokens::single("ana", delegraph_api::Role::Analyst, ANALYST).with(
            "vic",
            delegraph_api::Role::Viewer,
            VIEWER,
        ),
        delegraph_store::QueryLimits::default(),
    )
}

#[tokio::test]
async fn no_route_edits_or_deletes_an_activity_entry() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(private_state(dir.path()));
    let id = ids(&get(&app, "/api/v1/findings?limit=1").await).remove(0);
    let (s, _) = triage(&app, &id, json!({"note": "first"})).await;
    assert_eq!(s, StatusCode::OK);
    let base = format!("/api/v1/findings/{id}/activity");
    for method in ["PUT", "PATCH", "DELETE", "POST"] {
        for uri in [base.clone(), format!("{base}/1")] {
            let (s, _, _, _) = send(
                &app,
                call(method, &uri, ANALYST, Some(json!({"note": "x"}))),
            )
            .await;
            assert!(
                s == StatusCode::METHOD_NOT_ALLOWED || s == StatusCode::NOT_FOUND,
                "{method} {uri}: {s}"
            );
        }
    }
    // SQL cannot write either.
    let (s, _, _, _) = send(
        &app,
        call(
            "POST",
            "/api/v1/sql",
            ANALYST,
            Some(json!({"query": "DELETE FROM finding_activity"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let log = get(&app, &base).await;
    assert_eq!(log["activity"].as_array().unwrap().len(), 1, "{log}");
}

#[tokio::test]
async fn bulk_changes_apply_to_the_filter_up_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(private_state(dir.path()));
    let (detector, total) = busiest_detector(&app).await;
    assert!(total > 5, "need more than 5 findings of {detector}");
    let body = json!({
        "filter": {"detector": detector, "status": "open"},
        "change": {"status": "acknowledged", "assignee": "ana"},
        "max": 5,
    });
    let (s, v, text, _) = send(
        &app,
        call(
            "POST",
            "/api/v1/findings/triage",
            ANALYST,
            Some(body.clone()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["applied"], 5, "{v}");
    assert_eq!(v["matched"], total, "{v}");
    assert_eq!(v["truncated"], true, "{v}");
    // The next round sees five fewer open ones.
    let (_, v, _, _) = send(
        &app,
        call("POST", "/api/v1/findings/triage", ANALYST, Some(body)),
    )
    .await;
    assert_eq!(v["matched"], total - 5, "{v}");
    let mine = get(
        &app,
        &format!("/api/v1/findings?assignee=ana&detector={detector}&limit=1000"),
    )
    .await;
    assert_eq!(ids(&mine).len(), 10);
    // A change that cannot apply is refused as a whole, before anything.
    let bad = json!({"filter": {}, "change": {"status": "closed"}});
    let (s, _, _, _) = send(
        &app,
        call("POST", "/api/v1/findings/triage", ANALYST, Some(bad)),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_finding_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(private_state(dir.path()));
    let found = ids(&get(&app, "/api/v1/findings?limit=10").await);
    for id in &found {
        let (a, b) = (app.clone(), app.clone());
        let (ia, ib) = (id.clone(), id.clone());
        let ack =
            tokio::spawn(async move { triage(&a, &ia, json!({"status": "acknowledged"})).await });
        let assign = tokio::spawn(async move { triage(&b, &ib, json!({"assignee": "bob"})).await });
        let (ack, assign) = (ack.await.unwrap(), assign.await.unwrap());
        assert_eq!(
            (ack.0, assign.0),
            (StatusCode::OK, StatusCode::OK),
            "{ack:?} {assign:?}"
        );
        let f = get(&app, &format!("/api/v1/findings/{id}")).await;
        assert_eq!(
            (f["status"].as_str(), f["assignee"].as_str()),
            (Some("acknowledged"), Some("bob")),
            "{id}"
        );
        let log = get(&app, &format!("/api/v1/findings/{id}/activity")).await;
        assert_eq!(log["activity"].as_array().unwrap().len(), 2, "{log}");
    }
}

#[tokio::test]
async fn suppress_similar_previews_closes_and_hides_them_marked() {
    let dir = tempfile::tempdir().unwrap();
    let st = private_state(dir.path());
    let app = router(st.clone());
    let (detector, _) = busiest_detector(&app).await;
    let first = get(
        &app,
        &format!("/api/v1/findings?detector={detector}&limit=1"),
    )
    .await;
    let id = ids(&first).remove(0);
    let similar = get(&app, &format!("/api/v1/findings/{id}/similar")).await;
    let matcher = similar["matcher"].clone();
    assert_eq!(matcher["detector"], detector.as_str(), "{similar}");
    assert_eq!(similar["default_expiry_hours"], 24);
    let expected = similar["unclosed_matching"].as_u64().unwrap();
    assert!(expected >= 1, "{similar}");
    let (s, preview, _, _) = send(
        &app,
        call(
            "POST",
            "/api/v1/silences/preview",
            VIEWER,
            Some(json!({"matcher": matcher})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(preview["unclosed_matching"], expected, "{preview}");
    assert!(
        preview["sample"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == id.as_str())
    );

    // Without a note a false positive cannot close them; nothing is made.
    let body = |note: Option<&str>| {
        json!({"matcher": matcher, "reason": "known job",
               "close_matching": {"disposition": "false_positive_logic", "note": note}})
    };
    let (s, _, _, _) = send(
        &app,
        call("POST", "/api/v1/silences", ANALYST, Some(body(None))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, made, text, _) = send(
        &app,
        call(
            "POST",
            "/api/v1/silences",
            ANALYST,
            Some(body(Some("known job"))),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    assert_eq!(made["closed"]["applied"], expected, "{made}");
    assert_eq!(made["created_by"], "ana");
    // The default expiry is a day ahead.
    let hours = (made["expires_at_ns"].as_i64().unwrap() - now_ns()) / 3_600_000_000_000;
    assert!((23..=24).contains(&hours), "{made}");

    // The queue no longer shows them; asked for, they are marked.
    let listed = get(
        &app,
        &format!("/api/v1/findings?detector={detector}&limit=1000"),
    )
    .await;
    assert!(!ids(&listed).contains(&id));
    let all = get(
        &app,
        &format!("/api/v1/findings?detector={detector}&limit=1000&include_silenced=true"),
    )
    .await;
    let row = all["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["finding_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (row["silenced"].as_bool(), row["status"].as_str()),
        (Some(true), Some("closed")),
        "{row}"
    );
    let log = get(&app, &format!("/api/v1/findings/{id}/activity")).await;
    let via = log["activity"][0]["via"].as_str().unwrap();
    assert_eq!(via, format!("silence:{}", made["id"].as_str().unwrap()));

    // The views and metrics count them.
    let by_detector = sql(&app, &format!("SELECT closed, false_positive_ratio FROM triage_by_detector WHERE detector = '{detector}'")).await;
    assert_eq!(by_detector[0]["closed"], expected, "{by_detector:?}");
    assert_eq!(
        by_detector[0]["false_positive_ratio"], 1.0,
        "{by_detector:?}"
    );
    st.refresh_store_gauges().await.unwrap();
    let (_, _, metrics, _) = send(&app, call("GET", "/metrics", VIEWER, None)).await;
    assert!(
        metrics.contains(&format!(
            "delegraph_findings_by_status{{status=\"closed\"}} {expected}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "delegraph_triage_false_positive_ratio{{detector=\"{detector}\"}} 1"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_silence_on_a_tool_and_resource_hides_exactly_their_findings() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(private_state(dir.path()));
    // The tool and resource pair most findings name, on a resource that
    // other tools' findings name too.
    let top = sql(
        &app,
        "SELECT p.tool, p.resource, p.n, r.n AS on_resource FROM \
           (SELECT tool, resource, count(*) AS n FROM findings \
            WHERE tool IS NOT NULL AND resource IS NOT NULL GROUP BY tool, resource) p \
         JOIN (SELECT resource, count(*) AS n FROM findings GROUP BY resource) r \
           ON r.resource = p.resource \
         WHERE r.n > p.n ORDER BY p.n DESC, p.tool, p.resource LIMIT 1",
    )
    .await;
    let (tool, resource) = (top[0]["tool"].clone(), top[0]["resource"].clone());
    let (n, on_resource) = (
        top[0]["n"].as_u64().unwrap(),
        top[0]["on_resource"].as_u64().unwrap(),
    );
    let id = sql(
        &app,
        &format!(
            "SELECT finding_id FROM findings WHERE tool = '{}' AND resource = '{}' LIMIT 1",
            tool.as_str().unwrap(),
            resource.as_str().unwrap()
        ),
    )
    .await[0]["finding_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Suppress similar offers them, from one of those findings.
    let similar = get(&app, &format!("/api/v1/findings/{id}/similar")).await;
    assert_eq!(
        (&similar["matcher"]["tool"], &similar["matcher"]["resource"]),
        (&tool, &resource),
        "{similar}"
    );
    let matcher = json!({"tool": tool, "resource": resource});
    let preview = |m: Value| {
        call(
            "POST",
            "/api/v1/silences/preview",
            VIEWER,
            Some(json!({ "matcher": m })),
        )
    };
    let (_, both, _, _) = send(&app, preview(matcher.clone())).await;
    assert_eq!(both["unclosed_matching"], n, "{both}");
    let (_, alone, _, _) = send(&app, preview(json!({ "resource": resource }))).await;
    assert_eq!(alone["unclosed_matching"], on_resource, "{alone}");

    let (s, _, text, _) = send(
        &app,
        call(
            "POST",
            "/api/v1/silences",
            ANALYST,
            Some(json!({"matcher": matcher, "reason": "scheduled export"})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{text}");
    let on = |page: &Value, with_tool: bool| -> Vec<bool> {
        page["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["resource"] == resource && (f["tool"] == tool) == with_tool)
            .map(|f| f["silenced"].as_bool().unwrap())
            .collect()
    };
    let listed = get(&app, "/api/v1/findings?limit=1000").await;
    assert!(on(&listed, true).is_empty(), "a silenced finding is listed");
    // The resource's findings of other tools stay.
    assert_eq!(on(&listed, false).len() as u64, on_resource - n);
    let marked = get(&app, "/api/v1/findings?limit=1000&include_silenced=true").await;
    assert_eq!(on(&marked, true), vec![true; n as usize]);
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

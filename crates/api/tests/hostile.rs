//! The API against the attacks that once broke it: thousands of silences,
//! YAML bombs, oversized names and queries built to exhaust the planner.
//! After each, the server still answers `/healthz`.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use delegraph_api::{AppState, Role, Tokens, router};
use delegraph_store::QueryLimits;
use serde_json::{Value, json};
use support::{ENGINEER, copy_dir, healthy, private_app, private_state, req, send, store};

/// 2099-01-01, in nanoseconds.
const FAR_NS: i64 = 4_070_908_800_000_000_000;

#[tokio::test]
async fn five_thousand_silences_leave_listings_working_and_hide_what_they_match() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let (_, all, _, _) = send(&app, req("GET", "/api/v1/findings?limit=1000", None)).await;
    let findings = all["findings"].as_array().unwrap();
    let victim = findings[0]["detector"].as_str().unwrap().to_owned();
    // Mostly silences that match nothing, of every shape, and one that
    // hides a whole detector; written straight into the store, as a
    // restart would find them.
    let far = "2099-01-01T00:00:00Z";
    let mut silences: Vec<Value> = (0..5000)
        .map(|i| {
            let matcher = match i % 3 {
                0 => json!({"agent_id": format!("nobody-{i}")}),
                1 => json!({"detector": format!("nothing-{i}"), "initiator": format!("x{i}@example.com")}),
                _ => json!({"detector": format!("n{i}"), "agent_id": "a", "agent_instance": "i", "initiator": "h"}),
            };
            json!({"id": format!("s-{i}"), "matcher": matcher, "reason": "load", "created_by": "eng",
                   "created_at": far, "expires_at": far, "expires_at_ns": FAR_NS})
        })
        .collect();
    silences.push(json!({"id": "s-victim", "matcher": {"detector": victim}, "reason": "tuning",
                         "created_by": "eng", "created_at": far, "expires_at": far, "expires_at_ns": FAR_NS}));
    let state = dir.path().join("data/state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("silences.json"),
        serde_json::to_vec(&silences).unwrap(),
    )
    .unwrap();
    let (s, page, text, _) = send(&app, req("GET", "/api/v1/findings?limit=1000", None)).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let left = page["findings"].as_array().unwrap();
    assert!(!left.is_empty());
    assert!(
        left.iter().all(|f| f["detector"] != victim.as_str()),
        "{victim} still listed"
    );
    let (s, shown, _, _) = send(
        &app,
        req(
            "GET",
            "/api/v1/findings?limit=1000&include_silenced=true",
            None,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(shown["findings"].as_array().unwrap().len(), findings.len());
    healthy(&app).await;
}

/// Nine anchors, each a list of nine aliases of the one before: about
/// 600 bytes that a tree-building loader expands to 387 million nodes.
fn billion_laughs() -> String {
    let mut s = String::from("title: lol\na0: &a0 [\"lol\"]\n");
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        s.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 9].join(", ")
        ));
    }
    s
}

#[tokio::test]
async fn a_yaml_bomb_is_refused_on_upload_and_on_listing() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let bomb = billion_laughs();
    assert!(bomb.len() < 700);
    let (s, v, _, _) = send(
        &app,
        req("PUT", "/api/v1/rules/bomb.yml", Some(bomb.clone())),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("expand to more than"),
        "{v}"
    );
    // Dropped into the directory by other means, it is listed as broken.
    std::fs::write(dir.path().join("rules/bomb.yml"), &bomb).unwrap();
    let (s, v, _, _) = send(&app, req("GET", "/api/v1/rules", None)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let listed = &v["files"][0];
    assert_eq!(listed["name"], "bomb.yml");
    assert!(
        listed["error"].as_str().unwrap().contains("expand"),
        "{listed}"
    );
    healthy(&app).await;
}

#[tokio::test]
async fn an_overlong_rule_name_is_a_clear_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let name = format!("{}.yml", "a".repeat(250));
    let (s, v, text, _) = send(
        &app,
        req(
            "PUT",
            &format!("/api/v1/rules/{name}"),
            Some("title: t\n".into()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("at most 128"), "{msg}");
    assert!(!msg.contains(dir.path().to_str().unwrap()), "{msg}");
    healthy(&app).await;
}

fn sql(query: &str) -> Request<Body> {
    Request::post("/api/v1/sql")
        .header("authorization", format!("Bearer {ENGINEER}"))
        .header("content-type", "application/json")
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap()
}

#[tokio::test]
async fn queries_built_to_overflow_the_planner_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let sum = format!("SELECT {}", vec!["1"; 1_501].join("+"));
    let ors = format!(
        "SELECT count(*) FROM events WHERE {}",
        vec!["actor = 'x'"; 20_000].join(" OR ")
    );
    let short_ors = format!(
        "SELECT count(*) FROM events WHERE {}",
        vec!["actor = 'x'"; 2_000].join(" OR ")
    );
    for q in [sum, ors, short_ors] {
        let (s, v, text, _) = send(&app, sql(&q)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
        // Refused for its operators, or for its sheer length.
        assert!(v["error"].as_str().unwrap().contains("the limit is"), "{v}");
        healthy(&app).await;
    }
    // The same filter as a list is answered.
    let list = format!(
        "SELECT count(*) AS n FROM events WHERE actor IN ({})",
        vec!["'x'"; 20_000].join(", ")
    );
    let (s, v, text, _) = send(&app, sql(&list)).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["rows"][0]["n"], 0);
}

#[tokio::test]
async fn a_huge_result_is_refused_within_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let started = std::time::Instant::now();
    let (s, v, text, _) = send(&app, sql("SELECT * FROM range(20000000)")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
    assert!(v["error"].as_str().unwrap().contains("rows"), "{v}");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    healthy(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_heavy_queries_are_bounded_and_health_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&store().join("data"), &data);
    let limits = QueryLimits {
        timeout: std::time::Duration::from_secs(2),
        ..QueryLimits::default()
    };
    let app = router(AppState::new(
        data,
        Tokens::single("eng", Role::Engineer, ENGINEER),
        limits,
    ));
    // Every pair of events read (no statistics shortcut to a count).
    let heavy = "SELECT sum(length(a.raw) + length(b.raw)) AS n FROM events a, events b";
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, sql(heavy)).await })
        })
        .collect();
    // Health answers while they run.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let probe = std::time::Instant::now();
    healthy(&app).await;
    assert!(probe.elapsed().as_secs() < 2, "{:?}", probe.elapsed());
    let mut statuses = Vec::new();
    for c in calls {
        let (s, v, _, headers) = c.await.unwrap();
        if s == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(headers["retry-after"], "2", "{v}");
        }
        assert!(v["error"].is_string() || v["rows"].is_array(), "{s} {v}");
        statuses.push(s.as_u16());
    }
    statuses.sort_unstable();
    assert!(
        statuses.iter().all(|s| [200, 503, 504].contains(s)),
        "{statuses:?}"
    );
    // Four slots, two seconds each at most, two seconds of queueing: no
    // request hangs.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    eprintln!(
        "12 parallel cross joins: {statuses:?} in {:?}",
        started.elapsed()
    );
    healthy(&app).await;
}

#[tokio::test]
async fn framework_refusals_are_json_and_every_answer_carries_safe_headers() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let (s, _, _, headers) = send(&app, req("GET", "/healthz", None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("content-security-policy"));
    let wrong_method = req("DELETE", "/api/v1/findings", None);
    let not_json = Request::post("/api/v1/sql")
        .header("authorization", format!("Bearer {ENGINEER}"))
        .header("content-type", "text/plain")
        .body(Body::from("SELECT 1"))
        .unwrap();
    let bad_json = Request::post("/api/v1/sql")
        .header("authorization", format!("Bearer {ENGINEER}"))
        .header("content-type", "application/json")
        .body(Body::from("{\"query\": 1}"))
        .unwrap();
    let too_big = req(
        "PUT",
        "/api/v1/rules/big.yml",
        Some("#".repeat(delegraph_rules::MAX_RULE_FILE_BYTES + 1)),
    );
    for (r, want) in [
        (wrong_method, StatusCode::METHOD_NOT_ALLOWED),
        (not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (bad_json, StatusCode::UNPROCESSABLE_ENTITY),
        (too_big, StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let (s, v, text, headers) = send(&app, r).await;
        assert_eq!(s, want, "{text}");
        assert!(v["error"].is_string(), "{want}: not JSON: {text}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scrape_flood_runs_no_queries_and_leaves_queries_their_slots() {
    let dir = tempfile::tempdir().unwrap();
    let state = private_state(dir.path());
    state.refresh_store_gauges().await.unwrap();
    let app = router(state);
    let first = send(&app, req("GET", "/metrics", None)).await;
    assert_eq!(first.0, StatusCode::OK);
    assert!(first.2.contains("delegraph_findings{"), "{}", first.2);
    let scrapes: Vec<_> = (0..300)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, req("GET", "/metrics", None)).await })
        })
        .collect();
    // A query still gets a slot while they run: the scrapes take none.
    let (s, v, _, _) = send(&app, sql("SELECT count(*) AS n FROM findings")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for c in scrapes {
        let (s, _, text, _) = c.await.unwrap();
        assert_eq!(s, StatusCode::OK);
        // The store's gauges come from the same snapshot.
        let gauges = &first.2[..first.2.find("# HELP delegraph_http").unwrap()];
        assert!(text.starts_with(gauges));
    }
    healthy(&app).await;
}

/// A server on a free port with `limits`; its address.
async fn listening(limits: delegraph_api::ServeLimits) -> std::net::SocketAddr {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    serving(app, limits, dir).await
}

/// `app` on a free port with `limits`, keeping `dir` while it runs.
async fn serving(
    app: axum::Router,
    limits: delegraph_api::ServeLimits,
    dir: tempfile::TempDir,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _dir = dir;
        delegraph_api::serve(listener, app, limits, std::future::pending()).await;
    });
    addr
}

/// Send a whole GET (no token) and read the whole response.
async fn get_response(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The status line of a GET.
async fn get_status(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    get_response(addr, path)
        .await?
        .lines()
        .next()
        .map(str::to_owned)
}

/// Whether the server ended `s` within `secs`: closed it, or answered it
/// (a 408) on its way to closing; a read still waiting means open.
async fn closed_within(s: &mut tokio::net::TcpStream, secs: u64) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        s.read_to_end(&mut buf),
    )
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_and_idle_connections_are_closed_and_capped() {
    use tokio::io::AsyncWriteExt;
    let limits = delegraph_api::ServeLimits {
        header_read: std::time::Duration::from_secs(1),
        max_connections: 4,
        max_connection_age: std::time::Duration::from_secs(60),
    };
    let addr = listening(limits).await;
    // Four clients that start a request and never finish it.
    let mut trickling = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        trickling.push(s);
    }
    // A fifth is over the cap: answered 503 with Retry-After and closed
    // at once (a reset would tell the client nothing).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let fifth = get_response(addr, "/healthz").await.unwrap();
    assert!(fifth.starts_with("HTTP/1.1 503"), "{fifth}");
    assert!(fifth.contains("retry-after: 1"), "{fifth}");
    // The header-read timeout closes the tricklers…
    for s in &mut trickling {
        assert!(
            closed_within(s, 3).await,
            "a trickling connection stayed open"
        );
    }
    // …and the server answers again.
    let status = get_status(addr, "/healthz").await.unwrap();
    assert!(status.contains("200"), "{status}");
}

#[tokio::test]
async fn plans_and_errors_do_not_show_the_servers_paths() {
    let dir = tempfile::tempdir().unwrap();
    let app = private_app(dir.path());
    let root = dir.path().display().to_string();
    let (s, v, text, _) = send(
        &app,
        sql("EXPLAIN SELECT actor FROM events WHERE actor <> 'x'"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(text.contains("events/"), "{v}");
    assert!(!text.contains(&root), "EXPLAIN shows {root}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_address_answers_while_the_data_address_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let state = private_state(dir.path());
    state.refresh_store_gauges().await.unwrap();
    let full = delegraph_api::ServeLimits {
        max_connections: 2,
        ..delegraph_api::ServeLimits::default()
    };
    let ops_dir = tempfile::tempdir().unwrap();
    let data = serving(router(state.clone()), full, dir).await;
    let ops = serving(
        delegraph_api::ops_router(state),
        delegraph_api::ServeLimits::default(),
        ops_dir,
    )
    .await;
    // /metrics on the data address needs a token.
    let refused = get_status(data, "/metrics").await.unwrap();
    assert!(refused.contains("401"), "{refused}");
    // Idle clients fill the data address… A client that arrives while an
    // earlier connection's slot is still being released is itself refused
    // and closed, so another one takes its place until the address is full
    // (on a loaded machine the first two need not be enough).
    let mut held = vec![
        tokio::net::TcpStream::connect(data).await.unwrap(),
        tokio::net::TcpStream::connect(data).await.unwrap(),
    ];
    let mut busy = String::new();
    for _ in 0..50 {
        if busy.contains("200") {
            held.push(tokio::net::TcpStream::connect(data).await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        busy = get_status(data, "/healthz").await.unwrap();
        if busy.contains("503") {
            break;
        }
    }
    assert!(busy.contains("503"), "{busy}");
    // …while the operations address answers health and metrics, no token.
    let health = get_status(ops, "/healthz").await.unwrap();
    assert!(health.contains("200"), "{health}");
    let metrics = get_response(ops, "/metrics").await.unwrap();
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("delegraph_findings{"), "{metrics}");
    // It serves nothing else.
    let other = get_status(ops, "/api/v1/findings").await.unwrap();
    assert!(other.contains("404"), "{other}");
}

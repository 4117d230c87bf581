//! The triage page without a browser: sign-in and its cookie, the page's
//! security headers, refusals of writes without the session's CSRF token
//! or the role, and the delegation chain's SVG for fixed findings of the
//! simulated store, compared with `crates/api/tests/snapshots/chain/*.svg` (regenerate
//! with `DELEGRAPH_BLESS=1`). The browser tests are `scripts/ui-test`.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use delegraph_api::router;
use support::{ANALYST, VIEWER, private_state, req, send};

fn form(uri: &str, cookie: Option<&str>, body: &str) -> Request<Body> {
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

/// Sign in with `token`; the session cookie (`name=value`).
async fn sign_in(app: &axum::Router, token: &str) -> String {
    let (s, _, text, h) = send(
        app,
        form(
            "/ui/login",
            None,
            &format!("token={token}&next=/ui/findings"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{text}");
    let set = h[header::SET_COOKIE].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attr), "{set}");
    }
    set.split(';').next().unwrap().to_owned()
}

/// The page's CSRF token, read from a form.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[at..at + 64].to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_carry_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(private_state(dir.path()));
    let (s, _, _, h) = send(
        &app,
        Request::get("/ui/findings?status=open")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(
        h[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/ui/login?next=")
    );
    let (s, _, text, _) = send(&app, form("/ui/login", None, "token=wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{text}");
    let cookie = sign_in(&app, ANALYST).await;
    let (s, _, html, h) = send(&app, get("/ui/findings?status=open&sort=risk", &cookie)).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "inline script or style"
    );
    assert!(html.contains("tr class=\"row\""), "no rows in the queue");
    // Every finding of the page opens in the detail panel.
    let ids: Vec<&str> = html
        .match_indices("data-id=\"")
        .map(|(at, _)| &html[at + 9..at + 41])
        .collect();
    assert!(ids.len() >= 20, "{}", ids.len());
    let (total, mut peers, mut first_seen) = (ids.len(), 0, 0);
    for id in ids {
        let (s, _, panel, _) = send(
            &app,
            get(
                &format!("/ui/findings?status=open&sort=risk&sel={id}"),
                &cookie,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{id}: {panel}");
        assert!(panel.contains("id=\"detail\""), "{id}");
        // The explanation says how common the finding is among the agent's
        // instances, and since when the instance is known.
        if panel.contains("<tr class=\"peers\">") {
            peers += 1;
        }
        if panel.contains("<tr class=\"first-seen\">") {
            first_seen += 1;
        }
    }
    // Findings without an agent or instance (a bare IAM principal) have
    // neither; most of the riskiest do.
    assert!(
        peers * 2 > total && first_seen * 2 > total,
        "{peers} {first_seen} of {total}"
    );
    // A redirect target outside /ui is not followed.
    let (_, _, _, h) = send(
        &app,
        form(
            "/ui/login",
            None,
            &format!("token={ANALYST}&next=https://evil.example/"),
        ),
    )
    .await;
    assert_eq!(h[header::LOCATION], "/ui/findings");
}

#[tokio::test]
async fn writes_need_the_session_csrf_token_and_the_analyst_role() {
    let dir = tempfile::tempdir().unwrap();
    let st = private_state(dir.path());
    let app = router(st);
    let cookie = sign_in(&app, ANALYST).await;
    let (_, _, html, _) = send(&app, get("/ui/findings?status=open&sort=risk", &cookie)).await;
    let at = html.find("data-id=\"").unwrap() + 9;
    let id = &html[at..at + 32];
    let uri = format!("/ui/findings/{id}/triage");
    let (s, _, _, _) = send(
        &app,
        form(&uri, Some(&cookie), "csrf=nope&status=acknowledged"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let token = csrf(&html);
    let mut foreign = form(
        &uri,
        Some(&cookie),
        &format!("csrf={token}&status=acknowledged"),
    );
    foreign
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let (s, _, _, _) = send(&app, foreign).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _, h) = send(
        &app,
        form(
            &uri,
            Some(&cookie),
            &format!("csrf={token}&status=acknowledged&back=/ui/findings?status=acknowledged"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/ui/findings?status=acknowledged");
    let (_, _, html, _) = send(
        &app,
        get(
            &format!("/ui/findings?status=acknowledged&sel={id}"),
            &cookie,
        ),
    )
    .await;
    assert!(
        html.contains(&format!("data-id=\"{id}\"")),
        "acknowledged finding not listed"
    );
    // A viewer's session reads and may not write, even with its own token.
    let viewer = sign_in(&app, VIEWER).await;
    let (s, _, html, _) = send(
        &app,
        get(
            &format!("/ui/findings?status=acknowledged&sel={id}"),
            &viewer,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("act-ack") && !html.contains("close-form"));
    let (s, _, _, _) = send(
        &app,
        form(&uri, Some(&viewer), &format!("csrf={}&note=x", csrf(&html))),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// A SQL engine over the state's store, for picking fixed findings.
async fn engine_over(st: &delegraph_api::AppState) -> delegraph_store::SqlEngine {
    delegraph_store::SqlEngine::open(st.data_dir(), delegraph_store::QueryLimits::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn chain_svg_of_fixed_findings_matches_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let st = private_state(dir.path());
    let engine = engine_over(&st).await;
    // The riskiest finding of each of three detectors, by a fixed order.
    let picks = engine
        .query_json(
            "SELECT finding_id, detector FROM (SELECT finding_id, detector, row_number() OVER \
             (PARTITION BY detector ORDER BY risk_score DESC, finding_id) AS n FROM findings \
             WHERE detector IN ('tool_chain', 'privilege_escalation', 'delegation')) \
             WHERE n = 1 ORDER BY detector",
        )
        .await
        .unwrap();
    assert!(picks.len() >= 2, "{picks:?}");
    let snapshots = std::path::Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/snapshots/chain");
    let bless = std::env::var_os("DELEGRAPH_BLESS").is_some();
    for p in picks {
        let (id, detector) = (
            p["finding_id"].as_str().unwrap(),
            p["detector"].as_str().unwrap(),
        );
        let svg = delegraph_api::finding_chain_svg(&engine, id)
            .await
            .unwrap()
            .unwrap();
        assert!(svg.starts_with("<svg class=\"chain\""), "{svg}");
        let path = snapshots.join(format!("{detector}.svg"));
        if bless {
            std::fs::create_dir_all(&snapshots).unwrap();
            std::fs::write(&path, &svg).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (DELEGRAPH_BLESS=1 writes it)", path.display()));
        assert_eq!(
            svg,
            want,
            "{detector} ({id}) differs from {}",
            path.display()
        );
    }
}

#[tokio::test]
async fn the_panel_names_tool_and_resource_links_to_grafana_and_suppresses_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let st = private_state(dir.path());
    let engine = engine_over(&st).await;
    let row = engine
        .query_json(
            "SELECT finding_id, tool, resource, CAST(event_time AS BIGINT) AS t FROM findings \
             WHERE tool IS NOT NULL AND resource IS NOT NULL ORDER BY finding_id LIMIT 1",
        )
        .await
        .unwrap()
        .remove(0);
    let (id, tool, resource) = (
        row["finding_id"].as_str().unwrap(),
        row["tool"].as_str().unwrap(),
        row["resource"].as_str().unwrap(),
    );
    // Microseconds since the epoch, as the store keeps times.
    let ms = row["t"].as_i64().unwrap() / 1_000;
    let panel_uri = format!("/ui/findings?sel={id}");

    // Without a Grafana address there is no link.
    let plain = router(private_state(&dir.path().join("plain")));
    let cookie = sign_in(&plain, ANALYST).await;
    let (_, _, html, _) = send(&plain, get(&panel_uri, &cookie)).await;
    assert!(!html.contains("grafana-link"), "link without an address");

    drop(engine);
    let app = router(st.with_grafana_url("https://grafana.example/".into()));
    let cookie = sign_in(&app, ANALYST).await;
    let (s, _, html, _) = send(&app, get(&panel_uri, &cookie)).await;
    assert_eq!(s, StatusCode::OK);
    for shown in [
        format!("<tr class=\"tool\"><th>tool</th><td><code>{tool}</code>"),
        format!("<tr class=\"resource\"><th>resource</th><td><code>{resource}</code>"),
        format!(
            "href=\"https://grafana.example/d/delegraph-findings?from={}&amp;to={}\"",
            ms - 3_600_000,
            ms + 3_600_000
        ),
    ] {
        assert!(html.contains(&shown), "{shown} not in the panel");
    }
    // The dashboard the link names is the one the repository ships.
    let dashboard: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(
                &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
            )
            .join("../../dashboards/findings.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(dashboard["uid"], "delegraph-findings");

    // Suppress similar offers the tool and resource, and a silence on
    // them alone hides the finding.
    let suppress = format!("/ui/findings/{id}/suppress");
    let (_, _, form_html, _) = send(&app, get(&suppress, &cookie)).await;
    for name in ["use_tool", "use_resource"] {
        assert!(form_html.contains(&format!("name=\"{name}\"")), "{name}");
    }
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body = format!(
        "csrf={}&tool={}&resource={}&reason=nightly+export&hours=2",
        csrf(&form_html),
        encode(tool),
        encode(resource)
    );
    let (s, _, text, _) = send(&app, form(&suppress, Some(&cookie), &body)).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{text}");
    let (_, listed, _, _) = send(&app, req("GET", "/api/v1/silences", None)).await;
    let m = &listed["silences"][0]["matcher"];
    assert_eq!(
        *m,
        serde_json::json!({"tool": tool, "resource": resource}),
        "{listed}"
    );
    let (_, page, _, _) = send(&app, req("GET", "/api/v1/findings?limit=1000", None)).await;
    let rows = page["findings"].as_array().unwrap();
    assert!(rows.len() > 1, "{page}");
    assert!(rows.iter().all(|f| f["finding_id"] != id), "still listed");
}

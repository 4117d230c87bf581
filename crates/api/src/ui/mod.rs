//! The triage page under `/ui/`, served by the API process itself: HTML
//! rendered on the server (maud escapes every value it writes), one
//! stylesheet and one script from `/ui/static/`, no inline script or
//! style, and a Content-Security-Policy that would refuse them anyway.
//! Log content is attacker-controlled (tool arguments, prompts, actor
//! names): it reaches the page only as escaped text.
//!
//! Every state is in the URL (filters, grouping, the selected finding),
//! so a bookmark is a saved view. Writes are HTML forms posting to
//! `/ui/…`, checked by [`session::UiUser::check_write`], and answered with
//! a redirect back to the page they came from.

mod actions;
mod chain_svg;
mod detail;
mod layout;
mod login;
mod queue;
mod session;
mod timeline;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::AppState;
pub use chain_svg::{ChainGraph, chain_svg};
pub use detail::finding_chain_svg;
pub(crate) use session::Sessions;

/// What the page may load: its own script, style and forms; nothing
/// inline, nothing from elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../../static/ui.css");
const SCRIPT: &str = include_str!("../../static/ui.js");
const ICON: &str = include_str!("../../static/icon.svg");

/// The page's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/findings") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/findings") }))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/findings", get(queue::show))
        .route("/ui/findings.csv", get(queue::csv))
        .route("/ui/findings/bulk", post(actions::bulk))
        .route("/ui/findings/{id}/triage", post(actions::triage))
        .route(
            "/ui/findings/{id}/suppress",
            get(actions::suppress_form).post(actions::suppress),
        )
        .route("/ui/instances/{id}", get(timeline::show))
        .route("/ui/events/{id}", get(timeline::event))
        .route(
            "/ui/static/ui.css",
            get(|| async { asset("text/css", STYLE) }),
        )
        .route(
            "/ui/static/ui.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .route(
            "/ui/static/icon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
        .layer(axum::middleware::from_fn(policy))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// The page's security policy on every `/ui` answer.
async fn policy(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Browsers then send `Origin` on the page's own form posts (under
    // `no-referrer` they send `Origin: null`), and the write check can
    // tell them from another site's; nothing leaves for other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// Percent-encode a value for a URL's query.
pub(crate) fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A `/ui/…` path to go back to after a write; anything else (another
/// site, a scheme) becomes the queue, so a form cannot redirect away.
pub(crate) fn safe_back(back: &str) -> String {
    if back.starts_with("/ui/") && !back.starts_with("//") && !back.contains('\\') {
        back.to_owned()
    } else {
        "/ui/findings".to_owned()
    }
}

//! `GET/POST /ui/login`, `POST /ui/logout`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{error, hidden, page};
use super::safe_back;
use super::session::{UiUser, cross_site, set_cookie};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct Next {
    next: Option<String>,
}

pub(crate) async fn form(Query(n): Query<Next>) -> Response {
    let next = safe_back(n.next.as_deref().unwrap_or("/ui/findings"));
    page(
        "Sign in",
        None,
        html! {
            section.login {
                h1 { "Sign in" }
                p { "Paste an API token (" code { "delegraph token" } " makes one). It is exchanged for a session cookie and not kept by the page." }
                form method="post" action="/ui/login" {
                    (hidden("next", &next))
                    label { "Token " input type="password" name="token" autocomplete="off" autofocus; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct Login {
    token: String,
    next: Option<String>,
}

pub(crate) async fn submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(l): Form<Login>,
) -> Response {
    if cross_site(&headers) {
        return error(StatusCode::FORBIDDEN, None, "sign in from this page");
    }
    let header = format!("Bearer {}", l.token.trim());
    let Ok((role, name)) = st.inner.tokens.role(Some(&header)) else {
        return error(StatusCode::UNAUTHORIZED, None, "unknown token");
    };
    let Some(id) = st.inner.ui_sessions.open(crate::Caller { role, name }) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "could not open a session",
        );
    };
    let next = safe_back(l.next.as_deref().unwrap_or("/ui/findings"));
    (
        [(header::SET_COOKIE, set_cookie(Some(&id)))],
        Redirect::to(&next),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct Logout {
    csrf: String,
}

pub(crate) async fn logout(
    State(st): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Form(f): Form<Logout>,
) -> Response {
    if let Err(r) = user.check_write(&headers, &f.csrf) {
        return r.into_response();
    }
    st.inner.ui_sessions.close(&user.session_id);
    (
        [(header::SET_COOKIE, set_cookie(None))],
        Redirect::to("/ui/login"),
    )
        .into_response()
}

//! Sign-in for the page: the analyst pastes an API token once; the server
//! answers with a session cookie (HttpOnly, SameSite=Strict, path `/ui`),
//! so the token never sits where a script could read it. Each session has
//! its own CSRF token, which every form carries and every write checks, and
//! a write whose `Origin` or `Sec-Fetch-Site` says it came from another
//! site is refused as well. Sessions live in memory: a restart signs
//! everyone out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::{AppState, Caller, Role};

/// The cookie's name.
pub(crate) const COOKIE: &str = "dg_session";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions held at most; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    created: Instant,
}

/// Every open session, by id.
#[derive(Default)]
pub(crate) struct Sessions(std::sync::Mutex<HashMap<String, Session>>);

/// 32 random bytes as hex.
fn random_hex() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Sessions {
    /// Open a session for `caller`; its id, or `None` when no randomness
    /// could be had.
    pub(crate) fn open(&self, caller: Caller) -> Option<String> {
        let (id, csrf) = (random_hex()?, random_hex()?);
        let mut all = self.0.lock().ok()?;
        all.retain(|_, s| s.created.elapsed() < SESSION_TTL);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(
            id.clone(),
            Session {
                name: caller.name,
                role: caller.role,
                csrf,
                created: Instant::now(),
            },
        );
        Some(id)
    }

    fn get(&self, id: &str) -> Option<Session> {
        let all = self.0.lock().ok()?;
        all.get(id)
            .filter(|s| s.created.elapsed() < SESSION_TTL)
            .cloned()
    }

    /// End a session.
    pub(crate) fn close(&self, id: &str) {
        if let Ok(mut all) = self.0.lock() {
            all.remove(id);
        }
    }
}

/// The session id in a request's cookies.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Whether the browser says the request came from another site
/// (`Sec-Fetch-Site: cross-site`).
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
}

/// The `Set-Cookie` value opening (`Some(id)`) or clearing a session.
pub(crate) fn set_cookie(id: Option<&str>) -> String {
    match id {
        Some(id) => format!(
            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}",
            SESSION_TTL.as_secs()
        ),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0"),
    }
}

/// A write refused (403) for the user's role or a failed CSRF check.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        super::layout::error(StatusCode::FORBIDDEN, None, &self.0)
    }
}

/// A signed-in user of the page; pages without one redirect to sign-in.
pub(crate) struct UiUser {
    pub session_id: String,
    pub session: Session,
}

impl UiUser {
    /// Refuse a write unless the user has `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), Refused> {
        if self.session.role >= role {
            Ok(())
        } else {
            Err(Refused(format!(
                "the {} role may not do this",
                self.session.role.as_str()
            )))
        }
    }

    /// Check a write came from this page: the form's CSRF token is the
    /// session's, and the browser does not say it came from elsewhere.
    pub(crate) fn check_write(&self, headers: &HeaderMap, csrf: &str) -> Result<(), Refused> {
        let cross_site = cross_site(headers);
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let foreign_origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| {
                let bare = o
                    .strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"));
                bare.is_none() || bare != host
            });
        let token_ok = crate::auth::same(csrf, &self.session.csrf);
        if cross_site || foreign_origin || !token_ok {
            return Err(Refused(
                "this form did not come from this page; reload it and try again".into(),
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for UiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let found =
            cookie(&parts.headers).and_then(|id| st.inner.ui_sessions.get(&id).map(|s| (id, s)));
        match found {
            Some((session_id, session)) => Ok(UiUser {
                session_id,
                session,
            }),
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/ui/findings");
                let to = format!("/ui/login?next={}", super::url_encode(next));
                Err(Redirect::to(&to).into_response())
            }
        }
    }
}

//! The page shell (head, top bar, help overlay) and small shared pieces.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::UiUser;

/// A whole page around `body`.
pub(crate) fn page(title: &str, user: Option<&UiUser>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · delegraph" }
                link rel="stylesheet" href="/ui/static/ui.css";
                link rel="icon" href="/ui/static/icon.svg" type="image/svg+xml";
                script src="/ui/static/ui.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/findings" { "delegraph" }
                    @if let Some(u) = user {
                        span.who { (u.session.name) " · " (u.session.role.as_str()) }
                        form.inline method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(u.session.csrf);
                            button type="submit" { "Sign out" }
                        }
                        button.help-toggle type="button" data-key="?" { "? keys" }
                    }
                }
                main { (body) }
                (help())
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// The keyboard help, shown by `?`.
fn help() -> Markup {
    html! {
        aside #help hidden {
            h2 { "Keys" }
            dl {
                dt { "j / k" } dd { "next / previous finding" }
                dt { "a" } dd { "acknowledge the selected finding" }
                dt { "c" } dd { "close it (choose a disposition)" }
                dt { "s" } dd { "suppress similar findings" }
                dt { "?" } dd { "this help" }
            }
        }
    }
}

/// An error page with a status.
pub(crate) fn error(status: StatusCode, user: Option<&UiUser>, message: &str) -> Response {
    let mut resp = page(
        "Error",
        user,
        html! { section.error { h1 { (status.as_u16()) } p { (message) } a href="/ui/findings" { "Back to the queue" } } },
    );
    *resp.status_mut() = status;
    resp
}

/// `SEVERITY` as a coloured badge.
pub(crate) fn severity(s: &str) -> Markup {
    html! { span class={ "sev sev-" (s) } { (s) } }
}

/// A hidden form field.
pub(crate) fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

//! `GET /ui/instances/{id}`: an instance's timeline — its tool calls and
//! other events in order, sub-agents' events indented under it by depth,
//! findings shown at the events they cite; `GET /ui/events/{id}`: one
//! stored event with where it was read and the record as received.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::layout::{error, page, severity};
use super::queue::ui_error;
use super::session::UiUser;
use super::url_encode;
use crate::{ApiError, AppState};

/// Events one timeline shows at most.
const MAX_EVENTS: usize = 2000;

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

pub(crate) async fn page_for(st: &AppState, user: &UiUser, id: &str) -> Result<Response, ApiError> {
    let engine = st.engine().await?;
    let (events, findings) = futures::join!(
        engine.instance_timeline(id, MAX_EVENTS + 1),
        engine.instance_findings(id)
    );
    let (mut events, findings) = (events?, findings?);
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("no events of instance {id:?}")));
    }
    let more = events.len() > MAX_EVENTS;
    events.truncate(MAX_EVENTS);
    // Event id → the findings citing it.
    let mut cited: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for f in &findings {
        for e in f["evidence"].as_array().into_iter().flatten() {
            if let Some(e) = e.as_str() {
                cited.entry(e).or_default().push(f);
            }
        }
    }
    let base_depth = events
        .iter()
        .filter_map(|e| e["delegation_depth"].as_u64())
        .min()
        .unwrap_or(0);
    Ok(page(
        "Instance timeline",
        Some(user),
        html! {
            section.timeline {
                h1 { "Instance " code { (id) } }
                p { (events.len()) " events" @if more { " (the first " (MAX_EVENTS) ")" } ", " (findings.len()) " findings" }
                ol.events {
                    @for e in &events {
                        @let depth = e["delegation_depth"].as_u64().unwrap_or(0).saturating_sub(base_depth).min(8);
                        li class={ "ev depth-" (depth) } {
                            span.time { (text(e, "event_time")) } " "
                            @if text(e, "agent_instance") != id { span.sub { (text(e, "agent_instance")) } " " }
                            strong { (text(e, "operation")) }
                            @if let Some(t) = e["tool"].as_str() { " tool " code { (t) } }
                            @if let Some(a) = e["tool_arguments"].as_str() { " " code.args { (a) } }
                            " " span.outcome { (text(e, "outcome")) }
                            " " a href={ "/ui/events/" (url_encode(text(e, "event_id"))) } { "raw" }
                            @for f in cited.get(text(e, "event_id")).into_iter().flatten() {
                                div.inline-finding {
                                    (severity(text(f, "severity"))) " "
                                    a href={ "/ui/findings?sel=" (url_encode(text(f, "finding_id"))) "&instance=" (url_encode(id)) } { (text(f, "summary")) }
                                    " " span class={ "st st-" (text(f, "status")) } { (text(f, "status")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub(crate) async fn show(
    State(st): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Response {
    match page_for(&st, &user, &id).await {
        Ok(r) => r,
        Err(e) => ui_error(&user, e),
    }
}

pub(crate) async fn event(
    State(st): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
) -> Response {
    let found = async { Ok::<_, ApiError>(st.engine().await?.stored_event(&id).await?) };
    match found.await {
        Ok(Some(e)) => {
            // The raw record pretty-printed when it is JSON, else as stored.
            let raw = text(&e, "raw");
            let shown = serde_json::from_str::<Value>(raw)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| raw.to_owned());
            page(
                "Event",
                Some(&user),
                html! {
                    section.event {
                        h1 { "Event " code { (id) } }
                        table.explain {
                            tr { th { "time" } td { (text(&e, "event_time")) } }
                            tr { th { "source" } td { (text(&e, "source")) } }
                            tr { th { "operation" } td { (text(&e, "operation")) } }
                            tr { th { "origin" } td { code { (text(&e, "origin")) } } }
                            @if let Some(i) = e["agent_instance"].as_str() {
                                tr { th { "instance" } td { a href={ "/ui/instances/" (url_encode(i)) } { (i) } } }
                            }
                        }
                        h2 { "Record as received" }
                        pre.raw { (shown) }
                    }
                },
            )
        }
        Ok(None) => error(StatusCode::NOT_FOUND, Some(&user), "no such event"),
        Err(e) => ui_error(&user, e),
    }
}

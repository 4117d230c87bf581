//! The page's writes, as HTML forms: triage one finding, triage every
//! finding of the current filter, and suppress similar findings (a form
//! pre-filled from the finding, with the count it would match). Each is
//! checked for role and CSRF, recorded under the signed-in name, and
//! answered with a redirect back to the page it came from.

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use delegraph_model::{Disposition, TriageChange, TriageStatus};
use maud::html;
use serde::Deserialize;

use super::layout::{error, hidden, page};
use super::queue::{Params, ui_error};
use super::safe_back;
use super::session::{Refused, UiUser};
use crate::routes::silences::{CloseMatching, NewSilence};
use crate::{ApiError, AppState, Role, SilenceMatch};

/// An empty form field is an absent one.
fn given(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

fn parse<T>(
    field: &str,
    v: Option<String>,
    f: fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    given(v)
        .map(|v| f(&v).ok_or_else(|| ApiError::BadRequest(format!("unknown {field} {v:?}"))))
        .transpose()
}

#[derive(Debug, Deserialize)]
pub(crate) struct TriageForm {
    csrf: String,
    back: Option<String>,
    status: Option<String>,
    disposition: Option<String>,
    assignee: Option<String>,
    note: Option<String>,
}

impl TriageForm {
    fn change(self) -> Result<TriageChange, ApiError> {
        Ok(TriageChange {
            status: parse("status", self.status, TriageStatus::parse)?,
            disposition: parse("disposition", self.disposition, Disposition::parse)?,
            // Assigning to an empty name unassigns, as in the API.
            assignee: self.assignee,
            note: given(self.note),
        })
    }
}

/// Refuse unless an analyst wrote it from this page.
fn check(user: &UiUser, headers: &HeaderMap, csrf: &str) -> Result<(), Refused> {
    user.require(Role::Analyst)?;
    user.check_write(headers, csrf)
}

pub(crate) async fn triage(
    State(st): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<TriageForm>,
) -> Response {
    if let Err(r) = check(&user, &headers, &f.csrf) {
        return r.into_response();
    }
    let back = safe_back(f.back.as_deref().unwrap_or_default());
    let done = async {
        let change = f.change()?;
        crate::routes::triage::apply_one(&st, &id, &change, &user.session.name).await
    };
    match done.await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => ui_error(&user, e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct BulkForm {
    csrf: String,
    back: Option<String>,
    /// The queue's filter as a query string.
    filter: String,
    action: String,
}

pub(crate) async fn bulk(
    State(st): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Form(f): Form<BulkForm>,
) -> Response {
    if let Err(r) = check(&user, &headers, &f.csrf) {
        return r.into_response();
    }
    let change = match f.action.as_str() {
        "acknowledge" => TriageChange {
            status: Some(TriageStatus::Acknowledged),
            ..Default::default()
        },
        "assign_me" => TriageChange {
            assignee: Some(user.session.name.clone()),
            ..Default::default()
        },
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                Some(&user),
                &format!("unknown action {other:?}"),
            );
        }
    };
    let done = async {
        let q = Params::parse(Some(&f.filter)).list_params()?.query(&st)?;
        crate::routes::triage::bulk_apply(
            &st,
            &q,
            crate::triage::MAX_BULK,
            &change,
            &user.session.name,
            "bulk",
        )
        .await
    };
    match done.await {
        Ok(summary) => {
            let back = safe_back(f.back.as_deref().unwrap_or_default());
            page(
                "Bulk change",
                Some(&user),
                html! {
                    section.result {
                        h1 { "Bulk change" }
                        p { "Applied to " (summary["applied"]) " of " (summary["matched"]) " matching findings"
                            @if summary["truncated"] == true { " (capped at " (crate::triage::MAX_BULK) ")" }
                            "; " (summary["skipped"]) " skipped (already in that state)." }
                        a href=(back) { "Back to the queue" }
                    }
                },
            )
        }
        Err(e) => ui_error(&user, e),
    }
}

/// Entity fields a silence may match, as the suppress form offers them.
const MATCH_FIELDS: [(&str, &str); 6] = [
    ("detector", "Detector / rule"),
    ("agent_id", "Agent"),
    ("initiator", "Human"),
    ("credential_id", "Credential"),
    ("tool", "Tool"),
    ("resource", "Resource"),
];

/// The pre-filled matcher narrowed to the fields ticked in the preview
/// form (all of them before the first preview).
fn matcher_from(p: &Params, prefill: &SilenceMatch, use_all: bool) -> SilenceMatch {
    SilenceMatch::from_columns(
        MATCH_FIELDS
            .iter()
            .filter(|(k, _)| use_all || p.get(&format!("use_{k}")).is_some())
            .filter_map(|(k, _)| prefill.value(k).map(|v| (*k, v))),
    )
}

/// The finding's entities as a matcher.
async fn prefill(st: &AppState, id: &str) -> Result<SilenceMatch, ApiError> {
    let f = st
        .engine()
        .await?
        .finding(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no finding {id:?}")))?;
    Ok(SilenceMatch::from_finding(&f))
}

pub(crate) async fn suppress_form(
    State(st): State<AppState>,
    user: UiUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let p = Params::parse(raw.as_deref());
    let chosen = p.get("preview").is_some();
    let shown = async {
        let full = prefill(&st, &id).await?;
        let m = matcher_from(&p, &full, !chosen);
        let (n, _) = if m.columns().is_empty() {
            (0, Vec::new())
        } else {
            st.engine()
                .await?
                .matching_ids(&m.unclosed_query(), 0)
                .await?
        };
        Ok::<_, ApiError>((full, m, n))
    };
    let (full, m, n) = match shown.await {
        Ok(v) => v,
        Err(e) => return ui_error(&user, e),
    };
    let back = safe_back(p.get("back").unwrap_or_default());
    let action = format!("/ui/findings/{id}/suppress");
    page(
        "Suppress similar",
        Some(&user),
        html! {
            section.suppress {
                h1 { "Suppress similar findings" }
                form #preview-form method="get" action=(action) {
                    (hidden("back", &back)) (hidden("preview", "1"))
                    fieldset {
                        legend { "Match findings with" }
                        @for (k, label) in MATCH_FIELDS {
                            @if let Some(v) = full.value(k) {
                                label.check {
                                    input type="checkbox" name={ "use_" (k) } value="1" checked[m.value(k).is_some()];
                                    " " (label) ": " code { (v) }
                                }
                            }
                        }
                    }
                    button #preview type="submit" { "Update count" }
                }
                p.count { strong #matching { (n) } " unclosed findings match." }
                form #suppress-form method="post" action=(action) {
                    (hidden("csrf", &user.session.csrf)) (hidden("back", &back))
                    @for (k, _) in MATCH_FIELDS {
                        @if let Some(v) = m.value(k) { (hidden(k, &v)) }
                    }
                    label { "Reason " input #suppress-reason type="text" name="reason" required; }
                    label { "Hours " input type="number" name="hours" value="24" min="1" max="8760"; }
                    fieldset {
                        label.check { input #close-matching type="checkbox" name="close" value="1"; " also close them as" }
                        select name="disposition" aria-label="Disposition" {
                            @for d in Disposition::ALL { option value=(d.as_str()) selected[d == Disposition::BenignPositive] { (d.as_str()) } }
                        }
                        input type="text" name="note" placeholder="note (required for benign and false positives)";
                    }
                    button #act-suppress-submit type="submit" disabled[m.columns().is_empty()] { "Suppress" }
                }
                a href=(back) { "Cancel" }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct SuppressForm {
    csrf: String,
    back: Option<String>,
    detector: Option<String>,
    agent_id: Option<String>,
    initiator: Option<String>,
    credential_id: Option<String>,
    tool: Option<String>,
    resource: Option<String>,
    reason: String,
    hours: Option<i64>,
    close: Option<String>,
    disposition: Option<String>,
    note: Option<String>,
}

pub(crate) async fn suppress(
    State(st): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    Path(_id): Path<String>,
    Form(f): Form<SuppressForm>,
) -> Response {
    if let Err(r) = check(&user, &headers, &f.csrf) {
        return r.into_response();
    }
    let made = async {
        let hours = f.hours.unwrap_or(24).clamp(1, 8760);
        let until =
            delegraph_model::Timestamp::from_nanos(crate::now_ns() + hours * 3_600_000_000_000);
        let close_matching = match f.close {
            Some(_) => Some(CloseMatching {
                disposition: parse("disposition", f.disposition, Disposition::parse)?
                    .ok_or_else(|| ApiError::BadRequest("closing needs a disposition".into()))?,
                note: given(f.note),
            }),
            None => None,
        };
        let n = NewSilence {
            matcher: SilenceMatch {
                detector: given(f.detector),
                agent_id: given(f.agent_id),
                agent_instance: None,
                initiator: given(f.initiator),
                credential_id: given(f.credential_id),
                tool: given(f.tool),
                resource: given(f.resource),
            },
            reason: f.reason,
            expires_at: Some(until.to_rfc3339()),
            close_matching,
        };
        crate::routes::silences::make(&st, user.session.name.clone(), n).await
    };
    match made.await {
        Ok(_) => {
            let back = safe_back(f.back.as_deref().unwrap_or_default());
            Redirect::to(&back).into_response()
        }
        Err(e) => ui_error(&user, e),
    }
}

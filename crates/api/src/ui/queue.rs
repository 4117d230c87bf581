//! `GET /ui/findings`: the queue (riskiest first by default) with facets,
//! group-by counts, pages, bulk actions on the whole filter and the
//! selected finding's detail beside it; `GET /ui/findings.csv`: the
//! current filter as CSV.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use delegraph_store::FindingQuery;
use maud::{Markup, html};
use serde_json::Value;

use super::layout::{error, hidden, page, severity};
use super::session::UiUser;
use super::url_encode;
use crate::routes::findings::ListParams;
use crate::{ApiError, AppState};

/// The URL's parameters in order: the filter, plus `sel` (the selected
/// finding) and `group` (a facet to count by).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

/// Values shown per facet (the grouping shows up to 100).
const FACET_VALUES: usize = 12;

/// Facet column → the listing's filter parameter for it.
const FACETS: [(&str, &str, &str); 6] = [
    ("detector", "detector", "Detector / rule"),
    ("severity", "severity", "Severity"),
    ("status", "status", "Status"),
    ("agent_id", "agent", "Agent"),
    ("initiator", "human", "Human"),
    ("assignee", "assignee", "Assignee"),
];

/// Parameters that are page state, not filter.
const PAGE_STATE: [&str; 2] = ["sel", "group"];

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        )
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    /// The same with `k` set to `v` (`None` removes it).
    pub(crate) fn with(&self, k: &str, v: Option<&str>) -> Self {
        let mut out: Vec<(String, String)> =
            self.0.iter().filter(|(key, _)| key != k).cloned().collect();
        if let Some(v) = v {
            out.push((k.to_owned(), v.to_owned()));
        }
        Self(out)
    }

    pub(crate) fn query(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub(crate) fn href(&self) -> String {
        format!("/ui/findings?{}", self.query())
    }

    /// The filter alone, as the API's listing parameters.
    pub(crate) fn list_params(&self) -> Result<ListParams, ApiError> {
        let filter = Self(
            self.0
                .iter()
                .filter(|(k, _)| !PAGE_STATE.contains(&k.as_str()))
                .cloned()
                .collect(),
        );
        serde_urlencoded::from_str(&filter.query())
            .map_err(|e| ApiError::BadRequest(format!("in the address: {e}")))
    }
}

/// The queue's default view: unclosed findings, riskiest first.
const DEFAULT_VIEW: &str = "/ui/findings?status=open%2Cacknowledged&sort=risk";

pub(crate) async fn page_or_error(
    st: &AppState,
    user: &UiUser,
    p: &Params,
) -> Result<Response, ApiError> {
    // The silences are read once for the list and the six facet counts.
    let silences = crate::routes::silences::active_exclusions(st)?;
    let q = p.list_params()?.query_with(silences.clone())?;
    let engine = st.engine().await?;
    let listing = engine.findings(&q);
    // Each facet counted under the page's filters minus its own, and the
    // grouping under all of them: one pass over the findings.
    let mut asks: Vec<(&str, FindingQuery)> = Vec::with_capacity(FACETS.len() + 1);
    for (col, param, _) in FACETS {
        let q = p
            .with(param, None)
            .list_params()?
            .query_with(silences.clone())?;
        asks.push((col, q));
    }
    if let Some(g) = p.get("group") {
        asks.push((g, q.clone()));
    }
    let counting = async {
        let asks: Vec<(&str, &FindingQuery)> = asks.iter().map(|(c, q)| (*c, q)).collect();
        engine.finding_facets_each(&asks, 100).await
    };
    let selection = async {
        match p.get("sel") {
            Some(id) => super::detail::panel(&engine, user, id, p, st.grafana_url()).await,
            None => Ok(None),
        }
    };
    // The list, the counts and the detail panel at once.
    let (page_rows, counts, selected) = futures::join!(listing, counting, selection);
    let (page_rows, mut facets, selected) = (page_rows?, counts?, selected?);
    let grouped = match p.get("group") {
        Some(g) => facets.pop().map(|counts| (g.to_owned(), counts)),
        None => None,
    };
    for counts in &mut facets {
        counts.truncate(FACET_VALUES);
    }
    drop(engine);
    let body = html! {
        div.queue-layout {
            nav.facets aria-label="Facets" {
                @for ((col, param, label), counts) in FACETS.iter().zip(&facets) {
                    (facet(p, col, param, label, counts))
                }
            }
            section.list {
                (toolbar(p, user))
                @if let Some((col, counts)) = &grouped {
                    (group_table(p, col, counts))
                }
                (rows(p, &page_rows.findings))
                @if let Some(next) = &page_rows.next {
                    a.next href=(p.with("cursor", Some(next)).with("sel", None).href()) { "Next page →" }
                }
            }
            @if let Some(panel) = selected {
                section.detail #detail { (panel) }
            }
        }
    };
    Ok(page("Findings", Some(user), body))
}

/// An API error as a page.
pub(crate) fn ui_error(user: &UiUser, e: ApiError) -> Response {
    let status = e.status();
    let message = if status.is_server_error() {
        tracing::error!(error = %e, "page failed");
        "the server failed; its log has the details".to_owned()
    } else {
        e.to_string()
    };
    error(status, Some(user), &message)
}

pub(crate) async fn show(
    State(st): State<AppState>,
    user: UiUser,
    RawQuery(raw): RawQuery,
) -> Response {
    if raw.as_deref().unwrap_or_default().is_empty() {
        return Redirect::to(DEFAULT_VIEW).into_response();
    }
    let p = Params::parse(raw.as_deref());
    match page_or_error(&st, &user, &p).await {
        Ok(r) => r,
        Err(e) => ui_error(&user, e),
    }
}

fn facet(
    p: &Params,
    col: &str,
    param: &str,
    label: &str,
    counts: &[(Option<String>, u64)],
) -> Markup {
    let current = p.get(param);
    html! {
        section.facet {
            h3 {
                (label)
                " "
                a.group href=(p.with("group", Some(col)).href()) title="Count by this" { "⊞" }
            }
            ul {
                @for (value, n) in counts {
                    @let v = value.as_deref().unwrap_or("");
                    @let on = current == Some(v);
                    li class=[on.then_some("on")] {
                        a href=(p.with(param, (!on).then_some(v)).with("cursor", None).with("sel", None).href()) {
                            span.v { @if v.is_empty() { em { "(none)" } } @else { (v) } }
                            span.n { (n) }
                        }
                    }
                }
            }
        }
    }
}

fn toolbar(p: &Params, user: &UiUser) -> Markup {
    let filter_query = p
        .with("sel", None)
        .with("group", None)
        .with("cursor", None)
        .query();
    html! {
        div.toolbar {
            form.inline method="get" action="/ui/findings" {
                @for (k, v) in &p.0 {
                    @if k != "sort" { (hidden(k, v)) }
                }
                label { "Sort " select name="sort" {
                    option value="risk" selected[p.get("sort") == Some("risk")] { "risk" }
                    option value="time" selected[p.get("sort") != Some("risk")] { "time" }
                } }
                button type="submit" { "Apply" }
            }
            @let silenced = p.get("include_silenced") == Some("true");
            a href=(p.with("include_silenced", (!silenced).then_some("true")).href()) {
                @if silenced { "Hide silenced" } @else { "Show silenced" }
            }
            a href={ "/ui/findings.csv?" (filter_query) } download { "CSV" }
            @if p.get("group").is_some() {
                a href=(p.with("group", None).href()) { "Ungroup" }
            }
            @if user.session.role >= crate::Role::Analyst {
                form.inline.bulk method="post" action="/ui/findings/bulk" {
                    (hidden("csrf", &user.session.csrf))
                    (hidden("filter", &filter_query))
                    (hidden("back", &p.href()))
                    select name="action" aria-label="Bulk action" {
                        option value="acknowledge" { "Acknowledge all matching" }
                        option value="assign_me" { "Assign all matching to me" }
                    }
                    button type="submit" { "Apply to all" }
                }
            }
        }
    }
}

fn group_table(p: &Params, col: &str, counts: &[(Option<String>, u64)]) -> Markup {
    let param = FACETS
        .iter()
        .find(|(c, _, _)| *c == col)
        .map_or(col, |(_, param, _)| param);
    html! {
        table.groups {
            thead { tr { th { (col) } th { "findings" } } }
            tbody {
                @for (value, n) in counts {
                    tr {
                        td { a href=(p.with(param, value.as_deref()).with("group", None).href()) {
                            (value.as_deref().unwrap_or("(none)")) } }
                        td.num { (n) }
                    }
                }
            }
        }
    }
}

fn text<'a>(f: &'a Value, k: &str) -> &'a str {
    f[k].as_str().unwrap_or_default()
}

fn rows(p: &Params, findings: &[Value]) -> Markup {
    let sel = p.get("sel");
    html! {
        table.findings {
            thead { tr {
                th { "risk" } th { "severity" } th { "detector / rule" } th { "summary" }
                th { "agent" } th { "human" } th { "status" } th { "time" }
            } }
            tbody {
                @for f in findings {
                    @let id = text(f, "finding_id");
                    @let href = p.with("sel", Some(id)).href();
                    tr.row class=[(sel == Some(id)).then_some("sel")] data-href=(href) data-id=(id) {
                        td.num { (f["risk_score"]) }
                        td { (severity(text(f, "severity"))) }
                        td { (f["rule_id"].as_str().unwrap_or(text(f, "detector"))) }
                        td.summary { a href=(href) { (text(f, "summary")) } }
                        td { (text(f, "agent_id")) }
                        td { (text(f, "initiator")) }
                        td { span class={ "st st-" (text(f, "status")) } { (text(f, "status")) }
                             @if f["silenced"] == true { " " span.silenced { "silenced" } } }
                        td.time { (text(f, "event_time")) }
                    }
                }
            }
        }
        @if findings.is_empty() { p.empty { "No findings match." } }
    }
}

/// Rows a CSV export holds at most.
const MAX_CSV_ROWS: usize = 10_000;

pub(crate) async fn csv(
    State(st): State<AppState>,
    user: UiUser,
    RawQuery(raw): RawQuery,
) -> Response {
    match csv_or_error(&st, &Params::parse(raw.as_deref())).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"findings.csv\"",
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => ui_error(&user, e),
    }
}

const CSV_COLUMNS: [&str; 16] = [
    "finding_id",
    "event_time",
    "severity",
    "risk_score",
    "detector",
    "rule_id",
    "status",
    "disposition",
    "assignee",
    "agent_id",
    "agent_instance",
    "initiator",
    "credential_id",
    "tool",
    "resource",
    "summary",
];

/// A cell a spreadsheet would read as a formula gets a leading `'`.
fn inert(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

async fn csv_or_error(st: &AppState, p: &Params) -> Result<String, ApiError> {
    let mut q = p.list_params()?.query(st)?;
    let engine = st.engine().await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Internal(e.to_string());
    w.write_record(CSV_COLUMNS).map_err(fail)?;
    let mut written = 0;
    loop {
        q.limit = 1000;
        let page_rows = engine.findings(&q).await?;
        for f in &page_rows.findings {
            let cells = CSV_COLUMNS.map(|c| match &f[c] {
                Value::String(s) => inert(&delegraph_model::printable(s)),
                Value::Null => String::new(),
                other => other.to_string(),
            });
            w.write_record(&cells).map_err(fail)?;
            written += 1;
        }
        match page_rows.next {
            Some(next) if written < MAX_CSV_ROWS => q.cursor = Some(next),
            _ => break,
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(e.to_string()))
}

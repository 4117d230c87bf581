//! The detail panel of the selected finding: what was expected and what
//! was seen, the delegation chain drawn, the evidence with its raw
//! records, related findings, the activity log and the triage forms.

use std::collections::BTreeSet;

use delegraph_model::{Disposition, TriageStatus};
use delegraph_store::SqlEngine;
use maud::{Markup, html};
use serde_json::Value;

use super::chain_svg::{ChainGraph, chain_svg};
use super::layout::{hidden, severity};
use super::queue::Params;
use super::session::UiUser;
use super::url_encode;
use crate::{ApiError, Role};

fn text<'a>(f: &'a Value, k: &str) -> &'a str {
    f[k].as_str().unwrap_or_default()
}

/// Graph nodes the finding names: its credential, and any credential,
/// tool or resource (of three characters or more) its summary or
/// observation quotes. Humans and instances are who acted, not the hop.
fn marked_nodes(f: &Value, g: &ChainGraph) -> BTreeSet<String> {
    let said = format!("{} {}", text(f, "summary"), text(f, "observed"));
    g.nodes
        .iter()
        .filter(|(_, kind)| matches!(kind.as_str(), "credential" | "tool" | "resource"))
        .map(|(n, _)| n)
        .filter(|n| {
            Some(n.as_str()) == f["credential_id"].as_str()
                || (n.len() >= 3 && said.contains(n.as_str()))
        })
        .filter(|n| Some(n.as_str()) != f["agent_instance"].as_str())
        .cloned()
        .collect()
}

/// The chain SVG of finding `f` (a row of [`SqlEngine::finding`]), or
/// `None` when its instance has no graph.
async fn chain_of(engine: &SqlEngine, f: &Value) -> Result<Option<String>, ApiError> {
    let Some(instance) = f["agent_instance"].as_str() else {
        return Ok(None);
    };
    Ok(engine.instance_graph(instance).await?.map(|g| {
        let g = ChainGraph::from_rows(&g.nodes, &g.edges);
        chain_svg(&g, &marked_nodes(f, &g), Some(instance))
    }))
}

/// The chain SVG the detail panel shows for finding `id`.
pub async fn finding_chain_svg(engine: &SqlEngine, id: &str) -> Result<Option<String>, ApiError> {
    match engine.finding(id).await? {
        Some(f) => chain_of(engine, &f).await,
        None => Err(ApiError::NotFound(format!("no finding {id:?}"))),
    }
}

/// The findings dashboard's uid (`dashboards/findings.json`).
pub(crate) const FINDINGS_DASHBOARD_UID: &str = "delegraph-findings";

/// The findings dashboard of the Grafana at `base`, over the hour either
/// side of the finding's event time (`None` if that time does not parse).
fn grafana_link(base: &str, f: &Value) -> Option<String> {
    const HOUR_MS: i64 = 3_600_000;
    let t = delegraph_model::Timestamp::parse_exported(text(f, "event_time")).ok()?;
    let ms = t.nanos() / 1_000_000;
    Some(format!(
        "{}/d/{FINDINGS_DASHBOARD_UID}?from={}&to={}",
        base.trim_end_matches('/'),
        ms - HOUR_MS,
        ms + HOUR_MS
    ))
}

/// The panel for finding `id`, or `None` when there is no such finding;
/// with a link to Grafana at `grafana` when it is configured.
pub(crate) async fn panel(
    engine: &SqlEngine,
    user: &UiUser,
    id: &str,
    p: &Params,
    grafana: Option<&str>,
) -> Result<Option<Markup>, ApiError> {
    let Some(mut f) = engine.finding_row(id).await? else {
        return Ok(None);
    };
    // Everything else the panel shows needs only the finding's row.
    let (events, chain, related, activity, context) = futures::join!(
        engine.evidence_events(&f),
        chain_of(engine, &f),
        engine.related_findings(&f, 20),
        engine.finding_activity(id),
        engine.finding_context(&f),
    );
    let (events, chain, related, activity, context) =
        (events?, chain?, related?, activity?, context?);
    f["evidence_events"] = Value::Array(events);
    let instance = f["agent_instance"].as_str();
    let back = p.href();
    Ok(Some(html! {
        h2 { (text(&f, "summary")) }
        p.badges {
            (severity(text(&f, "severity")))
            span.risk { "risk " (f["risk_score"]) }
            span class={ "st st-" (text(&f, "status")) } { (text(&f, "status")) }
            @if let Some(d) = f["disposition"].as_str() { span.disp { (d) } }
            @if let Some(a) = f["assignee"].as_str() { span.assignee { "held by " (a) } }
            span.det { (f["rule_id"].as_str().unwrap_or(text(&f, "detector"))) }
        }
        @if user.session.role >= Role::Analyst { (forms(&f, user, &back)) }
        h3 { "Why" }
        table.explain {
            tr { th { "expected" } td { (text(&f, "expected")) } }
            tr { th { "observed" } td { (text(&f, "observed")) } }
            tr { th { "baseline" } td { (f["baseline_instances"]) " earlier instances of " (text(&f, "agent_id")) } }
            @if let Some(pv) = f["p_value"].as_f64() { tr { th { "p-value" } td { (format!("{pv:.4}")) } } }
            @if let Some(t) = context["instance_first_seen"].as_str() {
                tr.first-seen { th { "first seen" } td { "instance since " (t) } }
            }
            @if let (Some(n), Some(of)) = (context["instances_with_finding"].as_u64(), context["agent_instances"].as_u64()) {
                tr.peers { th { "peers" } td { (n) " of " (of) " instances of " (text(&f, "agent_id")) " have a "
                    (f["rule_id"].as_str().unwrap_or(text(&f, "detector"))) " finding" } }
            }
            @if let Some(t) = f["tool"].as_str() { tr.tool { th { "tool" } td { code { (t) } } } }
            @if let Some(r) = f["resource"].as_str() { tr.resource { th { "resource" } td { code { (r) } } } }
            tr { th { "event time" } td { (text(&f, "event_time")) } }
            tr { th { "detected at" } td { (text(&f, "detected_at")) } }
            tr { th { "tags" } td { @for t in f["tags"].as_array().into_iter().flatten() { span.tag { (t.as_str().unwrap_or_default()) } " " } } }
        }
        h3 { "Delegation chain" }
        p.chain-text { @for (i, c) in f["chain"].as_array().into_iter().flatten().enumerate() {
            @if i > 0 { " → " } (c.as_str().unwrap_or_default()) } }
        @if let Some(svg) = chain { div.svg { (maud::PreEscaped(svg)) } }
        p.links {
            @if let Some(i) = instance { a href={ "/ui/instances/" (url_encode(i)) } { "Instance timeline" } " " }
            @if let Some(href) = grafana.and_then(|g| grafana_link(g, &f)) {
                a #grafana-link href=(href) rel="noopener noreferrer" target="_blank" { "Grafana: findings around this time" }
            }
        }
        h3 { "Evidence" }
        (evidence(&f))
        h3 { "Related findings" }
        (related_table(&related, p))
        h3 { "Activity" }
        (activity_list(&activity))
        details.raw { summary { "Finding as JSON" } pre { (serde_json::to_string_pretty(&f).unwrap_or_default()) } }
    }))
}

fn forms(f: &Value, user: &UiUser, back: &str) -> Markup {
    let id = text(f, "finding_id");
    let action = format!("/ui/findings/{id}/triage");
    let common = html! { (hidden("csrf", &user.session.csrf)) (hidden("back", back)) };
    let closed = text(f, "status") == TriageStatus::Closed.as_str();
    html! {
        div.actions {
            @if closed {
                form.inline method="post" action=(action) {
                    (common) (hidden("status", "open"))
                    button #act-reopen type="submit" { "Reopen" }
                }
            } @else {
                @if text(f, "status") == "open" {
                    form.inline method="post" action=(action) {
                        (common) (hidden("status", "acknowledged"))
                        button #act-ack type="submit" { "Acknowledge (a)" }
                    }
                }
                form #close-form method="post" action=(action) {
                    (common) (hidden("status", "closed"))
                    select #close-disposition name="disposition" aria-label="Disposition" required {
                        option value="" { "close as… (c)" }
                        @for d in Disposition::ALL { option value=(d.as_str()) { (d.as_str()) } }
                    }
                    input #close-note type="text" name="note" placeholder="note (required for benign and false positives)";
                    button #act-close type="submit" { "Close" }
                }
                form.inline method="post" action=(action) {
                    (common)
                    input type="text" name="assignee" placeholder="assignee" value=(user.session.name) aria-label="Assignee";
                    button type="submit" { "Assign" }
                }
            }
            form.inline method="post" action=(action) {
                (common)
                input type="text" name="note" placeholder="add a note" aria-label="Note";
                button type="submit" { "Add note" }
            }
            a #act-suppress href={ "/ui/findings/" (id) "/suppress?back=" (url_encode(back)) } { "Suppress similar (s)" }
        }
    }
}

fn evidence(f: &Value) -> Markup {
    html! {
        table.evidence {
            thead { tr { th { "time" } th { "source" } th { "operation" } th { "actor" } th { "tool" } th { "arguments" } th { "prompt" } th { "origin" } } }
            tbody {
                @for e in f["evidence_events"].as_array().into_iter().flatten() {
                    tr {
                        td.time { (text(e, "event_time")) }
                        td { (text(e, "source")) }
                        td { (text(e, "operation")) }
                        td { (text(e, "actor")) @if let Some(n) = e["actor_name"].as_str() { br; small { (n) } } }
                        td { (text(e, "tool")) }
                        td.args { code { (text(e, "tool_arguments")) } }
                        td.args { (text(e, "input_messages")) }
                        td { a href={ "/ui/events/" (url_encode(text(e, "event_id"))) } { (text(e, "origin")) } }
                    }
                }
            }
        }
    }
}

fn related_table(related: &[Value], p: &Params) -> Markup {
    html! {
        @if related.is_empty() { p.empty { "None." } } @else {
            table.related {
                @for r in related {
                    tr {
                        td { (text(r, "relation")) }
                        td { (severity(text(r, "severity"))) }
                        td { a href=(p.with("sel", r["finding_id"].as_str()).href()) { (text(r, "summary")) } }
                        td { (text(r, "status")) }
                        td.time { (text(r, "event_time")) }
                    }
                }
            }
        }
    }
}

fn activity_list(activity: &[Value]) -> Markup {
    html! {
        @if activity.is_empty() { p.empty { "No changes yet." } } @else {
            ol.activity {
                @for a in activity {
                    li {
                        span.time { (text(a, "at")) } " "
                        strong { (text(a, "actor")) } " " (text(a, "action"))
                        @if let Some(d) = a["disposition"].as_str() { " as " (d) }
                        @if let Some(n) = a["assignee"].as_str() { " · held by " (n) }
                        @if let Some(n) = a["note"].as_str() { blockquote { (n) } }
                        @if text(a, "via") != "single" { " " small { "(" (text(a, "via")) ")" } }
                    }
                }
            }
        }
    }
}

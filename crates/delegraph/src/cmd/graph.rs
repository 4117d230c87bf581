//! `delegraph graph`: one instance's delegation graph as Graphviz DOT or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use delegraph_store::{OutputFormat, QueryLimits, SqlEngine};
use serde_json::{Value, json};

/// Arguments of `delegraph graph`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory holding the tables.
    #[arg(long)]
    data_dir: PathBuf,
    /// Output format: `dot` (Graphviz) or `json`.
    #[arg(long, default_value = "dot", value_parser = ["dot", "json"])]
    format: String,
    /// The agent instance (as in `agents.agent_instance`).
    instance: String,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn shape(kind: &str) -> &'static str {
    match kind {
        "human" => "shape=ellipse, style=filled, fillcolor=\"#f6d8ae\"",
        "instance" => "shape=box, style=\"rounded,filled\", fillcolor=\"#cde3f7\"",
        "credential" => "shape=note, style=filled, fillcolor=\"#f2f2a6\"",
        "tool" => "shape=component, style=filled, fillcolor=\"#d5ecd4\"",
        _ => "shape=cylinder, style=filled, fillcolor=\"#eeeeee\"",
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let literal = a.instance.replace('\'', "''");
    let rows: Vec<Value> = rt
        .block_on(async {
            let engine = SqlEngine::open(&a.data_dir, QueryLimits::default()).await?;
            let q = format!(
                "SELECT from_kind, from_node, edge, to_kind, to_node, events, \
             CAST(first_seen AS VARCHAR) AS first_seen, CAST(last_seen AS VARCHAR) AS last_seen \
             FROM edges WHERE agent_instance = '{literal}' ORDER BY from_node, to_node, edge"
            );
            let text = engine.query_to_string(&q, OutputFormat::Json).await?;
            anyhow::Ok(serde_json::from_str(&text)?)
        })
        .with_context(|| format!("reading edges of {}", a.instance))?;
    if rows.is_empty() {
        eprintln!(
            "error: no graph for instance {:?} in {}",
            a.instance,
            a.data_dir.display()
        );
        return Ok(ExitCode::from(1));
    }
    let mut nodes = BTreeMap::new();
    for r in &rows {
        for side in ["from", "to"] {
            let id = r[format!("{side}_node")]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let kind = r[format!("{side}_kind")]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            nodes.insert(id, kind);
        }
    }
    let out = if a.format == "json" {
        let nodes: Vec<Value> = nodes
            .iter()
            .map(|(id, kind)| json!({"id": id, "kind": kind}))
            .collect();
        serde_json::to_string_pretty(
            &json!({"instance": a.instance, "nodes": nodes, "edges": rows}),
        )? + "\n"
    } else {
        let mut s = String::new();
        writeln!(s, "digraph delegation {{")?;
        writeln!(
            s,
            "  rankdir=LR;\n  label={};\n  node [fontname=\"Helvetica\"];",
            quote(&a.instance)
        )?;
        for (id, kind) in &nodes {
            writeln!(s, "  {} [{}];", quote(id), shape(kind))?;
        }
        for r in &rows {
            let label = format!(
                "{} ×{}",
                r["edge"].as_str().unwrap_or_default(),
                r["events"]
            );
            writeln!(
                s,
                "  {} -> {} [label={}];",
                quote(r["from_node"].as_str().unwrap_or_default()),
                quote(r["to_node"].as_str().unwrap_or_default()),
                quote(&label)
            )?;
        }
        writeln!(s, "}}")?;
        s
    };
    super::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

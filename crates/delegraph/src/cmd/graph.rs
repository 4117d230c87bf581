//! `delegraph graph`: one instance's delegation graph as Graphviz DOT or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use delegraph_store::{QueryLimits, SqlEngine};

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

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let graph = rt
        .block_on(async {
            let engine = SqlEngine::open(&a.data_dir, QueryLimits::default()).await?;
            engine.instance_graph(&a.instance).await
        })
        .with_context(|| format!("reading edges of {}", a.instance))?;
    let Some(graph) = graph else {
        eprintln!(
            "error: no graph for instance {:?} in {}",
            a.instance,
            a.data_dir.display()
        );
        return Ok(ExitCode::from(1));
    };
    let out = if a.format == "json" {
        serde_json::to_string_pretty(&graph.to_json())? + "\n"
    } else {
        graph.to_dot()
    };
    super::print_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

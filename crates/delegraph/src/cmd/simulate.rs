//! `delegraph simulate`.

use std::path::PathBuf;
use std::process::ExitCode;

use delegraph_sim::{SimConfig, simulate};

/// Arguments of `delegraph simulate`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory the files are written to.
    #[arg(long)]
    out: PathBuf,
    /// Seed; the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Agent instances (tasks) to simulate.
    #[arg(long, default_value_t = 200)]
    agents: usize,
    /// Length of the simulated window in hours.
    #[arg(long, default_value_t = 4.0)]
    hours: f64,
    /// Share of instances that misbehave in a labelled way.
    #[arg(long, default_value_t = 0.1)]
    scenario_rate: f64,
    /// When the window starts (RFC 3339, default 2026-03-02T00:00:00Z):
    /// runs with later starts and other seeds build a longer history.
    #[arg(long, value_parser = parse_start)]
    start: Option<f64>,
}

/// Seconds since the Unix epoch of an RFC 3339 time.
fn parse_start(s: &str) -> Result<f64, String> {
    let t = delegraph_model::Timestamp::parse_rfc3339(s).map_err(|e| e.to_string())?;
    // Whole seconds and nanoseconds apart: an f64 holds today's epoch
    // seconds exactly, and the fraction keeps its precision.
    let ns = t.nanos();
    Ok(ns.div_euclid(1_000_000_000) as f64 + ns.rem_euclid(1_000_000_000) as f64 / 1e9)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = SimConfig {
        seed: a.seed,
        instances: a.agents,
        hours: a.hours,
        scenario_rate: a.scenario_rate.clamp(0.0, 1.0),
        start: a.start.unwrap_or(delegraph_sim::DEFAULT_START),
    };
    let s = simulate(cfg, &a.out)?;
    let mut text = format!(
        "simulated {} agent instances into {}\n",
        s.instances,
        a.out.display()
    );
    for (file, n) in &s.records {
        text.push_str(&format!("  {file:<18} {n}\n"));
    }
    text.push_str("labelled scenarios (scenarios.jsonl; truth per event in truth.jsonl):\n");
    for (sc, n) in &s.scenarios {
        text.push_str(&format!(
            "  {:<28} {n}\n",
            serde_json::to_string(sc)?.trim_matches('"')
        ));
    }
    super::print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

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
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = SimConfig {
        seed: a.seed,
        instances: a.agents,
        hours: a.hours,
        scenario_rate: a.scenario_rate.clamp(0.0, 1.0),
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

//! `delegraph replay`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use delegraph_pipeline::{ReplayConfig, replay_files};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `delegraph replay`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory the tables are written under.
    #[arg(long)]
    data_dir: PathBuf,
    /// Record format; `auto` detects it per record.
    #[arg(long, default_value = "auto", value_parser = super::parse_format)]
    format: super::FormatArg,
    /// Records larger than this many bytes are dead-lettered.
    #[arg(long, default_value_t = delegraph_decode::DEFAULT_MAX_RECORD_BYTES)]
    max_record_bytes: usize,
    /// Order records only within this much event time (e.g. `15m`, `2h`)
    /// instead of across the whole input; bounds memory on large backfills.
    #[arg(long, value_parser = parse_duration)]
    lateness: Option<i64>,
    /// How long before an action a policy decision for the same instance
    /// and tool binds to it when no decision id was propagated (default 2m).
    #[arg(long, value_parser = parse_duration)]
    decision_window: Option<i64>,
    /// How far back a policy decision counts as the instance being under
    /// approval (default 1h).
    #[arg(long, value_parser = parse_duration)]
    approval_lookback: Option<i64>,
    /// Agent inventory (`agents.toml`): which identities are which agents.
    #[arg(long)]
    agents: Option<PathBuf>,
    /// Detector thresholds (`detectors.toml`; see detectors.example.toml).
    #[arg(long)]
    detectors: Option<PathBuf>,
    /// Sigma rules directory to run (see rules/README.md).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Decoder settings (`[decoders.opa]`: where OPA decision logs keep
    /// agent, tool and resource; see docs/formats/policy-decisions.md).
    #[arg(long)]
    decoders: Option<PathBuf>,
    /// Start from empty state instead of continuing from the data
    /// directory's checkpoint (baselines, open instances), and save none.
    #[arg(long)]
    no_state: bool,
    /// Files to replay (`-` for standard input).
    #[arg(required = true)]
    files: Vec<String>,
}

/// `90s`, `15m`, `2h` → nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 90s, 15m, 2h"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("bad duration unit in {s:?}: use s, m or h")),
    };
    Ok(secs.saturating_mul(1_000_000_000))
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut config = ReplayConfig::new(&a.data_dir);
    config.format = a.format.0;
    config.max_record_bytes = a.max_record_bytes;
    if let Some(l) = a.lateness {
        config.lateness_ns = l;
    }
    if let Some(w) = a.decision_window {
        config.decision_window_ns = w;
    }
    if let Some(w) = a.approval_lookback {
        config.approval_lookback_ns = w;
    }
    if let Some(path) = &a.agents {
        config.inventory = Some(super::settings::load_inventory(path)?);
    }
    if let Some(path) = &a.detectors {
        config.detect = super::settings::load_detectors(path)?;
    }
    config.persist = !a.no_state;
    if let Some(path) = &a.decoders {
        config.opa = super::settings::load_decoders(path)?.opa;
    }
    if let Some(dir) = &a.rules {
        config.rules = std::sync::Arc::new(super::settings::load_rules(dir)?);
    }
    let total: u64 = a
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let stats = replay_files(&a.files, &config, |p| {
        bar.set_position(p.bytes);
        bar.set_message(format!(
            "{} events, {} dead-lettered",
            p.events, p.dead_letters
        ));
    })
    .with_context(|| format!("replay into {}", a.data_dir.display()))?;
    bar.finish_and_clear();
    super::print_stdout(&stats.to_string())?;
    Ok(ExitCode::SUCCESS)
}

//! `delegraph replay`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use delegraph_pipeline::{ReplayConfig, replay_files};
use indicatif::{ProgressBar, ProgressStyle};

use super::settings::{AnalysisSources, parse_duration};

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
    /// instead of across the whole input. Rarely needed: inputs larger
    /// than `--in-memory-mb` are merged by event time in bounded memory.
    #[arg(long, value_parser = parse_duration)]
    lateness: Option<i64>,
    /// Inputs up to this many MiB (decompressed, all files together) are
    /// held whole while replayed; larger ones are read twice, first to
    /// index their pieces by event time, then merged in that order,
    /// holding only the events whose pieces overlap in time (files of the
    /// same hours). The results are the same either way.
    #[arg(long, default_value_t = delegraph_pipeline::DEFAULT_IN_MEMORY_BYTES >> 20)]
    in_memory_mb: u64,
    /// Keep the last stretch of event time (e.g. `1h`) held at the end, in
    /// the checkpoint, for the next replay to order with its own inputs,
    /// instead of writing it now. For logs delivered in instalments whose
    /// files spill into the next one's hours (a day's drop holding the
    /// first minutes of the next day): replayed one instalment a run, they
    /// then give the rows and findings one replay of them all gives. A
    /// later replay without it writes what is held.
    #[arg(long, value_parser = parse_duration, conflicts_with = "no_state")]
    carry_over: Option<i64>,
    /// Size of the pieces inputs are read in (tests and tuning).
    #[arg(long, hide = true, default_value_t = delegraph_pipeline::DEFAULT_PIECE_BYTES)]
    piece_bytes: usize,
    /// Threads decoding the inputs (default: one per core). Events reach
    /// the analyzers in the same order whatever the number.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// How long before an action a policy decision for the same instance
    /// and tool binds to it when no decision id was propagated (default 2m).
    #[arg(long, value_parser = parse_duration)]
    decision_window: Option<i64>,
    /// How far back a policy decision counts as the instance being under
    /// approval (default 1h).
    #[arg(long, value_parser = parse_duration)]
    approval_lookback: Option<i64>,
    /// Times further than this into the future (clock skew, e.g. `1d`,
    /// the default) are filed under the day they were replayed, not their own.
    #[arg(long, value_parser = parse_duration)]
    future_skew: Option<i64>,
    /// Times older than this (e.g. `365d`) are filed under the day they were
    /// replayed; by default any time from 2000 on keeps its own day.
    #[arg(long, value_parser = parse_duration)]
    max_event_age: Option<i64>,
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
    /// Learn every agent instance of these files into the baselines,
    /// whatever its findings: for onboarding from history known to be clean
    /// (findings are still reported).
    #[arg(long)]
    trusted: bool,
    /// Also write the run's findings to this file as OCSF Detection
    /// Finding JSON lines (OCSF 1.8.0), for a SIEM's file collector.
    #[arg(long)]
    ocsf: Option<PathBuf>,
    /// Files to replay (`-` for standard input).
    #[arg(required = true)]
    files: Vec<String>,
}

impl Args {
    /// The analysis settings the flags give.
    fn analysis(&self) -> AnalysisSources {
        AnalysisSources {
            lateness_ns: self.lateness,
            decision_window_ns: self.decision_window,
            approval_lookback_ns: self.approval_lookback,
            max_record_bytes: Some(self.max_record_bytes),
            agents: self.agents.clone(),
            detectors: self.detectors.clone(),
            decoders: self.decoders.clone(),
            rules: self.rules.clone(),
            future_skew_ns: self.future_skew,
            max_event_age_ns: self.max_event_age,
        }
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    // A replay is a batch that exits: pages it frees are worth keeping for
    // its next wave of work, not faulting in again, and its peak is
    // touched once, cheaper in small pages than in huge ones the kernel
    // zeroes and compacts for. `serve` keeps mimalloc's defaults and gives
    // freed memory back.
    delegraph_alloc::reset_purged_memory();
    delegraph_alloc::no_huge_pages();
    let mut config = ReplayConfig::new(&a.data_dir);
    config.format = a.format.0;
    config.persist = !a.no_state;
    config.carry_over_ns = a.carry_over;
    config.ocsf = a.ocsf.clone();
    config.in_memory_bytes = a.in_memory_mb.saturating_mul(1 << 20);
    config.piece_bytes = a.piece_bytes;
    config.threads = a.threads;
    a.analysis().apply(&mut config.analysis)?;
    config.analysis.detect.trusted |= a.trusted;
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
        bar.set_message(if p.indexing {
            "reading the inputs".to_owned()
        } else {
            format!("{} events, {} dead-lettered", p.events, p.dead_letters)
        });
    })
    .with_context(|| format!("replay into {}", a.data_dir.display()))?;
    bar.finish_and_clear();
    super::print_stdout(&stats.to_string())?;
    Ok(ExitCode::SUCCESS)
}

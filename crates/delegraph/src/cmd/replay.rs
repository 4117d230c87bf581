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
    /// Files to replay (`-` for standard input).
    #[arg(required = true)]
    files: Vec<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut config = ReplayConfig::new(&a.data_dir);
    config.format = a.format.0;
    config.max_record_bytes = a.max_record_bytes;
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

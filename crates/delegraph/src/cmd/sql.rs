//! `delegraph sql`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use delegraph_model::printable;
use delegraph_store::{OutputFormat, QueryLimits, SqlEngine};

/// Arguments of `delegraph sql`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory holding the tables.
    #[arg(long)]
    data_dir: PathBuf,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = parse_output)]
    format: OutputFormat,
    /// Time limit in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Memory limit for the query's operators, in MiB.
    #[arg(long, default_value_t = 2048)]
    memory_mb: usize,
    /// The statement (SELECT, WITH, EXPLAIN, SHOW TABLES, ...); it may start
    /// with a `--` comment, as saved queries do.
    #[arg(allow_hyphen_values = true)]
    query: String,
}

fn parse_output(s: &str) -> Result<OutputFormat, String> {
    match s {
        "table" => Ok(OutputFormat::Table),
        "json" => Ok(OutputFormat::Json),
        "csv" => Ok(OutputFormat::Csv),
        _ => Err(format!(
            "unknown output format {s:?}; expected table, json or csv"
        )),
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let limits = QueryLimits {
        timeout: Duration::from_secs(a.timeout_secs),
        memory_bytes: a.memory_mb << 20,
        // One user at a terminal: the memory limit is the result's limit.
        max_rows: usize::MAX,
        max_result_bytes: a.memory_mb << 20,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let engine = SqlEngine::open(&a.data_dir, limits).await?;
        engine.query_to_string(&a.query, a.format).await
    });
    match out {
        Ok(text) => {
            super::print_stdout(&format!("{text}\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {}", printable(&e.to_string()));
            Ok(ExitCode::from(1))
        }
    }
}

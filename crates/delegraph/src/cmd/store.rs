//! `delegraph store`: the store's own upkeep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use delegraph_store::{CURRENT_TABLES, TABLES, Upkeep};

/// Arguments of `delegraph store`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Convert a data directory written before the tables were Delta
    /// tables (loose Parquet files per table); nothing is lost, and the
    /// old files are moved to `pre-delta/` for you to delete.
    Migrate {
        /// Data directory holding the tables.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Keep the data directory's tables on object storage
    /// (`s3://bucket/prefix`; credentials, region and endpoint from the
    /// `AWS_*` variables); the directory keeps state, dead letters and the
    /// triage log. Once, before the first run.
    Init {
        /// Data directory (local).
        #[arg(long)]
        data_dir: PathBuf,
        /// Where the tables live: `s3://bucket/prefix`.
        #[arg(long)]
        tables: String,
    },
    /// What each table holds: version, files, rows, day partitions.
    Stats {
        /// Data directory holding the tables.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Whether every file the tables' logs name is there, whole (exit 1
    /// naming each one that is missing or cut short).
    Check {
        /// Data directory holding the tables.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Rewrite each closed day's small files as large ones sorted by time.
    Optimize {
        /// Data directory holding the tables.
        #[arg(long)]
        data_dir: PathBuf,
        /// Days ending more than this many hours ago are closed (no late
        /// event can still arrive for them).
        #[arg(long, default_value_t = 24)]
        closed_after_hours: u64,
    },
    /// Delete files no table snapshot younger than the retention needs.
    Vacuum {
        /// Data directory holding the tables.
        #[arg(long)]
        data_dir: PathBuf,
        /// Keep removed files this long (longer than any query runs).
        #[arg(long, default_value_t = 1)]
        retention_hours: u64,
    },
    /// Remove the days older than each table's retention.
    Expire {
        /// Data directory holding the tables.
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        retention: Retention,
    },
}

/// How many days each table keeps (defaults: the service's).
#[derive(clap::Args, Clone, Copy)]
pub struct Retention {
    /// Days of events kept.
    #[arg(long, default_value_t = Upkeep::default().events_days)]
    events_days: u32,
    /// Days of findings kept (by detection day).
    #[arg(long, default_value_t = Upkeep::default().findings_days)]
    findings_days: u32,
    /// Days of instances and edges kept (by last seen).
    #[arg(long, default_value_t = Upkeep::default().graph_days)]
    graph_days: u32,
}

fn now_ns() -> i64 {
    delegraph_model::Timestamp::now().nanos()
}

/// Every table the pipeline writes, current-state ones included.
fn all_tables() -> impl Iterator<Item = &'static str> {
    TABLES
        .into_iter()
        .chain(CURRENT_TABLES.iter().map(|(_, live)| *live))
}

/// One line of `store stats`.
fn stats_line(cells: [&dyn std::fmt::Display; 7]) -> String {
    let [t, v, f, b, r, d, m] = cells;
    format!("{t:<12} {v:>8} {f:>8} {b:>12} {r:>12} {d:>6} {m:>13}\n")
}

fn stats(data_dir: &Path) -> anyhow::Result<()> {
    // Written at once, quietly ending on a closed pipe (`| head`).
    let mut out = stats_line([
        &"table",
        &"version",
        &"files",
        &"bytes",
        &"rows",
        &"days",
        &"files/day max",
    ]);
    for table in all_tables() {
        if let Some(s) = delegraph_store::table_stats(data_dir, table)? {
            out.push_str(&stats_line([
                &s.table,
                &s.version,
                &s.files,
                &s.bytes,
                &s.rows,
                &s.days,
                &s.max_files_per_day,
            ]));
        }
    }
    super::print_stdout(&out)?;
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.action {
        Action::Migrate { data_dir } => {
            let _writer = delegraph_store::WriterLock::acquire(&data_dir, "a migration")?;
            let done = delegraph_store::migrate_old_layout(&data_dir)?;
            if done.is_empty() {
                println!("{}: nothing to convert", data_dir.display());
            }
            for m in done {
                println!(
                    "{}: {} file(s), {} row(s) converted; old files in {}",
                    m.table,
                    m.files,
                    m.rows,
                    m.moved_to.display()
                );
            }
        }
        Action::Init { data_dir, tables } => {
            let _writer = delegraph_store::WriterLock::acquire(&data_dir, "a store init")?;
            let url = delegraph_store::record_location(&data_dir, &tables)?;
            println!("{}: tables at {url}", data_dir.display());
        }
        Action::Stats { data_dir } => stats(&data_dir)?,
        Action::Check { data_dir } => {
            let damaged = delegraph_store::damaged_in_store(&data_dir)?;
            for d in &damaged {
                println!("{d}");
            }
            if !damaged.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            println!("{}: every file the logs name is whole", data_dir.display());
        }
        Action::Optimize {
            data_dir,
            closed_after_hours,
        } => {
            let upkeep = Upkeep {
                closed_after: Duration::from_secs(closed_after_hours.saturating_mul(3600)),
                ..Upkeep::default()
            };
            let before = upkeep.first_open_day(now_ns());
            for table in TABLES {
                let c = delegraph_store::compact_closed_days(&data_dir, table, &before)?;
                println!(
                    "{table}: {} day(s) before {before} compacted, {} file(s) into {}",
                    c.days, c.files_removed, c.files_added
                );
            }
        }
        Action::Vacuum {
            data_dir,
            retention_hours,
        } => {
            let keep = Duration::from_secs(retention_hours * 3600);
            for table in all_tables() {
                let n = delegraph_store::vacuum(&data_dir, table, keep)?;
                println!("{table}: {n} file(s) deleted");
            }
        }
        Action::Expire {
            data_dir,
            retention,
        } => {
            let upkeep = Upkeep {
                events_days: retention.events_days,
                findings_days: retention.findings_days,
                graph_days: retention.graph_days,
                ..Upkeep::default()
            };
            for table in TABLES {
                let (before, n) = upkeep.expire(&data_dir, table, now_ns())?;
                println!("{table}: days before {before} removed ({n} file(s))");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

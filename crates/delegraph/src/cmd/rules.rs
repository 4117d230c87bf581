//! `delegraph rules check|test [DIR]`.

use std::path::PathBuf;
use std::process::ExitCode;

use delegraph_model::printable;
use delegraph_pipeline::{Expect, RuleTestError, run_rule_tests, test_cases};

/// Arguments of `delegraph rules`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Validate every rule file; errors name file and line.
    Check {
        /// Rules directory.
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Run every rule's test events (NAME.fire*.jsonl, NAME.quiet*.jsonl).
    Test {
        /// Rules directory.
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.action {
        Action::Check { dir } => check(&dir),
        Action::Test { dir } => test(&dir),
    }
}

fn check(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    match delegraph_rules::load_dir(dir) {
        Ok(set) => {
            let files = delegraph_rules::rule_files(dir)?;
            let untested: Vec<String> = files
                .iter()
                .filter(|f| test_cases(f).is_empty())
                .map(|f| f.display().to_string())
                .collect();
            println!(
                "ok: {} rule(s), {} correlation(s) and {} sequence(s) in {} file(s)",
                set.rules().len(),
                set.correlations().len(),
                set.sequences().len(),
                set.files()
            );
            for f in &untested {
                println!("warning: {f} has no test events (NAME.fire.jsonl / NAME.quiet.jsonl)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}", printable(&e.to_string()));
            }
            eprintln!("{} error(s)", errors.len());
            Ok(ExitCode::from(1))
        }
    }
}

fn test(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let outcomes = match run_rule_tests(dir) {
        Ok(o) => o,
        Err(RuleTestError::Rules(errors)) => {
            for e in &errors {
                eprintln!("{}", printable(&e.to_string()));
            }
            eprintln!("rules do not load: {} error(s)", errors.len());
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let mut failed = 0;
    for o in &outcomes {
        let verdict = if o.passed() { "ok  " } else { "FAIL" };
        let want = match o.expect {
            Expect::Fire => "should fire",
            Expect::Quiet => "should not fire",
        };
        println!(
            "{verdict} {} ({want}): {} event(s), {} finding(s){}",
            o.case.display(),
            o.events,
            o.fired.len(),
            if o.rejected > 0 {
                format!(", {} record(s) failed to decode", o.rejected)
            } else {
                String::new()
            }
        );
        if !o.passed() {
            failed += 1;
            for (rule, summary) in &o.fired {
                println!("       {rule}: {}", printable(summary));
            }
        }
    }
    let files = delegraph_rules::rule_files(dir)?;
    let untested: Vec<_> = files.iter().filter(|f| test_cases(f).is_empty()).collect();
    for f in &untested {
        println!("FAIL {}: no test events", f.display());
    }
    failed += untested.len();
    println!(
        "{} passed, {failed} failed",
        outcomes.len() + untested.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

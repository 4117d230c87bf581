//! Rule evaluation, delegraph against rsigma-eval, side by side on the same
//! CloudTrail records with the same standard-Sigma rules (`rules/aws`,
//! unedited). Run by `scripts/bench-rules`; prints events/s of each and
//! their ratio, measured in the same run (machines here are noisy).
//!
//! Each side starts from what its pipeline has in hand: rsigma the record's
//! text, which it must parse into a JSON value; delegraph the decoded event
//! (decoding is the pipeline's work for the graph, done before timing),
//! whose raw text it parses only when a candidate rule reads a vendor field
//! the event does not carry. A third line times rsigma on values parsed
//! beforehand, i.e. its rule evaluation alone.
//!
//! Arguments: CloudTrail files (JSON arrays, `Records` documents or JSON
//! lines); default the Stratus Red Team captures and the rules' test
//! records. `BENCH_EVENTS` sets how many evaluations each side makes.
//! Without `--bench` (as `cargo test --all-targets` runs it) it checks the
//! two engines agree and times a single round.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;

use delegraph_rules::compile_texts;
use support::versus::*;

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn main() {
    let rules = standard_aws_rules();
    // `cargo test --all-targets` runs this without `--bench` (and with the
    // test filter's arguments): default corpus, one round.
    let timed = std::env::args().any(|a| a == "--bench");
    let mut files: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| timed && !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    if files.is_empty() {
        files = stratus_files();
        files.extend(rule_test_files(&rules));
    }
    let events = cloudtrail_events(&files);
    assert!(!events.is_empty(), "no CloudTrail records in {files:?}");
    let target: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|_| timed)
        .unwrap_or(if timed { 300_000 } else { 1 });
    let rounds = target.div_ceil(events.len()).max(1);
    let n = rounds * events.len();
    let set = compile_texts(&rules).unwrap();
    let engine = rsigma_engine(&rules);
    println!(
        "{} rule files ({} rules), {} distinct CloudTrail records, {n} evaluations per side",
        rules.len(),
        set.rules().len(),
        events.len()
    );

    // Agreement first: a benchmark of engines that disagree means nothing.
    let mut matches = 0usize;
    for e in &events {
        let a = ours(&set, e);
        assert_eq!(a, theirs(&engine, &e.raw), "{}", e.origin);
        matches += a.len();
    }
    println!("both engines: {matches} matches over the distinct records");

    let mut sink = 0usize;
    let start = Instant::now();
    for _ in 0..rounds {
        for e in &events {
            let v: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
            sink += usize::from(v.is_object());
        }
    }
    let parse = rate(n, start.elapsed().as_secs_f64());

    let start = Instant::now();
    for _ in 0..rounds {
        for e in &events {
            let v: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
            sink += engine
                .evaluate(&rsigma_eval::event::JsonEvent::borrow(&v))
                .len();
        }
    }
    let theirs_rate = rate(n, start.elapsed().as_secs_f64());

    let parsed: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.raw).unwrap())
        .collect();
    let start = Instant::now();
    for _ in 0..rounds {
        for v in &parsed {
            sink += engine
                .evaluate(&rsigma_eval::event::JsonEvent::borrow(v))
                .len();
        }
    }
    let theirs_eval = rate(n, start.elapsed().as_secs_f64());

    let start = Instant::now();
    for _ in 0..rounds {
        for e in &events {
            let view = delegraph_rules::EventView::new(e, delegraph_rules::AgentContext::default());
            sink += set.matching(&view).len();
        }
    }
    let ours_rate = rate(n, start.elapsed().as_secs_f64());

    println!("serde_json parse only                   {parse:>12.0} events/s");
    println!("rsigma-eval  record text → matches      {theirs_rate:>12.0} events/s");
    println!("rsigma-eval  parsed value → matches     {theirs_eval:>12.0} events/s");
    println!("delegraph    decoded event → matches    {ours_rate:>12.0} events/s");
    println!(
        "ratio delegraph / rsigma-eval: {:.2}x from text, {:.2}x against its rules alone   (checksum {sink})",
        ours_rate / theirs_rate,
        ours_rate / theirs_eval
    );
}

//! `delegraph bench-epochs`: a long stream's store without a broker.
//!
//! The records of the input files, in event-time order, are cut into
//! `--epochs` equal epochs, and each is sealed exactly as `serve` seals a
//! Kafka epoch: the table commits (tagged with the epoch), the live-state
//! replacement (when its duty share allows), the checkpoint, then the
//! compaction of days crowded with files. What a store looks like after months of
//! five-second epochs (files per day, the size of each table's log) and how
//! long an epoch's end takes can then be measured in minutes;
//! `scripts/bench-store` does, and times the API on the result.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_ingest::read_document;
use delegraph_model::{NormEvent, Origin};
use delegraph_pipeline::{DEFAULT_BATCH_ROWS, EventPipeline, PipelineOptions};

use super::bench_cycles::{Recycled, Span};

/// Arguments of `delegraph bench-epochs`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory to fill (a new one, or the same store to go on).
    #[arg(long)]
    data_dir: PathBuf,
    /// Epochs to cut the records into.
    #[arg(long, default_value_t = 5_000)]
    epochs: usize,
    /// Times to go through the records, each time with new ids and later
    /// times (as `bench` does), for a store larger than the inputs.
    #[arg(long, default_value_t = 1)]
    cycles: u64,
    /// Input files (any format `replay` reads).
    #[arg(required = true)]
    files: Vec<String>,
}

/// Every decoded event; records that do not decode are counted only.
#[derive(Default)]
struct Collect {
    events: Vec<NormEvent>,
    rejected: u64,
}

impl EventSink for Collect {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.events.push(e);
        Ok(())
    }
    fn reject(&mut self, _: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        self.rejected += 1;
        Ok(())
    }
}

/// The phases of an epoch end, as printed.
const PHASES: [&str; 5] = [
    "table commits (checkpoint written meanwhile)",
    "live tables",
    "state serialised",
    "checkpoint put in place",
    "compaction of crowded days",
];

/// The `q` quantile of sorted `xs` (nearest rank).
fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let rank = ((xs.len() as f64) * q).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

fn epoch_name(epoch: usize) -> String {
    format!("bench-{epoch:012}")
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.epochs > 0, "--epochs must be at least 1");
    let decoder = DocumentDecoder::default();
    let mut all = Collect::default();
    for f in &a.files {
        let doc = read_document(f, 1 << 30)?;
        let base = OriginBase::File { path: doc.path };
        decoder
            .decode_document(&doc.bytes, &base, &mut all)
            .with_context(|| format!("decoding {f}"))?;
    }
    anyhow::ensure!(
        !all.events.is_empty(),
        "the inputs hold no decodable events"
    );
    anyhow::ensure!(a.cycles > 0, "--cycles must be at least 1");
    all.events.sort_by_key(|e| e.event_time);
    let mut span = Span::default();
    for e in &all.events {
        span.include(e.event_time);
    }
    let total = all.events.len() * usize::try_from(a.cycles)?;
    let per_epoch = total.div_ceil(a.epochs);
    println!(
        "{total} events ({} undecodable records, {} cycle(s)) in {} epochs of {per_epoch}",
        all.rejected, a.cycles, a.epochs
    );

    let mut p = EventPipeline::open(
        &a.data_dir,
        &epoch_name(1),
        PipelineOptions::new(DEFAULT_BATCH_ROWS),
        None,
    )?;
    // As `serve` does: the recent ids' lookups followed from the start.
    p.follow_seen_ids();
    let mut seal_ms = Vec::with_capacity(a.epochs);
    // Each epoch end's phases, in milliseconds (see PHASES).
    let mut phase_ms: Vec<[f64; 5]> = Vec::with_capacity(a.epochs);
    let started = Instant::now();
    let mut in_epoch = 0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut seal = |p: &mut EventPipeline, seal_ms: &mut Vec<f64>| -> anyhow::Result<()> {
        let epoch = seal_ms.len() + 1;
        let t = Instant::now();
        let (sealed, live_rows) = p.seal(&epoch_name(epoch + 1), epoch as u64, Vec::new())?;
        if let Some(wanted) = live_rows {
            wanted.send(p)?;
        }
        let s = sealed.make_durable(|_| Ok(()))?.timings;
        phase_ms.push([
            ms(s.close + s.commits),
            ms(s.live),
            ms(s.state),
            ms(s.checkpoint),
            ms(s.compaction),
        ]);
        seal_ms.push(ms(t.elapsed()));
        if epoch.is_multiple_of(500) {
            eprintln!(
                "epoch {epoch}/{}: {:.0} s so far",
                a.epochs,
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    };
    for cycle in 0..a.cycles {
        for e in &all.events {
            Recycled::new(&mut p, cycle, span.shift_ns()).event(e.clone())?;
            in_epoch += 1;
            if in_epoch == per_epoch {
                seal(&mut p, &mut seal_ms)?;
                in_epoch = 0;
            }
        }
    }
    if in_epoch > 0 {
        seal(&mut p, &mut seal_ms)?;
    }
    let stats = p.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let first: Vec<f64> = seal_ms.iter().take(100).copied().collect();
    let last: Vec<f64> = seal_ms.iter().rev().take(100).copied().collect();
    seal_ms.sort_by(f64::total_cmp);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    println!(
        "{} events, {} findings in {secs:.1} s ({:.0} events/s, {:.1} epochs/s)",
        stats.events(),
        stats.findings_written,
        stats.events() as f64 / secs,
        seal_ms.len() as f64 / secs
    );
    println!(
        "epoch end (commits + live state + checkpoint + compaction of crowded days): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; \
         mean of the first 100 {:.1} ms, of the last 100 {:.1} ms",
        quantile(&seal_ms, 0.5),
        quantile(&seal_ms, 0.95),
        quantile(&seal_ms, 1.0),
        mean(&first),
        mean(&last)
    );
    let (head, tail) = (phase_ms.len().min(100), phase_ms.len().saturating_sub(100));
    for (i, phase) in PHASES.iter().enumerate() {
        let first: Vec<f64> = phase_ms[..head].iter().map(|p| p[i]).collect();
        let last: Vec<f64> = phase_ms[tail..].iter().map(|p| p[i]).collect();
        println!(
            "  {phase:<28} mean of the first 100 {:>7.1} ms, of the last 100 {:>7.1} ms",
            mean(&first),
            mean(&last)
        );
    }
    Ok(ExitCode::SUCCESS)
}

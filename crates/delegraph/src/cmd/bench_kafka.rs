//! `delegraph bench-kafka`: the streaming pipeline's throughput from a
//! topic against a bare librdkafka consumer that only counts the same
//! topic's messages, on the same broker in the same run (the broker bounds
//! both, so the ratio is the figure that means something).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use delegraph_ingest::kafka::{KafkaSettings, count_messages};
use delegraph_pipeline::{StreamConfig, StreamMetrics, TopicSource, run_stream};

/// Arguments of `delegraph bench-kafka`.
#[derive(clap::Args)]
pub struct Args {
    /// `bootstrap.servers`.
    #[arg(long)]
    brokers: String,
    /// Topic holding the benchmark messages (already produced).
    #[arg(long)]
    topic: String,
    /// Messages on the topic.
    #[arg(long)]
    messages: u64,
    /// Scratch data directory for the pipeline run (must not exist).
    #[arg(long)]
    data_dir: PathBuf,
    /// Bare-consumer runs (their mean is the baseline).
    #[arg(long, default_value_t = 2)]
    bare_runs: u32,
}

fn settings(brokers: &str, group: String) -> KafkaSettings {
    KafkaSettings {
        brokers: brokers.to_owned(),
        group_id: group,
        properties: Default::default(),
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !a.data_dir.exists(),
        "{} exists; give a fresh scratch directory",
        a.data_dir.display()
    );
    let nonce = std::process::id();
    let timeout = Duration::from_secs(600);
    let mut bare = Vec::new();
    let mut bare_pass = |i: u32| -> anyhow::Result<()> {
        let s = settings(&a.brokers, format!("bench-bare-{nonce}-{i}"));
        let (n, bytes, took) = count_messages(&s, &a.topic, a.messages, timeout)?;
        anyhow::ensure!(
            n == a.messages,
            "bare consumer read {n} of {} messages",
            a.messages
        );
        let rate = n as f64 / took.as_secs_f64().max(1e-9);
        println!(
            "bare consumer (counts only):   {n} messages, {:.1} MB in {:.2}s = {rate:.0} msg/s",
            bytes as f64 / 1e6,
            took.as_secs_f64()
        );
        bare.push(rate);
        Ok(())
    };
    bare_pass(0)?;

    let mut cfg = StreamConfig::new(
        &a.data_dir,
        settings(&a.brokers, format!("bench-pipe-{nonce}")),
    );
    cfg.topics.push(TopicSource {
        topic: a.topic.clone(),
        format: None,
    });
    cfg.idle_release = Duration::from_secs(2);
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(StreamMetrics::default());
    let handle = {
        let (stop, metrics) = (stop.clone(), metrics.clone());
        std::thread::spawn(move || run_stream(cfg, stop, metrics))
    };
    let deadline = Instant::now() + timeout;
    while metrics.messages() < a.messages && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let consumed = metrics
        .first_message()
        .map(|t| t.elapsed())
        .unwrap_or_default();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let stats = handle
        .join()
        .map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    // Until the last epoch is durable, not just until the last message
    // (nor until the group is left).
    let (epochs, durable, seal) = metrics.last_seal();
    let took = match (metrics.first_message(), durable) {
        (Some(first), Some(durable)) => durable.saturating_duration_since(first),
        _ => Duration::ZERO,
    };
    let n = metrics.messages();
    anyhow::ensure!(
        n >= a.messages,
        "pipeline read {n} of {} messages",
        a.messages
    );
    let secs = took.as_secs_f64().max(1e-9);
    let rate = n as f64 / secs;
    println!(
        "delegraph serve pipeline:      {n} messages, {} events in {secs:.2}s = {rate:.0} msg/s, {:.0} events/s \
         (decode, dedup, reorder, stitch, all detectors, Parquet, findings and epochs durable)",
        stats.events(),
        stats.events() as f64 / secs
    );
    println!(
        "  of which: all messages taken after {:.2}s; the last of {epochs} epochs durable {:.2}s later \
         (its seal: decoded taken in {:.2}s, files finished {:.2}s, state {:.2}s; then table commits (checkpoint written meanwhile) {:.2}s, \
         publish {:.2}s, checkpoint put in place {:.2}s; after it, live tables {:.2}s)",
        consumed.as_secs_f64(),
        secs - consumed.as_secs_f64(),
        seal.drain.as_secs_f64(),
        seal.close.as_secs_f64(),
        seal.state.as_secs_f64(),
        seal.commits.as_secs_f64(),
        seal.publish.as_secs_f64(),
        seal.checkpoint.as_secs_f64(),
        seal.live.as_secs_f64(),
    );
    for i in 1..a.bare_runs.max(1) {
        bare_pass(i)?;
    }
    let baseline = bare.iter().sum::<f64>() / bare.len() as f64;
    println!(
        "ratio: pipeline / bare consumer = {:.2}x ({} findings)",
        rate / baseline,
        stats.findings_written
    );
    Ok(ExitCode::SUCCESS)
}

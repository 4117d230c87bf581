//! `delegraph bench`: decode, decode+Arrow and the full pipeline (decode,
//! reorder, stitch, all detectors, store) throughput, each against a
//! baseline measured in the same run on the same bytes (a generic
//! `serde_json::Value` parse, what any JSON tool must at least do); then
//! stitching and detection alone, detection's cost by detector, and state
//! per idle instance.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_detect::{DetectConfig, Detectors};
use delegraph_graph::{StitchConfig, Stitcher};
use delegraph_ingest::read_document;
use delegraph_model::{NormEvent, Origin, Source};
use delegraph_pipeline::{DEFAULT_BATCH_ROWS, EventPipeline};

use super::bench_cycles::{Recycled, Span};
use super::bench_detectors::print_detector_costs;

/// Arguments of `delegraph bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Approximate number of events to process per measurement.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    /// Idle instances created for the state-size measurement.
    #[arg(long, default_value_t = 200_000)]
    idle_instances: u64,
    /// Scratch directory for the store measurement (removed afterwards).
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Files whose records make up the mix; they are repeated to reach `--events`.
    #[arg(required = true)]
    files: Vec<String>,
}

#[derive(Default)]
struct Count {
    events: u64,
    dead: u64,
    by_source: BTreeMap<Source, u64>,
}

impl EventSink for Count {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.events += 1;
        *self.by_source.entry(e.source).or_default() += 1;
        Ok(())
    }
    fn reject(&mut self, _: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        self.dead += 1;
        Ok(())
    }
}

/// The first pass over the inputs: the mix, the time one cycle spans, and
/// the records the inputs themselves repeat (same source and id), which
/// the pipeline drops once per cycle.
#[derive(Default)]
struct Survey {
    count: Count,
    repeats: u64,
    seen: std::collections::HashSet<(Source, String)>,
    span: Span,
}

impl EventSink for Survey {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.span.include(e.event_time);
        if !self.seen.insert((e.source, e.event_id.clone())) {
            self.repeats += 1;
        }
        self.count.event(e)
    }
    fn reject(&mut self, error: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError> {
        self.count.reject(error, origin, raw)
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    // First, while the heap holds nothing freed that could be reused.
    idle_state(a.idle_instances);
    let decoder = DocumentDecoder::default();
    let mut docs = Vec::new();
    for f in &a.files {
        docs.push(read_document(f, 1 << 30)?);
    }
    // One pass to learn the mix and how many events a cycle holds.
    let mut survey = Survey::default();
    for d in &docs {
        decoder.decode_document(
            &d.bytes,
            &OriginBase::File {
                path: d.path.clone(),
            },
            &mut survey,
        )?;
    }
    let once = &survey.count;
    anyhow::ensure!(once.events > 0, "the input files hold no decodable events");
    let cycles = a.events.div_ceil(once.events).max(1);
    let shift_ns = survey.span.shift_ns();
    // (bytes, origin, cycle): each cycle is decoded into new events (see
    // `bench_cycles`), so no run measures dropping repeats.
    let corpus: Vec<(&[u8], OriginBase, u64)> = (0..cycles)
        .flat_map(|k| docs.iter().map(move |d| (d, k)))
        .map(|(d, k)| {
            (
                d.bytes.as_slice(),
                OriginBase::File {
                    path: d.path.clone(),
                },
                k,
            )
        })
        .collect();

    let bytes: usize = corpus.iter().map(|(b, _, _)| b.len()).sum();
    let events = once.events * cycles;
    println!(
        "corpus: {events} events, {:.1} MB ({} B/event), {} dead letters per cycle",
        bytes as f64 / 1e6,
        bytes as u64 / events,
        once.dead
    );
    let mix: Vec<String> = once
        .by_source
        .iter()
        .map(|(s, n)| {
            format!(
                "{} {:.0}%",
                s.as_str(),
                100.0 * *n as f64 / once.events as f64
            )
        })
        .collect();
    println!("mix: {}", mix.join(", "));

    let baseline = measure(|| {
        let mut n = 0u64;
        for (b, _, _) in &corpus {
            for v in serde_json::Deserializer::from_slice(b).into_iter::<serde_json::Value>() {
                n += u64::from(v.is_ok());
            }
        }
        n
    });
    let decode = measure(|| {
        let mut c = Count::default();
        for (b, base, k) in &corpus {
            // Counting never fails.
            let _ = decoder.decode_document(b, base, &mut Recycled::new(&mut c, *k, shift_ns));
        }
        c.events
    });
    let arrow = measure(|| -> anyhow::Result<u64> {
        let mut sink = Batches::default();
        for (b, base, k) in &corpus {
            decoder.decode_document(b, base, &mut Recycled::new(&mut sink, *k, shift_ns))?;
            if sink.buffer.len() >= DEFAULT_BATCH_ROWS {
                sink.flush()?;
            }
        }
        sink.flush()?;
        Ok(sink.rows)
    });
    anyhow::ensure!(arrow.0? == events, "arrow run lost events");
    let scratch = a.scratch.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("delegraph-bench-{}", std::process::id()))
    });
    let store = measure(|| -> anyhow::Result<(u64, u64)> {
        let mut p = EventPipeline::new(&scratch, "bench", DEFAULT_BATCH_ROWS)?;
        for (b, base, k) in &corpus {
            decoder.decode_document(b, base, &mut Recycled::new(&mut p, *k, shift_ns))?;
        }
        let stats = p.finish()?;
        Ok((stats.events(), stats.duplicates))
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let (stored, repeats) = store.0.context("decode+store run failed")?;

    let rate = |secs: f64| events as f64 / secs;
    let base_rate = rate(baseline.1);
    println!(
        "baseline  serde_json::Value parse       : {:>10.0} events/s {:>7.1} MB/s",
        base_rate,
        bytes as f64 / baseline.1 / 1e6
    );
    for (name, secs) in [
        ("decode", decode.1),
        ("decode+Arrow batches", arrow.1),
        ("full pipeline (+detect, store)", store.1),
    ] {
        println!(
            "delegraph {name:<30}: {:>10.0} events/s {:>7.1} MB/s  ({:.2}x baseline)",
            rate(secs),
            bytes as f64 / secs / 1e6,
            rate(secs) / base_rate
        );
    }
    if repeats > 0 {
        println!(
            "  (full pipeline: {stored} events stored, {repeats} records the inputs repeat dropped as duplicates)"
        );
    }
    // Only what the inputs themselves repeat is dropped, once per cycle:
    // every other event went through the whole pipeline.
    let expected_repeats = survey.repeats * cycles;
    anyhow::ensure!(
        decode.0 == events && repeats == expected_repeats && stored + repeats == events,
        "event counts differ between runs: {events} in the corpus, {} decoded, {stored} stored, \
         {repeats} duplicates where the inputs repeat {expected_repeats}",
        decode.0
    );

    // Stitching alone, on events decoded beforehand, in event-time order.
    let mut decoded = Batches::default();
    for (b, base, k) in &corpus {
        decoder.decode_document(b, base, &mut Recycled::new(&mut decoded, *k, shift_ns))?;
    }
    let mut ordered = decoded.buffer;
    ordered.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    let (stitch, ()) = measure_inner(|| {
        let mut s = Stitcher::new(StitchConfig::default());
        let mut events = ordered.clone();
        let t = Instant::now();
        for e in &mut events {
            s.attribute(e);
        }
        (t.elapsed().as_secs_f64(), ())
    });
    println!(
        "delegraph stitch (attribution + graphs)  : {:>10.0} events/s",
        ordered.len() as f64 / stitch
    );
    let (detect, found) = measure_inner(|| {
        let mut s = Stitcher::new(StitchConfig::default());
        let mut d = Detectors::new(DetectConfig::default());
        let mut events = ordered.clone();
        let mut findings = Vec::new();
        let t = Instant::now();
        for e in &mut events {
            s.attribute(e);
            d.observe(e, &mut findings);
        }
        (t.elapsed().as_secs_f64(), findings.len())
    });
    println!(
        "delegraph stitch + all detectors         : {:>10.0} events/s ({} findings)",
        ordered.len() as f64 / detect,
        found
    );
    print_detector_costs(&ordered);
    Ok(ExitCode::SUCCESS)
}

/// Resident set size in bytes (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Memory per idle instance: RSS growth while `n` instances (each with a
/// credential, a session and a small graph) are created and left idle.
fn idle_state(n: u64) {
    let cfg = StitchConfig {
        max_instances: n as usize,
        max_credentials: n as usize,
        max_sessions: n as usize,
        max_spans: 16,
        ..StitchConfig::default()
    };
    let template = serde_json::json!({
        "schema": "delegraph.mcp.v1", "timestamp": "2026-03-02T00:00:00.000Z", "session_id": "s",
        "client": {"agent_id": "support-agent", "agent_instance": "i"}, "user": {"email": "user001@example.com"},
        "auth": {"method": "oauth2", "credential_id": "tok"},
        "request": {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_kb"}}
    });
    let mut sink = Batches::default();
    let base = OriginBase::File { path: "-".into() };
    let decoded = DocumentDecoder::default().decode_document(
        template.to_string().as_bytes(),
        &base,
        &mut sink,
    );
    let (Ok(()), Some(proto)) = (decoded, sink.buffer.pop()) else {
        return;
    };
    let mut s = Stitcher::new(cfg);
    let mut d = Detectors::new(DetectConfig {
        max_open_instances: n as usize,
        ..DetectConfig::default()
    });
    let mut findings = Vec::new();
    // The instances start one after another over half an hour of event
    // time, as a fleet's do: earlier ones go idle and are packed while
    // later ones open (none is evicted or closed: the idle limits are
    // hours), so memory they leave is reused as it would be in a stream.
    let t0 = proto.event_time.nanos();
    let span_ns: i64 = 30 * 60 * 1_000_000_000;
    let step = span_ns / n.max(1) as i64;
    let at = |i: u64| delegraph_model::Timestamp::from_nanos(t0 + step * i as i64);
    let before = rss();
    let mut stitched = before;
    for i in 0..n {
        let mut e = proto.clone();
        e.event_time = at(i);
        e.trace.session_id = Some(format!("session-{i:012}"));
        e.agent.instance_id = Some(format!("support-agent-{i:012}"));
        if let Some(c) = e.credential_used.as_mut() {
            c.id = format!("tok-{i:012}");
        }
        // The ids were edited after decoding: state the link hints again.
        delegraph_decode::relink(&mut e);
        s.attribute(&mut e);
        // Detector profiles second, so the stitcher's share is measured alone.
        if i + 1 == n {
            stitched = rss();
        }
    }
    for i in 0..n {
        let mut e = proto.clone();
        e.event_time = at(i);
        e.event_id = format!("s:{i}");
        e.attribution = Some(Box::new(delegraph_model::Attribution {
            agent_id: Some("support-agent".into()),
            instance: Some(format!("support-agent-{i:012}")),
            root_instance: Some(format!("support-agent-{i:012}")),
            initiator: Some("user001@example.com".into()),
            ..Default::default()
        }));
        if let Some(c) = e.credential_used.as_mut() {
            c.id = format!("tok-{i:012}");
        }
        d.observe(&e, &mut findings);
    }
    // Two packing rounds with no events: the last ones are idle too.
    let pack_ns = 1_000_000_000 * DetectConfig::default().pack_idle_secs as i64;
    d.expire(t0 + span_ns + 2 * pack_ns + 1, &mut findings);
    if let (Some(b), Some(m), Some(a)) = (before, stitched, rss()) {
        let per = |from: u64, to: u64| to.saturating_sub(from) as f64 / n as f64;
        println!(
            "idle state: {n} instances, {} index entries, {} open profiles, {:.0} bytes per \
             idle instance (RSS growth: stitcher {:.0} + open detector profile {:.0})",
            s.entries(),
            d.open_instances(),
            per(b, a),
            per(b, m),
            per(m, a),
        );
    }
}

/// Decoded events converted to Arrow batches and dropped: the store's
/// encoding cost without the Parquet writer.
#[derive(Default)]
pub(crate) struct Batches {
    pub(crate) buffer: Vec<NormEvent>,
    rows: u64,
}

impl Batches {
    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buffer.is_empty() {
            self.rows += delegraph_store::events_batch(&self.buffer)?.num_rows() as u64;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl EventSink for Batches {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.buffer.push(e);
        Ok(())
    }
    fn reject(&mut self, _: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Run once to warm up, then three times; the best of the times the work
/// reports (work that times itself leaves out copying its input).
fn measure_inner<T>(mut f: impl FnMut() -> (f64, T)) -> (f64, T) {
    let mut out = f();
    let mut best = f64::MAX;
    for _ in 0..3 {
        out = f();
        best = best.min(out.0);
    }
    (best, out.1)
}

/// Run once to warm up, then time the best of three runs.
fn measure<T>(mut f: impl FnMut() -> T) -> (T, f64) {
    let (best, out) = measure_inner(|| {
        let t = Instant::now();
        let out = f();
        (t.elapsed().as_secs_f64(), out)
    });
    (out, best)
}

//! Where detection's time goes, detector by detector: one more pass of
//! stitch and detect over the ordered events with every detector timed
//! (`Detectors::time_detectors`), printed as nanoseconds per event of the
//! whole input: the detectors' rows and the engine's own add up to the
//! timed pass's detection, stopwatch included (printed on its own line).

use std::time::{Duration, Instant};

use delegraph_detect::{DetectConfig, DetectorTiming, Detectors};
use delegraph_graph::{StitchConfig, Stitcher};
use delegraph_model::NormEvent;

/// Stitch and detect `ordered` once with timed detectors; print each
/// detector's share, heaviest first, and what the engine's own
/// book-keeping (instance records, lifecycle, baselines, dedup) took.
pub(super) fn print_detector_costs(ordered: &[NormEvent]) {
    let mut stitcher = Stitcher::new(StitchConfig::default());
    let mut detectors = Detectors::new(DetectConfig::default());
    detectors.time_detectors();
    let mut events = ordered.to_vec();
    let mut findings = Vec::new();
    let mut stitching = Duration::ZERO;
    let start = Instant::now();
    for e in &mut events {
        let t = Instant::now();
        stitcher.attribute(e);
        stitching += t.elapsed();
        detectors.observe(e, &mut findings);
    }
    let detecting = start.elapsed().saturating_sub(stitching);
    let mut timings = detectors.detector_timings();
    timings.sort_by_key(|t| std::cmp::Reverse(t.total()));
    let per_event = |d: Duration| d.as_nanos() as f64 / events.len().max(1) as f64;
    let in_detectors: Duration = timings.iter().map(DetectorTiming::total).sum();
    println!(
        "  detection, timed pass: {:.0} ns/event ({:.0} ns in detectors; stitching {:.0} ns); \
         ns/event by detector (events + closing + learning):",
        per_event(detecting),
        per_event(in_detectors),
        per_event(stitching)
    );
    for t in &timings {
        println!(
            "    {:<22} {:>6.0} = {:>6.0} + {:>5.0} + {:>5.0}  ({:>4.1}%)",
            t.name,
            per_event(t.total()),
            per_event(t.events),
            per_event(t.close),
            per_event(t.learn),
            100.0 * t.total().as_secs_f64() / detecting.as_secs_f64().max(f64::EPSILON)
        );
    }
    let engine = detecting.saturating_sub(in_detectors);
    println!(
        "    {:<22} {:>6.0}  ({:>4.1}%: instance records, lifecycle, baselines, dedup)",
        "engine itself",
        per_event(engine),
        100.0 * engine.as_secs_f64() / detecting.as_secs_f64().max(f64::EPSILON)
    );
    let calls: u64 = timings.iter().map(|t| t.calls).sum();
    let clock = clock_cost();
    println!(
        "    (the stopwatch: {:.1} timed calls/event at about {:.0} ns each, {:.0} ns/event \
         spread over the rows above)",
        calls as f64 / events.len().max(1) as f64,
        clock.as_nanos(),
        clock.as_nanos() as f64 * calls as f64 / events.len().max(1) as f64
    );
}

/// What timing one empty call costs here: two clock reads and a sum.
fn clock_cost() -> Duration {
    const ROUNDS: u32 = 1_000_000;
    let mut spent = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(());
        spent += t.elapsed();
    }
    std::hint::black_box(spent);
    start.elapsed() / ROUNDS
}

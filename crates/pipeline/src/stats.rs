//! Counts a run reports: events by source, dead letters by reason.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use delegraph_graph::StitchStats;
use delegraph_model::{AnalyzerStats, Finding, Severity, Source};

/// Findings the end-of-run summary lists.
pub const TOP_FINDINGS: usize = 10;

/// What a run did, for the end-of-run summary and for tests.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Documents (files, messages) read.
    pub documents: u64,
    /// Bytes read (before decompression).
    pub bytes: u64,
    /// Events stored, by source.
    pub events_by_source: BTreeMap<Source, u64>,
    /// Records dead-lettered, by reason code.
    pub dead_by_reason: BTreeMap<String, u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Files the run published.
    pub outputs: Vec<PathBuf>,
    /// Attribution counters.
    pub stitch: StitchStats,
    /// Events that arrived later than the allowed lateness.
    pub late_events: u64,
    /// Records dropped because the same event (source and id) came before.
    pub duplicates: u64,
    /// Each analyzer's counters, by analyzer id (`detectors`: findings by
    /// detector, learned, quarantined, evicted_open; `rules`: matches,
    /// open_groups).
    pub analyzers: BTreeMap<String, AnalyzerStats>,
    /// Findings written.
    pub findings_written: u64,
    /// Findings by severity.
    pub findings_by_severity: BTreeMap<Severity, u64>,
    /// The riskiest findings (highest risk first, then by id).
    pub top_findings: Vec<Finding>,
    /// The inputs had already been applied to this data directory; nothing
    /// was done.
    pub already_applied: bool,
    /// Events kept held at the end, in the checkpoint, for the next run
    /// to order with its own (a replay's `--carry-over`).
    pub carried_over: u64,
    /// A replay too large to hold whole was merged by event time: how.
    pub merged: Option<MergedReplay>,
}

/// How a replay merged its inputs by event time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergedReplay {
    /// Pieces read in the second pass.
    pub pieces: u64,
    /// The most events held for ordering at once.
    pub most_held: u64,
}

impl RunStats {
    /// All events stored.
    pub fn events(&self) -> u64 {
        self.events_by_source.values().sum()
    }

    /// One analyzer's counter (0 when it has none of that name).
    pub fn analyzer_count(&self, analyzer: &str, counter: &str) -> u64 {
        self.analyzers
            .get(analyzer)
            .and_then(|s| s.get(counter))
            .copied()
            .unwrap_or(0)
    }

    /// All records dead-lettered.
    pub fn dead_letters(&self) -> u64 {
        self.dead_by_reason.values().sum()
    }

    /// Count a finding and keep it if it is among the riskiest.
    pub fn note_finding(&mut self, f: &Finding) {
        *self.findings_by_severity.entry(f.severity).or_default() += 1;
        fn rank(x: &Finding) -> (std::cmp::Reverse<u8>, &str) {
            (std::cmp::Reverse(x.risk_score), x.finding_id.as_str())
        }
        let pos = self
            .top_findings
            .binary_search_by(|x| rank(x).cmp(&rank(f)))
            .unwrap_or_else(|i| i);
        if pos < TOP_FINDINGS {
            self.top_findings.insert(pos, f.clone());
            self.top_findings.truncate(TOP_FINDINGS);
        }
    }

    /// Events per second of wall time.
    pub fn events_per_sec(&self) -> f64 {
        self.events() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for RunStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = self.bytes as f64 / 1e6;
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "{} events from {} document(s), {:.1} MB in {:.2}s ({:.0} events/s, {:.1} MB/s)",
            self.events(),
            self.documents,
            mb,
            secs,
            self.events_per_sec(),
            mb / secs.max(1e-9)
        )?;
        for (source, n) in &self.events_by_source {
            writeln!(f, "  {:<18} {n}", source.as_str())?;
        }
        let s = &self.stitch;
        writeln!(
            f,
            "attribution: {} to an agent instance, {} to a human acting directly, {} unattributed; {} late event(s), {} duplicate(s) dropped",
            s.attributed, s.human_direct, s.unattributed, self.late_events, self.duplicates
        )?;
        if let Some(m) = &self.merged {
            writeln!(
                f,
                "ordered by event time in {} piece(s), holding at most {} event(s) at once",
                m.pieces, m.most_held
            )?;
        }
        if self.carried_over > 0 {
            writeln!(
                f,
                "{} event(s) held over to the next replay (--carry-over), to be ordered with its inputs",
                self.carried_over
            )?;
        }
        if self.already_applied {
            writeln!(
                f,
                "these inputs were already replayed into this data directory; nothing to do"
            )?;
        }
        let sev: Vec<String> = self
            .findings_by_severity
            .iter()
            .rev()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        writeln!(
            f,
            "{} finding(s){}",
            self.findings_written,
            if sev.is_empty() {
                String::new()
            } else {
                format!(": {}", sev.join(", "))
            }
        )?;
        for x in &self.top_findings {
            writeln!(
                f,
                "  [{:>3} {:<8}] {:<21} {}",
                x.risk_score,
                x.severity.as_str(),
                delegraph_model::printable(&x.detector),
                delegraph_model::printable(&x.summary)
            )?;
        }
        writeln!(f, "{} record(s) dead-lettered", self.dead_letters())?;
        for (reason, n) in &self.dead_by_reason {
            writeln!(f, "  {reason:<18} {n}")?;
        }
        for p in &self.outputs {
            writeln!(f, "wrote {}", p.display())?;
        }
        Ok(())
    }
}

//! The contract between the pipeline and everything that analyses
//! attributed events (the detector engine, the rules engine, and whatever
//! comes next). The pipeline only knows this trait: it hands every analyzer
//! the same [`AttributedEvent`] in event-time order, asks it to expire state
//! as event time passes, and stores each analyzer's state under its
//! [`AnalyzerId`] in the checkpoint.

use std::collections::BTreeMap;

use crate::{Finding, NormEvent, Verdict};

/// What the stitched graph knows about an event beyond the event itself,
/// resolved once when the event is attributed (nothing reads back into the
/// stitcher's tables afterwards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentContext {
    /// When the instance's task ended (ns), if it has.
    pub task_end: Option<i64>,
    /// When the credential used was issued or first seen (ns).
    pub credential_since: Option<i64>,
    /// When the instance was first seen (ns).
    pub instance_since: Option<i64>,
}

/// One event as every analyzer sees it: the event with its attribution
/// (instance, root, human, depth, chain, approval: `event.attribution`)
/// and the agent context of its instance.
#[derive(Debug, Clone, Copy)]
pub struct AttributedEvent<'a> {
    /// The event, attributed.
    pub event: &'a NormEvent,
    /// What the graph knew about its instance and credential.
    pub context: AgentContext,
}

/// What analyzers worked out about one event for the analyzers after them:
/// the detector engine traces a tool call's argument values and judges its
/// request, and the rules engine exposes the verdicts as `delegraph.*`
/// fields. Facts about this event only, filled in registry order; an
/// analyzer never sees what a later one adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventSignals {
    /// Argument values of this tool call that the human's request did not
    /// name and an earlier tool result of the same instance did.
    pub from_tool_result: Vec<ValueOrigin>,
    /// Whether an argument value the request did not name is absent from
    /// everything the agent's learned sessions asked, used and read (unset
    /// when the call carries no such value or the agent has too little
    /// history).
    pub value_new: Option<bool>,
    /// Whether the request fails to account for this consequential call,
    /// by what the agent's learned sessions show (unset when the call is not
    /// consequential or the agent has too little history).
    pub intent_mismatch: Option<bool>,
}

/// Where one argument value came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueOrigin {
    /// The argument's path (`to`, `recipients[0]`, `payment.iban`).
    pub argument: String,
    /// The value, in the canonical form values are compared in (lower
    /// case; a URL without scheme and `www.`).
    pub value: String,
    /// The tool whose result first named it.
    pub source_tool: String,
    /// That result's event id.
    pub source_event: String,
}

/// A stable name for one analyzer's state in the checkpoint ("detectors",
/// "rules", …). Renaming one orphans its saved state, so ids never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AnalyzerId(pub &'static str);

impl std::fmt::Display for AnalyzerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Saved analyzer state that could not be written or read back.
#[derive(Debug, thiserror::Error)]
#[error("{analyzer} state: {message}")]
pub struct AnalyzerStateError {
    /// Whose state.
    pub analyzer: AnalyzerId,
    /// What went wrong (the codec's message).
    pub message: String,
}

/// Counters an analyzer reports for run summaries and metrics, by name
/// (`findings.tool_chain`, `matches`, `open_groups`, …). Ordered, so
/// summaries print the same way every time.
pub type AnalyzerStats = BTreeMap<String, u64>;

/// Something that analyses attributed events in event-time order.
///
/// Every method gets the stream's event-time clock where it matters, never
/// the wall clock, so results do not depend on when or how fast events
/// arrive. State is saved with [`save`](Analyzer::save) as deterministic
/// bytes (the same state always gives the same bytes).
pub trait Analyzer: Send {
    /// The name its state is stored under.
    fn id(&self) -> AnalyzerId;

    /// Look at one attributed event; findings go to `out`. `signals` holds
    /// what the analyzers before it worked out about the event, and takes
    /// what this one adds. `clock` is the latest event time released so far
    /// (the findings' `detected_at`).
    fn observe(
        &mut self,
        event: &AttributedEvent<'_>,
        signals: &mut EventSignals,
        clock: i64,
        out: &mut Vec<Finding>,
    );

    /// Event time has reached `now` with no event to carry it (a stream
    /// gone idle, the end of a run): close what is due. The default does
    /// nothing; analyzers that expire on event arrival need no more.
    fn expire(&mut self, now: i64, out: &mut Vec<Finding>) {
        let _ = (now, out);
    }

    /// Everything needed to continue exactly where this left off.
    fn save(&self) -> Result<Vec<u8>, AnalyzerStateError>;

    /// Continue from bytes [`save`](Analyzer::save) gave.
    fn restore(&mut self, saved: &[u8]) -> Result<(), AnalyzerStateError>;

    /// Counters so far.
    fn stats(&self) -> AnalyzerStats;

    /// An analyst closed a finding of an instance as benign or as a true
    /// positive ([`Verdict`], in the activity log's order; the same one
    /// may come again after a restart). The default ignores it.
    fn verdict(&mut self, verdict: &Verdict) {
        let _ = verdict;
    }

    /// The concrete analyzer, for settings only it has (a rule set to
    /// reload): `as_any_mut().downcast_mut::<RuleEngine>()`.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

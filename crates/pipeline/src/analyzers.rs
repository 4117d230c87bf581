//! The analyzers every pipeline runs, in the order they see each event.
//! Adding one (a new engine over attributed events) is one line here; the
//! pipeline drives them all through [`delegraph_model::Analyzer`] and keeps
//! each one's state in the checkpoint under its id.

use std::collections::BTreeMap;

use delegraph_detect::Detectors;
use delegraph_model::{Analyzer, AnalyzerStateError, AnalyzerStats};
use delegraph_rules::RuleEngine;

use crate::PipelineOptions;

/// The analyzers, fresh: detectors first, then rules (which read the
/// detectors' signals about each event as `delegraph.*` fields).
pub(crate) fn registry(opts: &PipelineOptions) -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(Detectors::new(opts.detect.clone())),
        Box::new(RuleEngine::new(opts.rules.clone())),
    ]
}

/// Continue each analyzer from its saved state, when the checkpoint has one.
pub(crate) fn restore(
    analyzers: &mut [Box<dyn Analyzer>],
    saved: &BTreeMap<String, Vec<u8>>,
) -> Result<(), AnalyzerStateError> {
    for a in analyzers {
        if let Some(bytes) = saved.get(a.id().0) {
            a.restore(bytes)?;
        }
    }
    Ok(())
}

/// Every analyzer's state, by id.
pub(crate) fn save(
    analyzers: &[Box<dyn Analyzer>],
) -> Result<BTreeMap<String, Vec<u8>>, AnalyzerStateError> {
    analyzers
        .iter()
        .map(|a| Ok((a.id().to_string(), a.save()?)))
        .collect()
}

/// Every analyzer's counters, by id.
pub(crate) fn stats(analyzers: &[Box<dyn Analyzer>]) -> BTreeMap<String, AnalyzerStats> {
    analyzers
        .iter()
        .map(|a| (a.id().to_string(), a.stats()))
        .collect()
}

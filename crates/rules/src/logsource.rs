//! Which of delegraph's sources a rule's `logsource` means.
//!
//! Each format says which Sigma log sources name it (its
//! [`FormatInfo`](delegraph_decode::FormatInfo) in the decode crate):
//! SigmaHQ's names for the cloud products, so rules from SigmaHQ load
//! unchanged, and `ai_agent` for agent telemetry. `delegraph[/SOURCE]` is
//! ours for any source by its own name (see `rules/README.md`).

use delegraph_decode::formats;
use delegraph_model::Source;
use rsigma_parser::LogSource;

/// The product that names sources by delegraph's own names.
const OURS: &str = "delegraph";

/// The sources a rule applies to, or why its log source is unknown.
pub fn sources(ls: &LogSource) -> Result<Vec<Source>, String> {
    let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
    let (product, service) = (lower(&ls.product), lower(&ls.service));
    let found: Vec<Source> = match (product.as_deref(), service.as_deref()) {
        (Some(OURS), None) => Source::ALL.to_vec(),
        (Some(OURS), Some(s)) => Source::parse(s).into_iter().collect(),
        (Some(p), svc) => formats()
            .iter()
            .filter(|f| f.sigma.iter().any(|l| l.matches(p, svc)))
            .map(|f| f.source)
            .collect(),
        (None, _) => Vec::new(),
    };
    if found.is_empty() {
        let known: Vec<String> = formats()
            .iter()
            .flat_map(|f| f.sigma.iter().map(|l| l.describe()))
            .collect();
        return Err(format!(
            "logsource product {:?} service {:?} is not a source delegraph reads \
             ({}, {OURS}[/SOURCE])",
            ls.product.as_deref().unwrap_or(""),
            ls.service.as_deref().unwrap_or(""),
            known.join(", ")
        ));
    }
    Ok(found)
}

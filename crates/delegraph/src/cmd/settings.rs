//! Settings files several commands read: the agent inventory and detector
//! thresholds.

use std::path::Path;

use anyhow::Context;

/// `agents.toml`: which identities are which agents.
pub fn load_inventory(path: &Path) -> anyhow::Result<delegraph_graph::Inventory> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    delegraph_graph::Inventory::from_toml(&text)
        .with_context(|| format!("{}: invalid agent inventory", path.display()))
}

/// `detectors.toml`: thresholds per detector and agent.
pub fn load_detectors(path: &Path) -> anyhow::Result<delegraph_detect::DetectConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(delegraph_detect::DetectConfig::from_toml(
        &text,
        &path.display().to_string(),
    )?)
}

/// Load a rules directory; every error with its file and line.
pub fn load_rules(dir: &std::path::Path) -> anyhow::Result<delegraph_rules::RuleSet> {
    delegraph_rules::load_dir(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "rules in {} do not load:\n{}",
            dir.display(),
            lines.join("\n")
        )
    })
}

/// Decoder settings: `[decoders.opa]` of `delegraph.toml`, or the same
/// section alone in a file given to `replay --decoders`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodersSection {
    /// Where OPA decision logs keep the facts in `input`.
    #[serde(default)]
    pub opa: delegraph_decode::OpaMapping,
}

/// A file holding a `[decoders]` section (other sections are ignored, so
/// `delegraph.toml` itself can be given).
pub fn load_decoders(path: &Path) -> anyhow::Result<DecodersSection> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        decoders: DecodersSection,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let f: File = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(f.decoders)
}

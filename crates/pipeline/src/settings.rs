//! What the pipeline does with records, whichever way they arrive: the
//! settings replay ([`ReplayConfig`](crate::ReplayConfig)) and serve
//! ([`StreamConfig`](crate::StreamConfig)) share. Held once and turned into
//! the stitcher's, decoder's and pipeline's settings in one place, so the
//! same setting cannot mean one thing for files and another for Kafka.

use std::path::Path;
use std::sync::Arc;

use delegraph_decode::{DEFAULT_MAX_RECORD_BYTES, DocumentDecoder, OpaMapping};
use delegraph_detect::DetectConfig;
use delegraph_graph::{Inventory, StitchConfig};
use delegraph_model::Source;
use delegraph_rules::RuleSet;
use delegraph_store::FilingLimits;

use crate::PipelineError;
use crate::checkpoint::Checkpoint;
use crate::pipeline::{EventPipeline, PipelineOptions};

/// Events buffered per Arrow batch. Small batches keep the buffered events
/// in cache; the Parquet writer still groups rows into large row groups.
/// (Measured: 1024 rows ran decode+store 1.35x faster than 65536.)
pub const DEFAULT_BATCH_ROWS: usize = 1024;

/// How records are decoded, ordered, attributed, scored and stored.
#[derive(Debug, Clone)]
pub struct AnalysisSettings {
    /// How far (event time) records may be out of order and still be
    /// stitched in order. No default fits both entry points: a replay's
    /// files of different sources cover the same hours, a stream's
    /// sources arrive together (see [`new`](Self::new)).
    pub lateness_ns: i64,
    /// How long before an action a decision for the same instance and tool
    /// still binds to it when no decision id was propagated.
    pub decision_window_ns: i64,
    /// How far back a policy decision counts as the instance being under
    /// approval at all.
    pub approval_lookback_ns: i64,
    /// Records larger than this are dead-lettered.
    pub max_record_bytes: usize,
    /// Events buffered before they are encoded into a row group.
    pub batch_rows: usize,
    /// Detector thresholds (`detectors.toml`).
    pub detect: DetectConfig,
    /// The SOC's agent inventory (`agents.toml`), if any.
    pub inventory: Option<Inventory>,
    /// Sigma rules in force when the run starts.
    pub rules: Arc<RuleSet>,
    /// Where OPA decision logs keep the facts in `input`.
    pub opa: OpaMapping,
    /// Which times are filed under their own day partition.
    pub filing: FilingLimits,
}

impl AnalysisSettings {
    /// Defaults, with `lateness_ns` (the one setting whose default depends
    /// on the entry point); the approval windows are the stitcher's.
    pub fn new(lateness_ns: i64) -> Self {
        let stitch = StitchConfig::default();
        Self {
            lateness_ns,
            decision_window_ns: stitch.decision_window_ns,
            approval_lookback_ns: stitch.approval_lookback_ns,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            batch_rows: DEFAULT_BATCH_ROWS,
            detect: DetectConfig::default(),
            inventory: None,
            rules: Arc::new(RuleSet::empty()),
            opa: OpaMapping::default(),
            filing: FilingLimits::default(),
        }
    }

    /// The stitcher's settings: these windows over its default limits.
    pub fn stitch_config(&self) -> StitchConfig {
        StitchConfig {
            lateness_ns: self.lateness_ns,
            decision_window_ns: self.decision_window_ns,
            approval_lookback_ns: self.approval_lookback_ns,
            ..StitchConfig::default()
        }
    }

    /// The pipeline's options; `persist`: continue from the data
    /// directory's checkpoint and save one at the end.
    pub fn pipeline_options(&self, persist: bool) -> PipelineOptions {
        PipelineOptions {
            batch_rows: self.batch_rows,
            stitch: self.stitch_config(),
            detect: self.detect.clone(),
            persist,
            rules: self.rules.clone(),
            filing: self.filing,
        }
    }

    /// A decoder for documents of `format` (`None`: detected per record).
    pub fn decoder(&self, format: Option<Source>) -> DocumentDecoder {
        DocumentDecoder::new(format, self.max_record_bytes).with_opa_mapping(self.opa.clone())
    }

    /// Open a pipeline writing files named `name` under `data_dir`, with
    /// these settings and the inventory in place before the first record.
    pub(crate) fn open_pipeline(
        &self,
        data_dir: &Path,
        name: &str,
        persist: bool,
        checkpoint: Option<Checkpoint>,
    ) -> Result<EventPipeline, PipelineError> {
        let mut pipeline =
            EventPipeline::open(data_dir, name, self.pipeline_options(persist), checkpoint)?;
        if let Some(inventory) = &self.inventory {
            pipeline.set_inventory(inventory.clone());
        }
        Ok(pipeline)
    }
}

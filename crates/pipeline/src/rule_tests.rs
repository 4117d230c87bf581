//! `delegraph rules test`: every rule file's test events, run through the
//! real pipeline (decoders, stitcher, rules), checked against what the
//! file name says should happen.
//!
//! Beside `NAME.yml` sit `NAME.fire*.jsonl` (the file's rules must raise at
//! least one finding) and `NAME.quiet*.jsonl` (they must raise none). Each
//! holds vendor records, one per line, in arrival order, so correlation
//! tests can deliver events out of order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use delegraph_decode::{DocumentDecoder, OriginBase};
use delegraph_rules::{RuleError, RuleSet};

use crate::{EventPipeline, PipelineError, PipelineOptions};

/// What a test file expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// At least one finding of the file's rules.
    Fire,
    /// None.
    Quiet,
}

/// One test file and its result.
#[derive(Debug, Clone)]
pub struct RuleTestOutcome {
    /// The rule file.
    pub rule_file: PathBuf,
    /// The test events.
    pub case: PathBuf,
    /// What was expected.
    pub expect: Expect,
    /// Findings of the file's rules the events raised (rule id, summary).
    pub fired: Vec<(String, String)>,
    /// Events the case held, and records that failed to decode.
    pub events: u64,
    /// Records the decoders rejected (a broken test file).
    pub rejected: u64,
}

impl RuleTestOutcome {
    /// Whether the expectation held (and every record decoded).
    pub fn passed(&self) -> bool {
        self.rejected == 0
            && match self.expect {
                Expect::Fire => !self.fired.is_empty(),
                Expect::Quiet => self.fired.is_empty(),
            }
    }
}

/// Why rule tests could not run.
#[derive(Debug, thiserror::Error)]
pub enum RuleTestError {
    /// The rules do not load.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<RuleError>),
    /// A test could not be run.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A test file could not be read, or scratch space made.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path, source: std::io::Error) -> RuleTestError {
    RuleTestError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The test files of rule file `rule`.
pub fn test_cases(rule: &Path) -> Vec<(PathBuf, Expect)> {
    let (Some(dir), Some(stem)) = (rule.parent(), rule.file_stem().and_then(|s| s.to_str())) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(stem).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        if !rest.ends_with(".jsonl") {
            continue;
        }
        if rest.starts_with("fire") {
            out.push((entry.path(), Expect::Fire));
        } else if rest.starts_with("quiet") {
            out.push((entry.path(), Expect::Quiet));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Run every rule file's tests under `dir` (the whole directory's rules
/// loaded, as in service).
pub fn run_rule_tests(dir: &Path) -> Result<Vec<RuleTestOutcome>, RuleTestError> {
    let set = Arc::new(delegraph_rules::load_dir(dir).map_err(RuleTestError::Rules)?);
    let files = delegraph_rules::rule_files(dir).map_err(|e| RuleTestError::Rules(vec![e]))?;
    let mut out = Vec::new();
    for file in files {
        let ids = file_rule_ids(&file);
        for (case, expect) in test_cases(&file) {
            out.push(run_case(&set, &file, &ids, &case, expect)?);
        }
    }
    Ok(out)
}

/// Ids of the rules, correlations and sequences defined in one file.
fn file_rule_ids(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let name = file.display().to_string();
    match delegraph_rules::compile_texts(&[(name, text)]) {
        Ok(set) => set
            .rules()
            .iter()
            .map(|r| r.id.clone())
            .chain(set.correlations().iter().map(|c| c.id.clone()))
            .chain(set.sequences().iter().map(|s| s.id.clone()))
            .collect(),
        // Correlations referencing rules of other files: fall back to the
        // ids written in the file.
        Err(_) => std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("id:"))
            .map(|s| s.trim().trim_matches(['"', '\'']).to_owned())
            .collect(),
    }
}

fn run_case(
    set: &Arc<RuleSet>,
    file: &Path,
    ids: &[String],
    case: &Path,
    expect: Expect,
) -> Result<RuleTestOutcome, RuleTestError> {
    let scratch = tempfile::tempdir().map_err(|e| io(Path::new("temporary directory"), e))?;
    let mut opts = PipelineOptions::new(1024);
    opts.rules = set.clone();
    let mut pipeline = EventPipeline::open(scratch.path(), "rule-test", opts, None)?;
    pipeline.keep_outputs();
    let bytes = std::fs::read(case).map_err(|e| io(case, e))?;
    let decoder = DocumentDecoder::new(None, delegraph_decode::DEFAULT_MAX_RECORD_BYTES);
    let base = OriginBase::File {
        path: case.display().to_string(),
    };
    pipeline.ingest(&decoder, &bytes, &base, bytes.len() as u64)?;
    pipeline.release_held()?;
    let events = pipeline.stats().events();
    let rejected = pipeline.stats().dead_letters();
    let (sealed, _) = pipeline.seal("rule-test-end", 0, Vec::new())?;
    let fired = sealed
        .findings
        .into_iter()
        .filter_map(|f| {
            f.rule_id
                .filter(|id| ids.contains(id))
                .map(|id| (id, f.summary))
        })
        .collect();
    Ok(RuleTestOutcome {
        rule_file: file.to_owned(),
        case: case.to_owned(),
        expect,
        fired,
        events,
        rejected,
    })
}

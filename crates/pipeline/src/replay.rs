//! `delegraph replay`: files through the pipeline into the store.

use std::path::PathBuf;
use std::time::Instant;

use delegraph_decode::OriginBase;
use delegraph_ingest::read_document;
use delegraph_model::Source;

use crate::checkpoint::Checkpoint;
use crate::settings::AnalysisSettings;
use crate::{PipelineError, RunStats};

/// A replay orders its whole input by default: files of different sources
/// cover the same hours, so any bound would split their events apart.
/// `--lateness` sets one to cap memory on large backfills.
const LATENESS_NS: i64 = i64::MAX;

/// Settings of a replay run.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Where tables are written.
    pub data_dir: PathBuf,
    /// Decode every record as this format instead of detecting it.
    pub format: Option<Source>,
    /// Files larger than this (after decompression) are refused.
    pub max_file_bytes: u64,
    /// Continue from the data directory's checkpoint (baselines, bindings,
    /// open instances) and save it at the end.
    pub persist: bool,
    /// What is done with the records (shared with the stream).
    pub analysis: AnalysisSettings,
    /// Also write the run's findings here as OCSF Detection Finding JSON
    /// lines (after the tables are committed).
    pub ocsf: Option<PathBuf>,
}

impl ReplayConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            format: None,
            max_file_bytes: 4 << 30,
            persist: true,
            analysis: AnalysisSettings::new(LATENESS_NS),
            ocsf: None,
        }
    }
}

/// Progress callback payload, after each file.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Bytes read so far.
    pub bytes: u64,
    /// Events decoded so far.
    pub events: u64,
    /// Records dead-lettered so far.
    pub dead_letters: u64,
}

/// Replay `files` into the store under `config.data_dir`.
///
/// The output files are named after a hash of the inputs' names and
/// contents (the run id). With `persist`, the run continues from the data
/// directory's checkpoint and replaying inputs already applied does
/// nothing; without it, replaying again replaces the earlier output.
pub fn replay_files(
    files: &[String],
    config: &ReplayConfig,
    mut progress: impl FnMut(Progress),
) -> Result<RunStats, PipelineError> {
    let started = Instant::now();
    let analysis = &config.analysis;
    let decoder = analysis.decoder(config.format);
    let mut docs = Vec::with_capacity(files.len());
    // Inputs set aside whole: (path, reason, detail).
    let mut unread = Vec::new();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for path in files {
        hasher.update(path.as_bytes());
        match read_document(path, config.max_file_bytes) {
            Ok(doc) => {
                hasher.update(&doc.bytes);
                docs.push(doc);
            }
            Err(e) => {
                // An input too large or a bomb loses only itself; a file
                // that cannot be opened stops the run before it starts.
                let Some(reason) = e.input_reason() else {
                    return Err(e.into());
                };
                let detail = e.to_string();
                hasher.update(detail.as_bytes());
                unread.push((path.clone(), reason, detail));
            }
        }
    }
    // What decodes differently must name a different run.
    hasher.update(config.format.map_or("auto", |f| f.as_str()).as_bytes());
    hasher.update(&analysis.max_record_bytes.to_le_bytes());
    hasher.update(&analysis.rules.digest().to_le_bytes());
    let run_id = format!("replay-{:016x}", hasher.digest());
    crate::pipeline::remove_all_partials(&config.data_dir)?;
    let checkpoint = if config.persist {
        Checkpoint::load(&config.data_dir)?
    } else {
        None
    };
    if checkpoint
        .as_ref()
        .is_some_and(|c| c.runs.contains(&run_id))
    {
        return Ok(RunStats {
            already_applied: true,
            elapsed: started.elapsed(),
            ..RunStats::default()
        });
    }
    let mut pipeline =
        analysis.open_pipeline(&config.data_dir, &run_id, config.persist, checkpoint)?;
    for (path, reason, detail) in unread {
        pipeline.reject_input(&path, reason, detail)?;
    }
    for doc in docs {
        let base = OriginBase::File {
            path: doc.path.clone(),
        };
        pipeline.ingest(&decoder, &doc.bytes, &base, doc.raw_len)?;
        if let Some(damage) = doc.damage {
            // What decompressed before the break was decoded (a record
            // cut in half is dead-lettered as truncated); the file says
            // why the rest is missing.
            pipeline.reject_input(&doc.path, "truncated_input", damage)?;
        }
        let s = pipeline.stats();
        progress(Progress {
            bytes: s.bytes,
            events: s.events(),
            dead_letters: s.dead_letters(),
        });
    }
    if config.ocsf.is_some() {
        pipeline.keep_outputs();
    }
    let (mut stats, findings) = pipeline.finish_keeping()?;
    if let Some(path) = &config.ocsf {
        crate::write_ocsf_lines(path, &findings)?;
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

//! `delegraph replay`: files through the pipeline into the store.
//!
//! Two passes: the first reads every input in pieces to name the run and
//! keeps them while they fit the in-memory budget (`inputs`); the second
//! feeds them to the pipeline, in the order given when they were kept,
//! else by a merge on the event times the first pass indexed (`merge`).
//! Either way events reach the analyzers in the same order.

mod ahead;
mod inputs;
mod merge;

use std::path::PathBuf;
use std::time::Instant;

use delegraph_model::Source;

use crate::checkpoint::Checkpoint;
use crate::settings::AnalysisSettings;
use crate::{PipelineError, RunStats};

/// A replay orders its whole input by default: files of different sources
/// cover the same hours, so any bound would split their events apart.
/// `--lateness` sets one to cap memory on large backfills.
const LATENESS_NS: i64 = i64::MAX;

/// Decompressed input a replay holds whole (all files together) before it
/// orders by an index of event times instead.
pub const DEFAULT_IN_MEMORY_BYTES: u64 = 256 << 20;

/// Size of the pieces inputs are read in (more when a value is longer).
/// A merge holds about a piece's worth of events per input at once: 1 MiB
/// held 9.5k events where 8 MiB held 58k (7 sources' daily files), and ran
/// faster.
pub const DEFAULT_PIECE_BYTES: usize = 1 << 20;

/// Settings of a replay run.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Where tables are written.
    pub data_dir: PathBuf,
    /// Decode every record as this format instead of detecting it.
    pub format: Option<Source>,
    /// Files larger than this (after decompression) are refused.
    pub max_file_bytes: u64,
    /// Inputs up to this many bytes (decompressed, all together) are held
    /// whole; larger ones are read twice, the second time merged by event
    /// time, holding only the events that overlap in time.
    pub in_memory_bytes: u64,
    /// Inputs are read in pieces of about this many bytes.
    pub piece_bytes: usize,
    /// Threads decoding pieces (0: one per core). The pipeline takes
    /// their events in input order, so the output does not depend on it.
    pub threads: usize,
    /// Continue from the data directory's checkpoint (baselines, bindings,
    /// open instances) and save it at the end.
    pub persist: bool,
    /// Keep this much event time at the end held for the next replay
    /// (see `EventPipeline::carry_over`); with `persist` only.
    pub carry_over_ns: Option<i64>,
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
            in_memory_bytes: DEFAULT_IN_MEMORY_BYTES,
            piece_bytes: DEFAULT_PIECE_BYTES,
            threads: 0,
            persist: true,
            carry_over_ns: None,
            analysis: AnalysisSettings::new(LATENESS_NS),
            ocsf: None,
        }
    }
}

/// Progress callback payload, after each file (each piece when merging).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The first pass (reading and indexing every input) is under way; the
    /// counts start again with the second.
    pub indexing: bool,
    /// Bytes read so far.
    pub bytes: u64,
    /// Events decoded so far.
    pub events: u64,
    /// Records dead-lettered so far.
    pub dead_letters: u64,
}

/// Where the `index`th input's events are numbered from (see
/// `EventPipeline::set_input_place`): room for 2^32 events per input.
fn input_place(index: usize) -> u64 {
    (index as u64) << 32
}

/// Replay `files` into the store under `config.data_dir`.
///
/// The output files are named after a hash of the inputs' names and
/// contents (the run id). With `persist`, the run continues from the data
/// directory's checkpoint and replaying inputs already applied does
/// nothing; without it, replaying again replaces the earlier output.
/// A run that keeps state beside any other writer of the data directory
/// is refused at once (see [`delegraph_store::WriterLock`]), before any
/// input is read; runs without state may run beside one another.
pub fn replay_files(
    files: &[String],
    config: &ReplayConfig,
    progress: impl FnMut(Progress),
) -> Result<RunStats, PipelineError> {
    let started = Instant::now();
    let _writer = if config.persist {
        delegraph_store::WriterLock::acquire(&config.data_dir, "a replay")?
    } else {
        delegraph_store::WriterLock::acquire_shared(&config.data_dir, "a replay without state")?
    };
    let decoder = config.analysis.decoder(config.format);
    let workers = crate::in_order::worker_count(config.threads);
    let shared = ahead::Shared::default();
    std::thread::scope(|scope| {
        // Dropped when the run ends, which stops its workers.
        let ahead = ahead::DecodeAhead::start(scope, &shared, &decoder, workers);
        let read = inputs::ReadSettings {
            decoder: &decoder,
            max_file_bytes: config.max_file_bytes,
            piece_bytes: config.piece_bytes,
            in_memory_bytes: config.in_memory_bytes,
            workers,
            ahead: &ahead,
        };
        replay_read(files, config, &read, started, progress)
    })
}

/// [`replay_files`] with what it reads by.
fn replay_read(
    files: &[String],
    config: &ReplayConfig,
    read: &inputs::ReadSettings,
    started: Instant,
    mut progress: impl FnMut(Progress),
) -> Result<RunStats, PipelineError> {
    let analysis = &config.analysis;
    let decoder = read.decoder;
    let inputs = inputs::read_inputs(files, read, |bytes| {
        progress(Progress {
            indexing: true,
            bytes,
            events: 0,
            dead_letters: 0,
        });
    })?;
    let inputs::Inputs {
        mut hasher,
        unread,
        files: mut read_files,
        held,
    } = inputs;
    // What decodes differently must name a different run.
    hasher.update(config.format.map_or("auto", |f| f.as_str()).as_bytes());
    hasher.update(&analysis.max_record_bytes.to_le_bytes());
    hasher.update(&analysis.rules.digest().to_le_bytes());
    if let Some(ns) = config.carry_over_ns {
        // It decides which rows this run writes.
        hasher.update(b"carry-over");
        hasher.update(&ns.to_le_bytes());
    }
    let run_id = format!("replay-{:016x}", hasher.digest());
    // The layout first: a store to convert says so before its state is read.
    delegraph_store::refuse_old_layout(&config.data_dir)?;
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
    let mut analysis = analysis.clone();
    if let Some(ns) = config.carry_over_ns {
        // Nothing that may be carried over is released for lateness.
        analysis.lateness_ns = analysis.lateness_ns.max(ns);
    }
    let mut pipeline =
        analysis.open_pipeline(&config.data_dir, &run_id, config.persist, checkpoint)?;
    if let Some(ns) = config.carry_over_ns {
        pipeline.carry_over(ns, inputs::newest(&read_files));
    }
    for (path, reason, detail) in unread {
        pipeline.reject_input(&path, reason, detail)?;
    }
    let report = |p: &crate::EventPipeline| {
        let s = p.stats();
        Progress {
            indexing: false,
            bytes: s.bytes,
            events: s.events() + s.duplicates + p.held_events() as u64,
            dead_letters: s.dead_letters(),
        }
    };
    let mut merged = None;
    if held {
        feed_held(&mut pipeline, read, &mut read_files, |p| {
            progress(report(p))
        })?;
    } else {
        // An input without pieces has nothing to merge: only its damage.
        for file in read_files.iter().filter(|f| f.pieces.is_empty()) {
            pipeline.count_document(file.raw_len);
            end_input(&mut pipeline, file)?;
        }
        let merge = merge::MergeSettings {
            decoder,
            max_file_bytes: config.max_file_bytes,
            piece_bytes: config.piece_bytes,
            workers: read.workers,
        };
        merged = Some(merge::replay_in_time_order(
            &mut pipeline,
            &read_files,
            &merge,
            |p| progress(report(p)),
        )?);
    }
    if config.ocsf.is_some() {
        pipeline.keep_outputs();
    }
    let (mut stats, findings) = pipeline.finish_keeping()?;
    if let Some(path) = &config.ocsf {
        crate::write_ocsf_lines(path, &findings)?;
    }
    stats.merged = merged;
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// One step of feeding inputs kept whole.
enum Step<P> {
    /// The `index`th input begins.
    Start(usize),
    /// A piece of the `index`th input (raw, then decoded).
    Piece(usize, P),
    /// The `index`th input ends.
    End(usize),
}

/// Feed inputs kept whole, in the order given, each in its order, their
/// pieces decoded on `threads` threads (see [`crate::in_order`]) and each
/// let go once decoded (its events are held, its bytes no longer needed).
/// `progress` is called after each input.
fn feed_held(
    pipeline: &mut crate::EventPipeline,
    read: &inputs::ReadSettings,
    files: &mut [inputs::InputFile],
    mut progress: impl FnMut(&crate::EventPipeline),
) -> Result<(), PipelineError> {
    let mut steps = Vec::new();
    for (index, file) in files.iter_mut().enumerate() {
        steps.push(Step::Start(index));
        let kept = file.pieces.iter_mut().filter_map(|e| e.held.take());
        steps.extend(kept.map(|kept| Step::Piece(index, kept)));
        steps.push(Step::End(index));
    }
    let files = &*files;
    let decoder = read.decoder;
    let decode = |step: Step<inputs::Kept>| match step {
        Step::Piece(index, kept) => {
            let file = &files[index];
            let decoded = match kept {
                inputs::Kept::Ahead(slot) => {
                    let ahead = read.ahead.take(slot);
                    if file.utf8 {
                        ahead.collected
                    } else {
                        let piece = delegraph_ingest::Piece {
                            bytes: ahead.text.as_bytes().to_vec(),
                            first_line: ahead.first_line,
                        };
                        file.decode_alone(decoder, piece)
                    }
                }
                inputs::Kept::Piece(piece) => file.decode_alone(decoder, piece),
            };
            Step::Piece(index, decoded)
        }
        Step::Start(index) => Step::Start(index),
        Step::End(index) => Step::End(index),
    };
    let workers = read.workers;
    crate::in_order::map_in_order(steps.into_iter(), workers, 2 * workers, decode, |step| {
        match step {
            Step::Start(index) => {
                pipeline.set_input_place(input_place(index));
                pipeline.count_document(files[index].raw_len);
            }
            Step::Piece(_, decoded) => pipeline.ingest_decoded(decoded)?,
            Step::End(index) => {
                end_input(pipeline, &files[index])?;
                progress(pipeline);
            }
        }
        Ok(())
    })
}

/// An input held whole was fed: if it ended early, say why. What
/// decompressed before the break was decoded (a record cut in half is
/// dead-lettered as truncated); the file says why the rest is missing.
fn end_input(
    pipeline: &mut crate::EventPipeline,
    file: &inputs::InputFile,
) -> Result<(), PipelineError> {
    match &file.damage {
        Some(damage) => pipeline.reject_input(&file.path, "truncated_input", damage.clone()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;

//! A table written beside the analyzers. For the events, building each
//! batch's Arrow columns and encoding its Parquet is the largest part of
//! what the pipeline does per event after decoding, and needs nothing the
//! analyzers do; the findings' encoding is smaller but grows with what is
//! found. So both run on threads of their own (one builds the batches,
//! one encodes them) instead of between the analyzers. Batches reach the
//! table in the order they were handed over, so the files are the same.
//! Ending a run's files and filing the next run's rows are handed over in
//! the same order, so an epoch's end does not wait for the batches still
//! being encoded: its files are finished where the encoding happens, and
//! whoever commits them waits for them ([`ClosingFiles`]).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use delegraph_store::{ClosedFiles, DayFiling, RecordBatch, TableAppend, TableLog};

use crate::PipelineError;

/// Batches handed over and not yet being written: one waits while another
/// is written, so the pipeline rarely waits and holds little.
const WAITING_BATCHES: usize = 1;

/// What the writer's threads are handed, in order: rows (events, then
/// their batch), the filing of the rows that follow, or the end of the
/// run's files (answered with them).
enum Work<T> {
    Rows(T),
    Filing(DayFiling),
    Close(SyncSender<Result<ClosedFiles, PipelineError>>),
}

/// Builds the batch of rows handed over (on the first of the writer's
/// threads).
pub(crate) type BuildBatch<R> = fn(R) -> Result<RecordBatch, PipelineError>;

/// A table, with the threads writing into it while they run.
pub(crate) struct TableWriter<R> {
    /// The table while no thread writes into it.
    table: Option<TableAppend>,
    running: Option<Running<R>>,
    /// The table's log (for compactions), whoever holds the table.
    log: Arc<TableLog>,
    build: BuildBatch<R>,
    /// Names the threads.
    name: &'static str,
}

struct Running<R> {
    send: SyncSender<Work<R>>,
    /// Gives the table back, and the first error, once the batches handed
    /// over are written.
    done: JoinHandle<(TableAppend, Result<(), PipelineError>)>,
}

/// A run's files being finished after the batches handed over before
/// them.
pub(crate) enum ClosingFiles {
    Closed(ClosedFiles),
    /// The table's name, and where the files will come.
    Closing(&'static str, Receiver<Result<ClosedFiles, PipelineError>>),
}

impl ClosingFiles {
    /// The files, once the batches before them are written.
    pub fn wait(self) -> Result<ClosedFiles, PipelineError> {
        match self {
            Self::Closed(files) => Ok(files),
            // No answer: the writer stopped on an error before it came to
            // the close, which the pipeline's next write reports.
            Self::Closing(table, answer) => answer.recv().map_err(|_| PipelineError::State {
                path: table.into(),
                message: "the writer stopped on an earlier error before finishing the run's files"
                    .into(),
            })?,
        }
    }
}

impl<R: Send + 'static> TableWriter<R> {
    /// Write into `table` the batches `build` makes of the rows handed
    /// over; `name` names the threads.
    pub fn new(table: TableAppend, build: BuildBatch<R>, name: &'static str) -> Self {
        Self {
            log: table.log(),
            table: Some(table),
            running: None,
            build,
            name,
        }
    }

    /// Hand `rows` over to be written (on the writer's threads, started on
    /// the first batch). An error of an earlier batch is returned here or
    /// by [`table`](Self::table).
    pub fn write(&mut self, rows: R) -> Result<(), PipelineError> {
        let running = match &mut self.running {
            Some(running) => running,
            slot => {
                let table = self.table.take().ok_or(PipelineError::WriterGone)?;
                slot.insert(spawn(table, self.build, self.name)?)
            }
        };
        if running.send.send(Work::Rows(rows)).is_err() {
            return Err(self.stopped());
        }
        Ok(())
    }

    /// The error the writer's thread stopped on.
    fn stopped(&mut self) -> PipelineError {
        match self.table() {
            Ok(_) => PipelineError::WriterGone,
            Err(e) => e,
        }
    }

    /// File the rows handed over from now on by `filing`.
    pub fn set_filing(&mut self, filing: DayFiling) -> Result<(), PipelineError> {
        match &self.running {
            Some(r) if r.send.send(Work::Filing(filing)).is_err() => Err(self.stopped()),
            Some(_) => Ok(()),
            None => {
                self.table()?.set_filing(filing);
                Ok(())
            }
        }
    }

    /// End the run's files after the batches handed over so far, without
    /// waiting for them to be written.
    pub fn close(&mut self) -> Result<ClosingFiles, PipelineError> {
        let Some(running) = &self.running else {
            return Ok(ClosingFiles::Closed(self.table()?.close()?));
        };
        let (answer, closing) = sync_channel(1);
        if running.send.send(Work::Close(answer)).is_err() {
            return Err(self.stopped());
        }
        Ok(ClosingFiles::Closing(self.name, closing))
    }

    /// The table's log.
    pub fn log(&self) -> Arc<TableLog> {
        self.log.clone()
    }
}

impl<R> TableWriter<R> {
    /// The table, once every batch handed over is written.
    fn table(&mut self) -> Result<&mut TableAppend, PipelineError> {
        if let Some(Running { send, done }) = self.running.take() {
            drop(send);
            let (table, written) = done.join().map_err(|_| PipelineError::WriterGone)?;
            self.table = Some(table);
            written?;
        }
        self.table.as_mut().ok_or(PipelineError::WriterGone)
    }
}

impl<R> Drop for TableWriter<R> {
    /// The threads end once what was handed over is written: a run dropped
    /// without its files published leaves no thread writing into a
    /// directory that may be going away.
    fn drop(&mut self) {
        // An error or panic there matters to no one now.
        let _ = self.table();
    }
}

/// Two threads in a row: one builds each batch's Arrow columns (and frees
/// its rows), the other encodes and writes the batches, in the order
/// built. For the events, either alone was the pipeline's slowest thread
/// on CloudTrail (the analyzers waited on it); split, they share the cores
/// the analyzers leave.
fn spawn<R: Send + 'static>(
    mut table: TableAppend,
    build: BuildBatch<R>,
    name: &'static str,
) -> Result<Running<R>, PipelineError> {
    let (send, receive) = sync_channel::<Work<R>>(WAITING_BATCHES);
    let (send_built, built) = sync_channel(WAITING_BATCHES);
    let building = std::thread::Builder::new()
        .name(format!("delegraph-{name}-batches"))
        .spawn(move || {
            for work in receive {
                let built = match work {
                    Work::Rows(rows) => Work::Rows(build(rows)?),
                    Work::Filing(f) => Work::Filing(f),
                    Work::Close(answer) => Work::Close(answer),
                };
                if send_built.send(built).is_err() {
                    // The writing thread stopped on an error of its own.
                    break;
                }
            }
            Ok::<_, PipelineError>(())
        })
        .map_err(PipelineError::WriterThread)?;
    let done = std::thread::Builder::new()
        .name(format!("delegraph-{name}"))
        .spawn(move || {
            let mut written = Ok(());
            // Ending the loop drops the receiver, which stops the building
            // thread if it is still at work.
            for work in built {
                match work {
                    Work::Rows(batch) => written = table.write(batch).map_err(PipelineError::from),
                    Work::Filing(f) => table.set_filing(f),
                    Work::Close(answer) => {
                        let closed = table.close().map_err(PipelineError::from);
                        // The error itself goes to whoever waits for the
                        // files; the writer stops, saying where.
                        written = closed
                            .as_ref()
                            .map(|_| ())
                            .map_err(|e| PipelineError::State {
                                path: name.into(),
                                message: format!("finishing a run's files: {e}"),
                            });
                        // Nobody waits for a run abandoned on an error.
                        let _ = answer.send(closed);
                    }
                }
                if written.is_err() {
                    break;
                }
            }
            let built = building.join().map_err(|_| PipelineError::WriterGone);
            // The first error: a batch that could not be built was never
            // handed over, so the writing ended without one of its own.
            (table, built.and_then(|b| b).and(written))
        })
        .map_err(PipelineError::WriterThread)?;
    Ok(Running { send, done })
}

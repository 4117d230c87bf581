//! The events table written beside the analyzers: building each batch's
//! Arrow columns and encoding its Parquet is the largest part of what the
//! pipeline does per event after decoding, and needs nothing the analyzers
//! do, so it runs on threads of its own (one builds, one encodes) instead
//! of between them. Batches reach the table in the order they were handed
//! over, so the files are the same.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use delegraph_model::NormEvent;
use delegraph_store::{TableAppend, events_batch};

use crate::PipelineError;

/// Batches handed over and not yet being written: one waits while another
/// is written, so the pipeline rarely waits and holds little.
const WAITING_BATCHES: usize = 1;

/// The events table, with the thread writing into it while one runs.
pub(crate) struct EventsWriter {
    /// The table while no thread writes into it.
    table: Option<TableAppend>,
    running: Option<Running>,
}

struct Running {
    send: SyncSender<Vec<NormEvent>>,
    /// Gives the table back, and the first error, once the batches handed
    /// over are written.
    done: JoinHandle<(TableAppend, Result<(), PipelineError>)>,
}

impl EventsWriter {
    pub fn new(table: TableAppend) -> Self {
        Self {
            table: Some(table),
            running: None,
        }
    }

    /// Hand `events` over to be written (on the writer's thread, started
    /// on the first batch). An error of an earlier batch is returned here
    /// or by [`table`](Self::table).
    pub fn write(&mut self, events: Vec<NormEvent>) -> Result<(), PipelineError> {
        let running = match &mut self.running {
            Some(running) => running,
            slot => {
                let table = self.table.take().ok_or(PipelineError::WriterGone)?;
                slot.insert(spawn(table)?)
            }
        };
        if running.send.send(events).is_err() {
            // The thread stopped on an error: say which.
            self.table()?;
            return Err(PipelineError::WriterGone);
        }
        Ok(())
    }

    /// The table, once every batch handed over is written (to commit it,
    /// or file the next rows otherwise).
    pub fn table(&mut self) -> Result<&mut TableAppend, PipelineError> {
        if let Some(Running { send, done }) = self.running.take() {
            drop(send);
            let (table, written) = done.join().map_err(|_| PipelineError::WriterGone)?;
            self.table = Some(table);
            written?;
        }
        self.table.as_mut().ok_or(PipelineError::WriterGone)
    }
}

/// Two threads in a row: one builds each batch's Arrow columns (and frees
/// its events), the other encodes and writes the batches, in the order
/// built. Either alone was the pipeline's slowest thread on CloudTrail
/// (the analyzers waited on it); split, they share the cores the
/// analyzers leave.
fn spawn(mut table: TableAppend) -> Result<Running, PipelineError> {
    let (send, receive) = sync_channel::<Vec<NormEvent>>(WAITING_BATCHES);
    let (send_built, built) = sync_channel(WAITING_BATCHES);
    let building = std::thread::Builder::new()
        .name("delegraph-event-batches".to_owned())
        .spawn(move || {
            for events in receive {
                let batch = events_batch(&events)?;
                drop(events);
                if send_built.send(batch).is_err() {
                    // The writing thread stopped on an error of its own.
                    break;
                }
            }
            Ok::<_, PipelineError>(())
        })
        .map_err(PipelineError::WriterThread)?;
    let done = std::thread::Builder::new()
        .name("delegraph-events".to_owned())
        .spawn(move || {
            let mut written = Ok(());
            // Ending the loop drops the receiver, which stops the building
            // thread if it is still at work.
            for batch in built {
                written = table.write(batch).map_err(PipelineError::from);
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

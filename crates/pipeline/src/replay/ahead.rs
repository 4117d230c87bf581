//! Pieces decoded while the first pass is still reading. A replay held
//! whole used to read every input before decoding any, so the reading
//! (about a sixth of a CloudTrail replay) ran on one core while the others
//! waited. Workers started before the first pass decode each piece as it
//! is kept; the second pass takes the results in input order.
//!
//! With one thread there are no workers: a piece is decoded where it is
//! taken, on the calling thread, as it was before.
//!
//! A piece is decoded on its own as if its input were UTF-8 throughout;
//! the second pass decodes again, line by line, the pieces of an input
//! that turned out not to be, as it decodes pieces it was handed whole.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Condvar, Mutex, PoisonError};

use delegraph_decode::{Collected, DocumentDecoder, OriginBase};
use delegraph_model::RawText;

/// One piece to decode.
struct Job {
    slot: usize,
    path: String,
    piece: Decoded,
}

/// A piece and what it decoded to. Its text stays with it, to be decoded
/// again if its input is not UTF-8 throughout (its events share it anyway).
pub(super) struct Decoded {
    pub text: RawText,
    /// Lines of the input before it.
    pub first_line: u64,
    pub collected: Collected,
}

/// What the workers and the passes share.
#[derive(Default)]
pub(super) struct Shared {
    jobs: Mutex<Option<Receiver<Job>>>,
    results: Mutex<Results>,
    ready: Condvar,
    /// Set when nothing more will be taken (the run ended, or found it
    /// had been applied already): what is still handed over is skipped.
    stop: AtomicBool,
}

#[derive(Default)]
struct Results {
    /// By slot, each taken once.
    done: Vec<Option<Decoded>>,
    /// What a worker panicked with: re-raised where its result is taken.
    panicked: Option<Box<dyn Any + Send>>,
}

/// Hands pieces to the workers (see the module doc).
pub(super) struct DecodeAhead<'s> {
    /// To the workers; none with one thread.
    send: Option<Sender<Job>>,
    shared: &'s Shared,
    decoder: &'s DocumentDecoder,
    /// Slots handed out so far.
    handed: AtomicUsize,
    /// Pieces handed over while there are no workers, by slot.
    unsent: Mutex<std::collections::HashMap<usize, Job>>,
}

impl<'env> DecodeAhead<'env> {
    /// Start `workers` threads in `scope` decoding with `decoder` (none for
    /// one worker: the calling thread decodes). They end once this is
    /// dropped, skipping what is still handed to them.
    pub fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        shared: &'env Shared,
        decoder: &'env DocumentDecoder,
        workers: usize,
    ) -> Self {
        let mut send = None;
        if workers > 1 {
            let (to_workers, receive) = channel();
            *shared.jobs.lock().unwrap_or_else(PoisonError::into_inner) = Some(receive);
            for _ in 0..workers {
                scope.spawn(move || work(shared, decoder));
            }
            send = Some(to_workers);
        }
        Self {
            send,
            shared,
            decoder,
            handed: AtomicUsize::new(0),
            unsent: Mutex::default(),
        }
    }

    /// Hand `text`, a piece of `path` `first_line` lines in, to be decoded:
    /// the slot to [`take`](Self::take) it from.
    pub fn hand(&self, path: &str, text: RawText, first_line: u64) -> usize {
        let slot = self.handed.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            slot,
            path: path.to_owned(),
            piece: Decoded {
                text,
                first_line,
                collected: Collected::default(),
            },
        };
        match &self.send {
            // The workers end only once this is dropped, and a panic of
            // one is kept for `take`: the others still take jobs.
            Some(send) => {
                let _ = send.send(job);
            }
            None => {
                let mut unsent = self.unsent.lock().unwrap_or_else(PoisonError::into_inner);
                unsent.insert(slot, job);
            }
        }
        slot
    }

    /// The piece handed in as `slot`, decoded, once a worker has done it.
    /// A worker's panic is raised again here.
    pub fn take(&self, slot: usize) -> Decoded {
        let unsent = self
            .unsent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&slot);
        if let Some(job) = unsent {
            return decode(self.decoder, job);
        }
        let mut results = self
            .shared
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(decoded) = results.done.get_mut(slot).and_then(Option::take) {
                return decoded;
            }
            if let Some(panic) = results.panicked.take() {
                drop(results);
                resume_unwind(panic);
            }
            results = self
                .shared
                .ready
                .wait(results)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for DecodeAhead<'_> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// A worker: decode what is handed over until the sender is dropped.
fn work(shared: &Shared, decoder: &DocumentDecoder) {
    loop {
        let job = {
            let jobs = shared.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            match jobs.as_ref().map(Receiver::recv) {
                Some(Ok(job)) => job,
                _ => return,
            }
        };
        if shared.stop.load(Ordering::Relaxed) {
            continue;
        }
        let slot = job.slot;
        let decoded = catch_unwind(AssertUnwindSafe(|| decode(decoder, job)));
        let mut results = shared
            .results
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match decoded {
            Ok(decoded) => {
                if results.done.len() <= slot {
                    results.done.resize_with(slot + 1, || None);
                }
                results.done[slot] = Some(decoded);
            }
            Err(panic) => results.panicked = Some(panic),
        }
        shared.ready.notify_all();
    }
}

/// Decode one piece handed over.
fn decode(decoder: &DocumentDecoder, job: Job) -> Decoded {
    let Job {
        path, mut piece, ..
    } = job;
    let base = OriginBase::File { path };
    piece.collected =
        Collected::gather(|sink| decoder.decode_shared(&piece.text, piece.first_line, &base, sink));
    piece
}

#[cfg(test)]
mod tests {
    // Test helpers panic on purpose: a failed expectation is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Each piece of a fixture, as `(text, first_line)`: one record a piece.
    fn pieces() -> Vec<(RawText, u64)> {
        let text =
            std::fs::read_to_string(crate::fixture("cloudtrail/assume-role-chain.jsonl")).unwrap();
        let lines = text.lines().enumerate();
        lines
            .map(|(i, l)| (RawText::from(format!("{l}\n")), i as u64))
            .collect()
    }

    /// What the pieces decode to, taken in `order`, with `workers`.
    fn decoded(workers: usize, order: &[usize]) -> Vec<Vec<delegraph_model::NormEvent>> {
        let decoder = DocumentDecoder::default();
        let shared = Shared::default();
        std::thread::scope(|scope| {
            let ahead = DecodeAhead::start(scope, &shared, &decoder, workers);
            let slots: Vec<usize> = pieces()
                .into_iter()
                .map(|(text, line)| ahead.hand("trail.jsonl", text, line))
                .collect();
            let mut out = vec![Vec::new(); slots.len()];
            for &i in order {
                let d = ahead.take(slots[i]);
                out[i] = d.collected.events().cloned().collect();
            }
            out
        })
    }

    #[test]
    fn pieces_decoded_ahead_on_workers_are_what_one_thread_decodes_in_any_order() {
        let n = pieces().len();
        assert!(n > 2, "{n} pieces");
        let inline = decoded(1, &(0..n).collect::<Vec<_>>());
        assert!(inline.iter().all(|events| !events.is_empty()));
        let backwards: Vec<usize> = (0..n).rev().collect();
        assert_eq!(decoded(3, &backwards), inline);
    }
}

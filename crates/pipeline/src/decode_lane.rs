//! Kafka messages decoded on threads of their own while the consumer
//! thread polls and runs the pipeline, which takes their records back in
//! the order the messages were consumed: the tables are the ones decoding
//! in line would write.
//!
//! Messages go to the workers in batches (a batch is sent when full, or
//! when the consumer has nothing more fetched, or when everything handed
//! over is to be taken back), so the hand-over costs little per message.
//! Before an epoch ends (on time, before partitions are revoked, at
//! shutdown) the stream takes back every message handed over
//! ([`DecodeLane::send`], then [`DecodeLane::next`] until
//! [`DecodeLane::in_flight`] is zero), so the epoch's checkpoint covers
//! exactly the offsets whose records it holds, and a revoked partition has
//! nothing of ours still being decoded.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use delegraph_decode::{Collected, DocumentDecoder, OriginBase};

use crate::PipelineError;

/// Messages in one hand-over.
const BATCH_MESSAGES: usize = 64;

/// A message taken from a topic, to decode.
pub(crate) struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
    /// The topic's decoder.
    pub decoder: Arc<DocumentDecoder>,
}

/// A message decoded, as the pipeline takes it.
pub(crate) struct DecodedMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The payload's length, counted as the document's size.
    pub raw_len: u64,
    pub decoded: Collected,
}

/// A batch decoded, or what a worker's panic said.
type Outcome = Result<Vec<DecodedMessage>, String>;

/// Workers decoding batches, and the batches they finished, put back in
/// the order they were sent.
pub(crate) struct DecodeLane {
    /// To the workers; bounded, so a sender waits while they are busy.
    jobs: Option<SyncSender<(u64, Vec<Consumed>)>>,
    /// From the workers; unbounded: how far decoding runs ahead is bounded
    /// by the caller, with [`sent_not_taken`](Self::sent_not_taken).
    finished: Receiver<(u64, Outcome)>,
    workers: Vec<JoinHandle<()>>,
    /// The batch being filled.
    filling: Vec<Consumed>,
    /// Batches sent, and taken back.
    sent: u64,
    taken: u64,
    /// Payload bytes sent and not yet taken back.
    bytes_out: u64,
    /// Finished out of order, by batch number.
    waiting: BTreeMap<u64, Outcome>,
}

impl DecodeLane {
    /// Start `workers` decoding threads (at least one).
    pub fn start(workers: usize) -> Result<Self, PipelineError> {
        let workers = workers.max(1);
        let (jobs, queue) = mpsc::sync_channel::<(u64, Vec<Consumed>)>(2 * workers);
        let queue = Arc::new(Mutex::new(queue));
        let (done, finished) = mpsc::channel();
        let handles = (0..workers)
            .map(|i| {
                let (queue, done) = (queue.clone(), done.clone());
                std::thread::Builder::new()
                    .name(format!("decode-{i}"))
                    .spawn(move || work(&queue, &done))
                    .map_err(|e| PipelineError::State {
                        path: "decoding threads".into(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            jobs: Some(jobs),
            finished,
            workers: handles,
            filling: Vec::with_capacity(BATCH_MESSAGES),
            sent: 0,
            taken: 0,
            bytes_out: 0,
            waiting: BTreeMap::new(),
        })
    }

    /// Hand `message` over; the batch goes when full.
    pub fn push(&mut self, message: Consumed) -> Result<(), PipelineError> {
        self.filling.push(message);
        if self.filling.len() >= BATCH_MESSAGES {
            self.send()?;
        }
        Ok(())
    }

    /// Send the batch being filled, however short.
    pub fn send(&mut self) -> Result<(), PipelineError> {
        if self.filling.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.filling, Vec::with_capacity(BATCH_MESSAGES));
        let bytes: u64 = batch.iter().map(|m| m.payload.len() as u64).sum();
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send((self.sent, batch)).is_ok());
        if !sent {
            return Err(stopped("the decoding threads ended"));
        }
        self.sent += 1;
        self.bytes_out += bytes;
        Ok(())
    }

    /// Whether a batch is being filled (not yet sent).
    pub fn filling(&self) -> bool {
        !self.filling.is_empty()
    }

    /// Messages handed over and not yet taken back, in batches (the one
    /// being filled counts as one).
    #[cfg(test)]
    pub fn in_flight(&self) -> u64 {
        self.sent_not_taken().0 + u64::from(self.filling())
    }

    /// Batches sent and not yet taken back, and their payload bytes.
    pub fn sent_not_taken(&self) -> (u64, u64) {
        (self.sent - self.taken, self.bytes_out)
    }

    /// The next batch sent, in order: waiting for it when `wait`, else
    /// only if it is already done. `None` when every batch sent was taken
    /// back (the one being filled is not sent here). A worker's panic is
    /// returned as an error, once; the caller stops.
    pub fn next(&mut self, wait: bool) -> Result<Option<Vec<DecodedMessage>>, PipelineError> {
        if self.taken == self.sent {
            return Ok(None);
        }
        while !self.waiting.contains_key(&self.taken) {
            let arrived = if wait {
                self.finished.recv().ok()
            } else {
                match self.finished.try_recv() {
                    Ok(a) => Some(a),
                    Err(mpsc::TryRecvError::Empty) => return Ok(None),
                    Err(mpsc::TryRecvError::Disconnected) => None,
                }
            };
            let Some((number, outcome)) = arrived else {
                return Err(stopped("the decoding threads ended"));
            };
            self.waiting.insert(number, outcome);
        }
        let outcome = self.waiting.remove(&self.taken);
        self.taken += 1;
        match outcome {
            Some(Ok(batch)) => {
                let bytes: u64 = batch.iter().map(|m| m.raw_len).sum();
                self.bytes_out = self.bytes_out.saturating_sub(bytes);
                Ok(Some(batch))
            }
            Some(Err(panic)) => Err(stopped(&format!("decoding a message panicked: {panic}"))),
            None => Ok(None),
        }
    }
}

impl Drop for DecodeLane {
    fn drop(&mut self) {
        // Closing the queue ends the workers once it is empty.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn stopped(message: &str) -> PipelineError {
    PipelineError::State {
        path: "decoding threads".into(),
        message: message.to_owned(),
    }
}

/// A worker: decode batches until the queue closes. A panic is caught and
/// reported in the batch's place, so the stream stops with it instead of
/// waiting for a batch that never comes.
fn work(queue: &Mutex<Receiver<(u64, Vec<Consumed>)>>, done: &Sender<(u64, Outcome)>) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((number, batch)) = job else { return };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            batch.into_iter().map(decode).collect::<Vec<_>>()
        }))
        .map_err(|p| panic_text(p.as_ref()));
        if done.send((number, outcome)).is_err() {
            return;
        }
    }
}

fn decode(m: Consumed) -> DecodedMessage {
    let base = OriginBase::Kafka {
        topic: m.topic.clone(),
        partition: m.partition,
        offset: m.offset,
    };
    let raw_len = m.payload.len() as u64;
    let decoded = Collected::gather(|sink| m.decoder.decode_owned(m.payload, &base, sink));
    DecodedMessage {
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        raw_len,
        decoded,
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message(decoder: &Arc<DocumentDecoder>, offset: i64, payload: &str) -> Consumed {
        Consumed {
            topic: "audit".into(),
            partition: (offset % 3) as i32,
            offset,
            payload: payload.as_bytes().to_vec(),
            decoder: decoder.clone(),
        }
    }

    /// Messages come back decoded in the order they were handed over, as
    /// decoding each in line gives them, whatever the number of workers
    /// and however the batches were cut.
    #[test]
    fn messages_come_back_in_order_as_decoded_in_line() {
        let decoder = Arc::new(DocumentDecoder::default());
        let text = std::fs::read_to_string(crate::fixture("mcp/gateway.jsonl")).unwrap();
        let lines: Vec<&str> = text.lines().chain(["{not json", ""]).collect();
        let expected: Vec<String> = (0..300)
            .map(|i| {
                let m = decode(message(&decoder, i, lines[i as usize % lines.len()]));
                format!("{:?}", m.decoded)
            })
            .collect();
        for workers in [1, 3] {
            let mut lane = DecodeLane::start(workers).unwrap();
            let mut got = Vec::new();
            for i in 0..300 {
                lane.push(message(&decoder, i, lines[i as usize % lines.len()]))
                    .unwrap();
                if i % 97 == 0 {
                    lane.send().unwrap();
                }
                while let Some(batch) = lane.next(false).unwrap() {
                    got.extend(batch);
                }
            }
            assert!(lane.filling(), "the last batch is short");
            lane.send().unwrap();
            while let Some(batch) = lane.next(true).unwrap() {
                got.extend(batch);
            }
            assert_eq!((lane.in_flight(), lane.sent_not_taken()), (0, (0, 0)));
            let offsets: Vec<i64> = got.iter().map(|m| m.offset).collect();
            assert_eq!(offsets, (0..300).collect::<Vec<_>>(), "{workers} workers");
            let texts: Vec<String> = got.iter().map(|m| format!("{:?}", m.decoded)).collect();
            assert_eq!(texts, expected, "{workers} workers");
        }
    }
}

//! A sealed epoch made durable on a thread of its own, while the loop
//! takes the next epoch's messages: the loop stops only for the half of
//! the seal that needs the pipeline (see [`crate::pipeline::Sealed`]).
//! One epoch at a time: the loop waits for this one before it seals the
//! next, and commits the offsets this one covers only once it is durable.

use std::thread::JoinHandle;

use super::positions::Positions;
use super::publish::Delivery;
use crate::PipelineError;
use crate::pipeline::Sealed;

/// An epoch being made durable.
pub(super) struct Sealing {
    epoch: u64,
    job: JoinHandle<Result<Sealed, PipelineError>>,
    /// The next offset per partition once it is durable.
    offsets: Positions,
}

impl Sealing {
    /// Make `sealed` durable (with `delivery` to the topics, if any) on a
    /// thread of its own; the epoch covers the messages below `offsets`.
    pub fn start(
        epoch: u64,
        sealed: Sealed,
        delivery: Option<Delivery>,
        offsets: Positions,
    ) -> Result<Self, PipelineError> {
        let job = std::thread::Builder::new()
            .name("delegraph-seal".to_owned())
            .spawn(move || {
                sealed.make_durable(|s| match delivery {
                    Some(d) => d.deliver(s),
                    None => Ok(()),
                })
            })
            .map_err(|source| PipelineError::SealThread { epoch, source })?;
        Ok(Self {
            epoch,
            job,
            offsets,
        })
    }

    /// Whether waiting would return at once.
    pub fn is_done(&self) -> bool {
        self.job.is_finished()
    }

    /// The epoch once durable, and the offsets it covers. A panic of
    /// the thread is an error like any other (raised again, it would
    /// unwind through the consumer's drop, whose revocation would seal
    /// the next epoch over this one).
    pub fn wait(self) -> Result<(Sealed, Positions), PipelineError> {
        let epoch = self.epoch;
        let sealed = self
            .job
            .join()
            .map_err(|_| PipelineError::SealPanicked { epoch })??;
        Ok((sealed, self.offsets))
    }
}

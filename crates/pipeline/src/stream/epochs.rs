//! Ending the stream's epochs. The loop seals an epoch (the half that
//! needs the pipeline) and goes on taking messages while [`Sealing`] makes
//! it durable; a later turn collects it and commits the offsets it
//! covers. The next epoch is sealed only once the one before is durable,
//! and a revocation or a stop waits for both.

use std::time::Instant;

use delegraph_model::PartitionOffset;

use super::publish::Publisher;
use super::sealing::Sealing;
use super::{StreamState, epoch_name};
use crate::PipelineError;

/// What a turn of the loop did at the epochs' boundaries.
pub(super) struct Turn {
    /// An epoch ended in this turn: the next one may run other rules.
    pub ended: bool,
    /// An epoch became durable: the offsets to commit.
    pub commit: Option<Vec<PartitionOffset>>,
}

impl StreamState {
    pub(super) fn due(&self) -> bool {
        self.pending > 0
            && (self.pending >= self.cfg.epoch_max_messages
                || self.opened.elapsed() >= self.cfg.epoch_interval)
    }

    /// End the open epoch and wait until it is durable (see the module
    /// docs); returns the offsets to commit. A failure here or in any
    /// earlier step leaves the stream broken: it seals nothing more.
    pub(super) fn seal(&mut self) -> Result<Vec<PartitionOffset>, PipelineError> {
        if self.broken {
            return Err(PipelineError::State {
                path: "stream".into(),
                message: "an earlier error stopped the stream; the restart redoes the epoch".into(),
            });
        }
        self.collect_durable(true)?;
        self.start_seal()?;
        self.collect_durable(true)?;
        Ok(self.committable())
    }

    /// Seal the open epoch and start making it durable; whether there was
    /// one to seal (nothing taken in since the last: none). The previous
    /// epoch must have been collected. An error leaves the stream broken.
    pub(super) fn start_seal(&mut self) -> Result<bool, PipelineError> {
        let started = self.try_start_seal();
        self.broken |= started.is_err();
        started
    }

    fn try_start_seal(&mut self) -> Result<bool, PipelineError> {
        if self.sealing.is_some() {
            return Err(PipelineError::State {
                path: "stream".into(),
                message: format!(
                    "epoch {} is sealed before the one before is durable",
                    self.epoch + 1
                ),
            });
        }
        // Every message handed over is in the pipeline before its offset
        // is saved.
        let draining = Instant::now();
        self.take_all_decoded()?;
        self.publish_found()?;
        if self.pending == 0 {
            return Ok(false);
        }
        let drain = draining.elapsed();
        let epoch = self.epoch + 1;
        let (mut sealed, live_rows) =
            self.pipeline
                .seal(&epoch_name(epoch + 1), epoch, self.offsets.to_vec())?;
        sealed.timings.drain = drain;
        sealed.timings.held = draining.elapsed();
        let delivery = self.publisher.as_mut().map(Publisher::delivery);
        self.sealing = Some(Sealing::start(
            epoch,
            sealed,
            delivery,
            self.offsets.clone(),
        )?);
        // While the epoch is made durable, and before the next epoch's
        // first event.
        if let Some(wanted) = live_rows {
            wanted.send(&self.pipeline)?;
        }
        self.epoch = epoch;
        self.pending = 0;
        self.opened = Instant::now();
        Ok(true)
    }

    /// The epoch being made durable, once it is (at once if `wait`):
    /// what it covers becomes the durable position, and the offsets to
    /// commit are returned. `None`: no epoch was durable yet. An error
    /// (the epoch did not become durable) leaves the stream broken.
    pub(super) fn collect_durable(
        &mut self,
        wait: bool,
    ) -> Result<Option<Vec<PartitionOffset>>, PipelineError> {
        let collected = self.try_collect_durable(wait);
        self.broken |= collected.is_err();
        collected
    }

    fn try_collect_durable(
        &mut self,
        wait: bool,
    ) -> Result<Option<Vec<PartitionOffset>>, PipelineError> {
        if !self.sealing.as_ref().is_some_and(|s| wait || s.is_done()) {
            return Ok(None);
        }
        let Some(sealing) = self.sealing.take() else {
            return Ok(None);
        };
        let (sealed, offsets) = sealing.wait()?;
        self.metrics
            .note_durable(sealed.durable_at.unwrap_or_else(Instant::now));
        self.durable = offsets;
        self.metrics.note_epoch(&sealed, self.pipeline.stats());
        Ok(Some(self.committable()))
    }

    /// The durable offsets of the partitions assigned to us.
    pub(super) fn committable(&self) -> Vec<PartitionOffset> {
        self.durable
            .to_vec()
            .into_iter()
            .filter(|o| {
                self.owned
                    .iter()
                    .any(|(t, p)| *t == o.topic && *p == o.partition)
            })
            .collect()
    }
}

//! Findings and dead letters to their topics.
//!
//! Everything an epoch publishes is delivered before its checkpoint is
//! saved, so a restart never skips what the topics have not received.
//! When findings are sent is [`FindingsRelease`]'s choice:
//!
//! - **At the seal** (the default): a finding goes out once the events
//!   that made it are in the store. Its latency includes the wait for the
//!   epoch to end (`epoch_interval`) and the tables' commits.
//! - **As found**: a finding is queued for its topic in the same turn of
//!   the loop that made it; the seal sends only what is left. Its latency
//!   is the pipeline's and the broker's, however long epochs are.
//!
//! A crash after a finding is sent and before its epoch's checkpoint is
//! stored makes the restart redo the epoch and send its findings again
//! under the same `finding_id` key, in both modes. The redo may also find
//! something else, and the topic then keeps a finding the store never
//! holds: when it takes messages of several partitions (of one topic or
//! several) in another interleaving, when analysts' verdicts or the rules
//! changed meanwhile (the redo applies them before the epoch's events),
//! or when an idle release fell inside the epoch. At the seal that window
//! is the short time between delivery and the checkpoint; as found, it is
//! the whole epoch, and the part of the next one found while this one
//! was made durable.
//!
//! Dead letters always go at the seal: nobody waits on them in seconds.

use std::sync::Arc;

use delegraph_ingest::kafka::KafkaSink;
use serde::Serialize;

use super::StreamConfig;
use crate::PipelineError;
use crate::pipeline::{EventPipeline, Sealed};

/// When a stream's findings are sent to the findings topic (see the
/// module docs); `at_seal` or `as_found` in a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingsRelease {
    /// With the epoch that stored their events.
    #[default]
    AtSeal,
    /// In the turn of the loop that found them.
    AsFound,
}

/// The producer, and the stream's settings for what goes where.
pub(super) struct Publisher {
    sink: Arc<KafkaSink>,
    cfg: Arc<StreamConfig>,
    /// Findings of the open epoch already sent (as found).
    sent: usize,
}

impl Publisher {
    /// A producer when there is a topic to publish to.
    pub(super) fn connect(cfg: &Arc<StreamConfig>) -> Result<Option<Self>, PipelineError> {
        if cfg.findings_topic.is_none() && cfg.dead_letter_topic.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            sink: Arc::new(KafkaSink::connect(&cfg.kafka)?),
            cfg: cfg.clone(),
            sent: 0,
        }))
    }

    /// As found: queue the open epoch's findings not sent yet.
    pub(super) fn found(&mut self, pipeline: &EventPipeline) -> Result<(), PipelineError> {
        if self.cfg.findings_release != FindingsRelease::AsFound {
            return Ok(());
        }
        let Some(topic) = &self.cfg.findings_topic else {
            return Ok(());
        };
        for f in pipeline.epoch_findings_from(self.sent) {
            let event = crate::ocsf::detection_finding(f);
            send_json(&self.sink, topic, &f.finding_id, &event)?;
            self.sent += 1;
        }
        Ok(())
    }

    /// What is left to publish of the epoch being sealed, for the thread
    /// that makes it durable; the next epoch's findings count from zero.
    pub(super) fn delivery(&mut self) -> Delivery {
        Delivery {
            sink: self.sink.clone(),
            cfg: self.cfg.clone(),
            already: std::mem::take(&mut self.sent),
        }
    }
}

/// A sealed epoch's publishing: its findings not sent yet and its dead
/// letters, then the wait for their delivery and that of every message
/// sent before. The next epoch's findings, sent as found meanwhile, may
/// be among those waited for (numbered before this epoch's last), and a
/// failure of one fails this epoch too: the restart redoes it, as for any
/// failed delivery.
pub(super) struct Delivery {
    sink: Arc<KafkaSink>,
    cfg: Arc<StreamConfig>,
    /// The epoch's findings already sent (as found).
    already: usize,
}

impl Delivery {
    pub(super) fn deliver(self, sealed: &Sealed) -> Result<(), PipelineError> {
        debug_assert!(
            self.already <= sealed.findings.len(),
            "sent more than found"
        );
        if let Some(topic) = &self.cfg.findings_topic {
            for f in sealed.findings.get(self.already..).unwrap_or_default() {
                let event = crate::ocsf::detection_finding(f);
                send_json(&self.sink, topic, &f.finding_id, &event)?;
            }
        }
        if let Some(topic) = &self.cfg.dead_letter_topic {
            for d in &sealed.dead_letters {
                send_json(&self.sink, topic, &d.origin.to_string(), d)?;
            }
        }
        let sent = self.sink.sent();
        Ok(self.sink.wait_delivered(sent, self.cfg.publish_timeout)?)
    }
}

/// Queue `value` as JSON on `topic` under `key`.
fn send_json(
    sink: &KafkaSink,
    topic: &str,
    key: &str,
    value: &impl Serialize,
) -> Result<(), PipelineError> {
    let bytes = serde_json::to_vec(value).map_err(|e| PipelineError::State {
        path: format!("topic {topic}"),
        message: e.to_string(),
    })?;
    Ok(sink.send(topic, key, &bytes)?)
}

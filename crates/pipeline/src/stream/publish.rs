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
//! the whole epoch.
//!
//! Dead letters always go at the seal: nobody waits on them in seconds.

use std::time::Duration;

use delegraph_ingest::kafka::{KafkaSettings, KafkaSink};
use delegraph_model::Finding;

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

/// The producer and what goes where.
pub(super) struct Publisher {
    sink: KafkaSink,
    findings_topic: Option<String>,
    dead_letter_topic: Option<String>,
    release: FindingsRelease,
    /// How long delivery may take before the service stops.
    timeout: Duration,
    /// Findings of the open epoch already sent (as found).
    sent: usize,
}

impl Publisher {
    /// A producer when there is a topic to publish to.
    pub(super) fn connect(
        kafka: &KafkaSettings,
        findings_topic: Option<String>,
        dead_letter_topic: Option<String>,
        release: FindingsRelease,
        timeout: Duration,
    ) -> Result<Option<Self>, PipelineError> {
        if findings_topic.is_none() && dead_letter_topic.is_none() {
            return Ok(None);
        }
        let sink = KafkaSink::connect(kafka).map_err(self::kafka)?;
        Ok(Some(Self {
            sink,
            findings_topic,
            dead_letter_topic,
            release,
            timeout,
            sent: 0,
        }))
    }

    /// As found: queue the open epoch's findings not sent yet.
    pub(super) fn found(&mut self, pipeline: &EventPipeline) -> Result<(), PipelineError> {
        if self.release != FindingsRelease::AsFound {
            return Ok(());
        }
        let Some(topic) = &self.findings_topic else {
            return Ok(());
        };
        for f in pipeline.epoch_findings_from(self.sent) {
            send_finding(&mut self.sink, topic, f)?;
            self.sent += 1;
        }
        Ok(())
    }

    /// A sealed epoch's findings not sent yet and its dead letters, then
    /// wait until all are delivered.
    pub(super) fn sealed(&mut self, sealed: &Sealed) -> Result<(), PipelineError> {
        let already = std::mem::take(&mut self.sent);
        debug_assert!(already <= sealed.findings.len(), "sent more than found");
        if let Some(topic) = &self.findings_topic {
            for f in sealed.findings.get(already..).unwrap_or_default() {
                send_finding(&mut self.sink, topic, f)?;
            }
        }
        if let Some(topic) = &self.dead_letter_topic {
            for d in &sealed.dead_letters {
                let bytes = serde_json::to_vec(d).map_err(|e| PipelineError::State {
                    path: "dead-letter topic".into(),
                    message: e.to_string(),
                })?;
                self.sink
                    .send(topic, &d.origin.to_string(), &bytes)
                    .map_err(kafka)?;
            }
        }
        self.sink.flush(self.timeout).map_err(kafka)
    }
}

/// One finding as an OCSF Detection Finding keyed by its id.
fn send_finding(sink: &mut KafkaSink, topic: &str, f: &Finding) -> Result<(), PipelineError> {
    let event = crate::ocsf::detection_finding(f);
    let bytes = serde_json::to_vec(&event).map_err(|e| PipelineError::State {
        path: "findings topic".into(),
        message: e.to_string(),
    })?;
    sink.send(topic, &f.finding_id, &bytes).map_err(kafka)
}

/// A producer error as the pipeline's.
fn kafka(e: delegraph_ingest::kafka::KafkaError) -> PipelineError {
    PipelineError::Kafka(Box::new(e))
}

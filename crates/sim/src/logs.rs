//! Everything a run writes, held until the end so each file can be put in
//! arrival order, then written as JSON lines.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::SimError;
use crate::task::Task;

/// Everything written, before sorting into files.
#[derive(Default)]
pub(crate) struct Logs {
    /// (delivery time, record)
    pub(crate) cloudtrail: Vec<(f64, Value)>,
    pub(crate) otlp: Vec<(f64, Value)>,
    pub(crate) mcp: Vec<(f64, Value)>,
    pub(crate) github: Vec<(f64, Value)>,
    pub(crate) okta: Vec<(f64, Value)>,
    pub(crate) opa: Vec<(f64, Value)>,
    pub(crate) envelopes: Vec<(f64, Value)>,
    truth: Vec<Value>,
    pub(crate) scenarios: Vec<Value>,
}

/// Whose an event truly is, as its `truth.jsonl` line records it.
#[derive(Clone, Copy)]
pub(crate) struct Owner<'o> {
    /// The agent instance that did it; `None` for the runtime's own calls.
    pub(crate) instance: Option<&'o str>,
    /// The human it acted for, when the event is tied to one.
    pub(crate) human: Option<&'o str>,
    /// The logs alone cannot name the instance (it used another's key).
    pub(crate) ambiguous: bool,
}

impl Owner<'_> {
    /// The agent runtime acting for no instance and no human.
    pub(crate) const RUNTIME: Owner<'static> = Owner {
        instance: None,
        human: None,
        ambiguous: false,
    };
}

impl Logs {
    /// A CloudTrail record as it is delivered (minutes late), with its
    /// truth line.
    pub(crate) fn cloudtrail(
        &mut self,
        rng: &mut ChaCha8Rng,
        t: f64,
        rec: Value,
        task: &Task<'_>,
        owner: Owner<'_>,
    ) {
        let id = rec["eventID"].as_str().unwrap_or_default().to_owned();
        self.truth(id, "cloudtrail", task, owner);
        self.cloudtrail.push((t + lag(rng), rec));
    }

    /// The truth line of one event: who really did it, in which task.
    pub(crate) fn truth(
        &mut self,
        event_id: String,
        source: &str,
        task: &Task<'_>,
        owner: Owner<'_>,
    ) {
        self.truth.push(json!({
            "event_id": event_id, "source": source, "instance": owner.instance, "human": owner.human,
            "task": task.id, "scenario": task.scenario, "ambiguous": owner.ambiguous
        }));
    }

    /// Write every file into `out`, counting the records of each source
    /// into `records`.
    pub(crate) fn write(
        self,
        out: &Path,
        records: &mut BTreeMap<&'static str, usize>,
    ) -> Result<(), SimError> {
        std::fs::create_dir_all(out).map_err(|e| SimError {
            path: out.display().to_string(),
            source: e,
        })?;
        let files: [(&'static str, Vec<(f64, Value)>); 7] = [
            ("cloudtrail.jsonl", self.cloudtrail),
            ("otlp.jsonl", self.otlp),
            ("mcp.jsonl", self.mcp),
            ("github.jsonl", self.github),
            ("okta.jsonl", self.okta),
            ("opa.jsonl", self.opa),
            ("envelopes.jsonl", self.envelopes),
        ];
        for (name, mut lines) in files {
            // In arrival order: CloudTrail by delivery, the rest as emitted.
            lines.sort_by(|a, b| a.0.total_cmp(&b.0));
            records.insert(name, lines.len());
            write_lines(&out.join(name), lines.iter().map(|(_, v)| v))?;
        }
        write_lines(&out.join("truth.jsonl"), self.truth.iter())?;
        write_lines(&out.join("scenarios.jsonl"), self.scenarios.iter())?;
        Ok(())
    }
}

/// CloudTrail delivery lag: 20 s to 10 min.
fn lag(rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(20.0..600.0)
}

fn write_lines<'a>(path: &Path, lines: impl Iterator<Item = &'a Value>) -> Result<(), SimError> {
    let err = |e: std::io::Error| SimError {
        path: path.display().to_string(),
        source: e,
    };
    let mut w = BufWriter::new(File::create(path).map_err(err)?);
    for v in lines {
        serde_json::to_writer(&mut w, v).map_err(|e| err(e.into()))?;
        w.write_all(b"\n").map_err(err)?;
    }
    w.flush().map_err(err)
}

//! What a stream stored, beside what a replay of the same records stores,
//! and the `[kafka]` section the stream tests share.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::kafka::Broker;
use super::{bin, run, sql_json};

/// Finding ids and event counts of a data directory.
#[derive(Debug, PartialEq)]
pub struct StoreSummary {
    pub events: u64,
    pub distinct_events: u64,
    pub findings: BTreeSet<String>,
    pub finding_rows: u64,
}

pub fn summary(data: &Path) -> StoreSummary {
    let e = &sql_json(
        data,
        "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events",
    )[0];
    let f = sql_json(data, "SELECT finding_id FROM findings");
    StoreSummary {
        events: e["n"].as_u64().unwrap(),
        distinct_events: e["d"].as_u64().unwrap(),
        findings: f
            .iter()
            .map(|r| r["finding_id"].as_str().unwrap().to_owned())
            .collect(),
        finding_rows: f.len() as u64,
    }
}

pub fn stored_events(data: &Path) -> u64 {
    if !data.join("events").exists() {
        return 0;
    }
    sql_json(data, "SELECT count(*) AS n FROM events")[0]["n"]
        .as_u64()
        .unwrap()
}

/// What replay makes of the same files in the same order.
pub fn replay_summary(dir: &Path, files: &[PathBuf], lateness: Option<&str>) -> StoreSummary {
    let data = dir.join("replayed");
    let mut cmd = bin();
    cmd.arg("replay").arg("--data-dir").arg(&data);
    if let Some(l) = lateness {
        cmd.args(["--lateness", l]);
    }
    run(cmd.args(files));
    summary(&data)
}

pub fn kafka_section(broker: &Broker, group: &str, topics: &[&str], extra: &str) -> String {
    let mut s = format!(
        "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{group}\"\nfindings_topic = \"findings\"\ndead_letter_topic = \"dead-letter\"\n{extra}\n",
        broker.bootstrap()
    );
    for t in topics {
        s.push_str(&format!("\n[[kafka.topics]]\nname = \"{t}\"\n"));
    }
    s
}

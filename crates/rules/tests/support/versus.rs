//! What the rsigma comparison test and benchmark share: the standard-Sigma
//! CloudTrail rules of `rules/aws`, CloudTrail records decoded by the real
//! decoder, and each engine's matches per record.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use delegraph_decode::{DocumentDecoder, OriginBase};
use delegraph_model::{NormEvent, Source};
use delegraph_rules::{AgentContext, EventView, RuleSet};

use super::decoded::Collect;

/// The repository root.
pub fn repo() -> PathBuf {
    delegraph_testdata::checkout_root()
}

/// Rule files of `rules/aws` in standard Sigma: no `delegraph.*` field and
/// no sequence document, so any Sigma engine can run them.
pub fn standard_aws_rules() -> Vec<(String, String)> {
    let dir = repo().join("rules/aws");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .filter(|(_, t)| !t.contains("delegraph.") && !t.contains("\nsequence:"))
        .collect();
    out.sort();
    out
}

// Not every test file that includes this module uses it.
#[allow(unused_imports)]
pub use delegraph_testdata::stratus_files;

/// The test records beside the rules (`*.fire*.jsonl`, `*.quiet*.jsonl`).
pub fn rule_test_files(rules: &[(String, String)]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (file, _) in rules {
        let path = Path::new(file);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for e in std::fs::read_dir(path.parent().unwrap()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{stem}.")) && name.ends_with(".jsonl") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Every CloudTrail record of `files` (JSON arrays, `Records` documents or
/// JSON lines), decoded.
pub fn cloudtrail_events(files: &[PathBuf]) -> Vec<NormEvent> {
    let decoder = DocumentDecoder::new(Some(Source::Cloudtrail), 1 << 24);
    let mut sink = Collect::default();
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let base = OriginBase::File {
            path: f.display().to_string(),
        };
        if f.extension().is_some_and(|x| x == "jsonl") {
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                decoder
                    .decode_document(line, &base, &mut sink)
                    .expect("collecting never fails");
            }
        } else {
            decoder
                .decode_document(&bytes, &base, &mut sink)
                .expect("collecting never fails");
        }
    }
    assert!(sink.1.is_empty(), "{:?}", sink.1);
    sink.0
}

/// rsigma-eval loaded with the same files.
pub fn rsigma_engine(rules: &[(String, String)]) -> rsigma_eval::Engine {
    let mut engine = rsigma_eval::Engine::new();
    for (file, text) in rules {
        let collection = rsigma_parser::parse_sigma_yaml(text).unwrap();
        assert!(
            collection.errors.is_empty(),
            "{file}: {:?}",
            collection.errors
        );
        engine
            .add_collection(&collection)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    engine
}

/// Ids of the rules delegraph matches on one event, sorted.
pub fn ours(set: &RuleSet, event: &NormEvent) -> Vec<String> {
    let view = EventView::new(event, AgentContext::default());
    let mut ids: Vec<String> = set
        .matching(&view)
        .into_iter()
        .map(|i| set.rules()[i].id.clone())
        .collect();
    ids.sort();
    ids
}

/// Ids of the rules rsigma matches on one raw record, sorted.
pub fn theirs(engine: &rsigma_eval::Engine, raw: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(raw).unwrap();
    let mut ids: Vec<String> = engine
        .evaluate(&rsigma_eval::event::JsonEvent::borrow(&value))
        .into_iter()
        .filter_map(|r| r.header.rule_id)
        .collect();
    ids.sort();
    ids
}

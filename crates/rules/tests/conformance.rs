//! Sigma conformance: every `conformance/NAME.yml` rule file against the
//! CloudTrail records of `conformance/NAME.jsonl`, each record naming under
//! `_expect` the rules (or correlations) whose findings its arrival must
//! raise. Records are decoded by the real CloudTrail decoder and fed in
//! file order, which for correlations is deliberately not event-time order.
//! After every other record the engine is saved and restored, as a
//! checkpoint and restart would, so open windows must survive that.
//! Adding a case means adding lines or files, not code.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

mod support;

use delegraph_decode::{DocumentDecoder, OriginBase};
use delegraph_model::Source;
use delegraph_rules::{AgentContext, EventSignals, RuleEngine, compile_texts};
use support::decoded::Collect;

fn run_case(rules: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(rules).unwrap();
    let set =
        compile_texts(&[(rules.display().to_string(), text)]).unwrap_or_else(|e| panic!("{e:?}"));
    let set = Arc::new(set);
    let mut engine = RuleEngine::new(set.clone());
    let records = rules.with_extension("jsonl");
    let decoder = DocumentDecoder::new(Some(Source::Cloudtrail), 1 << 20);
    let mut failures = Vec::new();
    for (n, line) in std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .enumerate()
    {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut expect: Vec<String> = record["_expect"]
            .as_array()
            .unwrap_or_else(|| panic!("{}:{}: no _expect", records.display(), n + 1))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let mut sink = Collect::default();
        let base = OriginBase::File {
            path: records.display().to_string(),
        };
        decoder
            .decode_document(line.as_bytes(), &base, &mut sink)
            .expect("collecting never fails");
        assert!(
            sink.1.is_empty(),
            "{}:{}: {:?}",
            records.display(),
            n + 1,
            sink.1
        );
        assert_eq!(sink.0.len(), 1, "{}:{}", records.display(), n + 1);
        let mut findings = Vec::new();
        let event = &sink.0[0];
        engine.observe(
            event,
            AgentContext::default(),
            &EventSignals::default(),
            event.event_time.nanos(),
            &mut findings,
        );
        if n % 2 == 1 {
            engine = RuleEngine::restore(set.clone(), &engine.save().unwrap()).unwrap();
        }
        let mut got: Vec<String> = findings.into_iter().filter_map(|f| f.rule_id).collect();
        got.sort();
        expect.sort();
        if got != expect {
            failures.push(format!(
                "{}:{} ({}): expected {expect:?}, got {got:?}",
                records.display(),
                n + 1,
                event.source_event_type
            ));
        }
    }
    failures
}

#[test]
fn sigma_conformance_cases_match_as_the_specification_says() {
    let dir =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("tests/conformance");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 2,
        "no conformance cases in {}",
        dir.display()
    );
    let failures: Vec<String> = cases.iter().flat_map(|c| run_case(c)).collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

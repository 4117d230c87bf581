//! The standard-Sigma CloudTrail rules of `rules/aws`, unedited, give the
//! same matches in delegraph as in rsigma-eval (an independent Sigma
//! engine) on every Stratus Red Team capture and every test record beside
//! the rules; and each of them catches at least one real attack capture.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use delegraph_rules::compile_texts;
use support::versus::*;

#[test]
fn standard_cloud_rules_match_exactly_what_rsigma_matches() {
    let rules = standard_aws_rules();
    assert!(
        rules.len() >= 15,
        "only {} standard AWS rule files",
        rules.len()
    );
    let set = compile_texts(&rules).unwrap_or_else(|e| panic!("{e:?}"));
    let engine = rsigma_engine(&rules);
    let stratus = cloudtrail_events(&stratus_files());
    let tests = cloudtrail_events(&rule_test_files(&rules));
    assert!(stratus.len() >= 300, "{} Stratus records", stratus.len());
    let mut disagreements = Vec::new();
    let mut caught: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, e) in stratus.iter().chain(&tests).enumerate() {
        let a = ours(&set, e);
        let b = theirs(&engine, &e.raw);
        if a != b {
            disagreements.push(format!(
                "{} ({}): delegraph {a:?}, rsigma {b:?}",
                e.origin, e.source_event_type
            ));
        }
        if n < stratus.len() {
            let technique = e.origin.to_string();
            for id in a {
                caught.entry(id).or_default().push(technique.clone());
            }
        }
    }
    assert!(disagreements.is_empty(), "\n{}", disagreements.join("\n"));
    let silent: Vec<&str> = set
        .rules()
        .iter()
        .filter(|r| !caught.contains_key(&r.id))
        .map(|r| r.title.as_str())
        .collect();
    assert!(
        silent.is_empty(),
        "rules that catch no Stratus technique: {silent:?}"
    );
}

//! The standard-Sigma CloudTrail rules of `rules/aws`, unedited, give the
//! same matches in delegraph as in rsigma-eval (an independent Sigma
//! engine) on every Stratus Red Team capture and every test record beside
//! the rules; and each of them catches at least one real attack capture,
//! except rules for services Stratus has no technique for, which must
//! catch one of their own test records.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use delegraph_rules::compile_texts;
use support::versus::*;

/// Rules on services no Stratus technique touches (Verified Permissions,
/// Bedrock AgentCore).
const OUTSIDE_STRATUS: [&str; 3] = [
    "7d9e1f30-4b5c-4d6e-8f70-91a2b3c4d5e6",
    "a900d22d-96e2-4da0-b345-c58be9bad873",
    "a238cf36-b13b-4624-89ad-c2b555146df7",
];

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
        let by_stratus = n < stratus.len();
        for id in a {
            if by_stratus || OUTSIDE_STRATUS.contains(&id.as_str()) {
                caught.entry(id).or_default().push(e.origin.to_string());
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

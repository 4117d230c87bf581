//! The rules engine on small hand-made rule sets and records.

use super::*;

/// The events the Okta decoder makes of `raw`.
fn decoded_okta(raw: &serde_json::Value) -> Vec<NormEvent> {
    struct Collect(Vec<NormEvent>);
    impl delegraph_decode::EventSink for Collect {
        fn event(&mut self, e: NormEvent) -> Result<(), delegraph_decode::SinkError> {
            self.0.push(e);
            Ok(())
        }
        fn reject(
            &mut self,
            e: delegraph_decode::DecodeError,
            _: delegraph_model::Origin,
            _: &str,
        ) -> Result<(), delegraph_decode::SinkError> {
            panic!("rejected: {e}");
        }
    }
    let mut sink = Collect(Vec::new());
    let base = delegraph_decode::OriginBase::File {
        path: "t.json".into(),
    };
    delegraph_decode::DocumentDecoder::default()
        .decode_document(raw.to_string().as_bytes(), &base, &mut sink)
        .expect("collecting never fails");
    sink.0
}

#[test]
fn the_same_windows_are_saved_as_the_same_bytes() {
    // Open windows in several groups: saved, restored, saved again.
    let text = r#"
title: Failed logins
id: 0c7d5c0e-0000-4000-8000-000000000001
logsource: {product: okta}
detection:
  sel: {outcome.result: FAILURE}
  condition: sel
---
title: Many failed logins
id: 0c7d5c0e-0000-4000-8000-000000000002
correlation:
  type: event_count
  rules: [0c7d5c0e-0000-4000-8000-000000000001]
  group-by: [actor.alternateId]
  timespan: 1h
  condition: {gte: 50}
"#;
    let set =
        Arc::new(crate::compile_texts(&[("r.yml".into(), text.into())]).expect("rules compile"));
    let mut engine = RuleEngine::new(set.clone());
    let mut out = Vec::new();
    for (i, who) in ["b@x", "a@x", "c@x", "a@x"].iter().enumerate() {
        let raw = serde_json::json!({
            "uuid": format!("e{i}"), "published": "2026-03-02T00:00:00Z",
            "eventType": "user.session.start", "actor": {"id": "1", "alternateId": who, "type": "User"},
            "outcome": {"result": "FAILURE"}
        });
        for e in decoded_okta(&raw) {
            engine.observe(
                &e,
                AgentContext::default(),
                &EventSignals::default(),
                0,
                &mut out,
            );
        }
    }
    assert!(engine.open_groups() >= 3, "{}", engine.open_groups());
    let saved = engine.save().expect("save");
    let again = RuleEngine::restore(set, &saved)
        .and_then(|e| e.save())
        .expect("restore and save");
    assert_eq!(saved, again);
}

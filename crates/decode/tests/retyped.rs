//! Wrongly typed vendor fields are never silently wrong: every leaf of real
//! CloudTrail records (the fixtures) is retyped in turn, and the record
//! either decodes to the same essentials (id, time, operation, actor,
//! tenant, source address, credential) or is dead-lettered with the field
//! named.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_model::{NormEvent, Origin};
use serde_json::{Value, json};

#[derive(Default)]
struct Collect {
    events: Vec<NormEvent>,
    letters: Vec<(&'static str, String)>,
}

impl EventSink for Collect {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.events.push(e);
        Ok(())
    }
    fn reject(&mut self, error: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        self.letters.push((error.reason(), error.to_string()));
        Ok(())
    }
}

fn decode(record: &Value) -> Collect {
    let mut c = Collect::default();
    let base = OriginBase::File { path: "t".into() };
    let text = serde_json::to_string(record).unwrap();
    DocumentDecoder::new(None, 1 << 20)
        .decode_document(text.as_bytes(), &base, &mut c)
        .unwrap();
    c
}

/// What must never be silently wrong.
fn essentials(e: &NormEvent) -> Value {
    json!({
        "id": e.event_id, "time": e.event_time.nanos(), "op": e.operation,
        "actor": e.actor.id, "kind": format!("{:?}", e.actor_kind),
        "tenant": e.tenant, "ip": e.src_ip,
        "credential": e.credential_used.as_ref().map(|c| c.id.clone()),
    })
}

fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn records() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cloudtrail");
    let mut out = Vec::new();
    for f in ["assume-role-chain.jsonl", "verified-permissions.jsonl"] {
        for line in std::fs::read_to_string(dir.join(f)).unwrap().lines() {
            if !line.trim().is_empty() {
                out.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_leaf_retyped_decodes_the_same_or_is_dead_lettered_by_name() {
    let replacements = [json!(0), json!([]), json!({}), json!(true)];
    let mut checked = 0;
    let mut failures = Vec::new();
    for record in records() {
        let original = decode(&record);
        assert_eq!(original.events.len(), 1, "{record}");
        let want = essentials(&original.events[0]);
        let mut paths = Vec::new();
        leaves(&record, &mut Vec::new(), &mut paths);
        for path in paths {
            for r in &replacements {
                let mut v = record.clone();
                let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
                *v.pointer_mut(&pointer).unwrap() = r.clone();
                let got = decode(&v);
                checked += 1;
                let field = path.join(".");
                match (got.events.as_slice(), got.letters.as_slice()) {
                    ([e], []) if essentials(e) == want => {}
                    ([], [(_, detail)]) if detail.contains(&path[0]) => {}
                    _ => failures.push(format!(
                        "{field} = {r}: {:?} / {:?}",
                        got.events.iter().map(essentials).collect::<Vec<_>>(),
                        got.letters
                    )),
                }
            }
        }
    }
    assert!(checked > 200, "{checked}");
    assert!(
        failures.is_empty(),
        "{} of {checked} retyped leaves silently changed the event:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_retypings_that_once_passed_name_their_field() {
    let record = records().remove(0);
    for (pointer, value, field) in [
        ("/userIdentity/arn", json!(0), "userIdentity.arn"),
        ("/userIdentity", json!([]), "userIdentity"),
        ("/eventName", json!(""), "eventName"),
    ] {
        let mut v = record.clone();
        *v.pointer_mut(pointer).unwrap() = value;
        let got = decode(&v);
        assert!(got.events.is_empty(), "{field}: stored");
        let (reason, detail) = &got.letters[0];
        assert_eq!(*reason, "wrong_type", "{field}: {detail}");
        assert!(detail.contains(field), "{field}: {detail}");
    }
}

//! Wrongly typed vendor fields are never silently wrong: every leaf of every
//! real record under `fixtures/` (each vendor's published samples) is
//! retyped in turn, and the document either decodes to the same essentials
//! (id, time, operation, actor and its kind, tenant, source address,
//! credentials, delegation, tool, trace, outcome) or loses only the records
//! that are dead-lettered with the field named. A new format's fixtures are
//! checked without new code.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
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
        "tenant": e.tenant, "ip": e.src_ip, "on_behalf_of": e.on_behalf_of,
        "credential": e.credential_used.as_ref().map(|c| c.id.clone()),
        "issued": e.credential_issued.as_ref().map(|c| c.id.clone()),
        "agent": [&e.agent.agent_id, &e.agent.instance_id, &e.agent.parent],
        "tool": e.tool.as_ref().map(|t| [Some(t.name.clone()), t.call_id.clone(), t.server.clone()]),
        "trace": [&e.trace.trace_id, &e.trace.span_id, &e.trace.parent_span_id, &e.trace.conversation_id],
        "outcome": format!("{:?}", e.outcome),
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

/// Every real document under `fixtures/` (JSON lines one per line), by
/// format directory; `malformed/` is broken on purpose and left out.
fn documents() -> Vec<(String, Value)> {
    let root =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../fixtures");
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .collect();
    dirs.sort();
    for dir in dirs
        .iter()
        .filter(|d| d.is_dir() && !d.ends_with("malformed"))
    {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|f| f.path())
            .collect();
        files.sort();
        let format = dir.file_name().unwrap().to_string_lossy().to_string();
        for f in files {
            let file = f.file_name().unwrap().to_string_lossy().to_string();
            let name = format!("{format}/{file}");
            let text = std::fs::read_to_string(&f).unwrap();
            if file.ends_with(".jsonl") {
                for (i, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    out.push((
                        format!("{name}:{}", i + 1),
                        serde_json::from_str(line).unwrap(),
                    ));
                }
            } else if file.ends_with(".json") && !file.ends_with(".expected.json") {
                out.push((name, serde_json::from_str(&text).unwrap()));
            }
        }
    }
    out
}

/// The retyped document lost nothing silently: the same events, or only
/// some of them, the rest dead-lettered with the field named.
fn acceptable(got: &Collect, original: &Collect, want: &[Value], path: &[String]) -> bool {
    let mut left: Vec<&Value> = want.iter().collect();
    for e in &got.events {
        let ess = essentials(e);
        match left.iter().position(|w| **w == ess) {
            Some(i) => {
                left.remove(i);
            }
            None => return false,
        }
    }
    let named = |detail: &String| {
        path.iter()
            .filter(|p| p.parse::<usize>().is_err())
            .any(|p| detail.contains(p.as_str()))
    };
    // Records the fixture dead-letters on purpose stay dead letters.
    let new: Vec<&String> = got
        .letters
        .iter()
        .filter(|l| !original.letters.contains(l))
        .map(|(_, d)| d)
        .collect();
    // A dead letter keeps its whole document, so one letter may stand for
    // several records of a list that failed together.
    // A record dead-lettered on purpose may now fail for another reason.
    left.is_empty() && got.letters.len() == original.letters.len()
        || !left.is_empty() && !new.is_empty() && new.iter().all(|d| named(d))
}

/// Fields a format defines as any JSON value: every type is valid there.
/// OPA's `result` is whatever the policy returns (a structure without a
/// yes/no field is an unknown outcome, by design).
const ANY_JSON: &[(&str, &str)] = &[("opa/", "result")];

/// A value's JSON type; a number in a string is a number (OTLP/JSON and
/// Google write 64-bit integers as strings).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(s) if s.parse::<i64>().is_ok() => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A field's place with list indices dropped (`events.N.parameters.N.value`).
fn pattern(format: &str, path: &[String]) -> String {
    let parts: Vec<&str> = path
        .iter()
        .map(|p| {
            if p.parse::<usize>().is_ok() {
                "N"
            } else {
                p.as_str()
            }
        })
        .collect();
    format!("{format}:{}", parts.join("."))
}

/// The JSON pointer of `path` (`~` and `/` in keys escaped, as Google's
/// `authorization.k8s.io/decision` labels need).
fn json_pointer(path: &[String]) -> String {
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The types each field has anywhere in a format's samples: a vendor that
/// writes a number where it mostly writes a string (Google's parameter
/// `value`) makes a number there a valid value, not a retyping.
fn types_seen(documents: &[(String, Value)]) -> HashSet<(String, &'static str)> {
    let mut seen = HashSet::new();
    for (name, document) in documents {
        let format = name.split('/').next().unwrap_or_default();
        let mut paths = Vec::new();
        leaves(document, &mut Vec::new(), &mut paths);
        for path in paths {
            let pointer = json_pointer(&path);
            let v = document.pointer(&pointer).unwrap();
            seen.insert((pattern(format, &path), kind(v)));
        }
    }
    seen
}

#[test]
fn every_leaf_retyped_decodes_the_same_or_is_dead_lettered_by_name() {
    let replacements = [json!(0), json!([]), json!({}), json!(true)];
    let mut checked = 0;
    let mut failures = Vec::new();
    let documents = documents();
    let seen = types_seen(&documents);
    for (name, document) in documents {
        let original = decode(&document);
        if original.events.is_empty() {
            // A line the fixture dead-letters on purpose: nothing to keep.
            continue;
        }
        let want: Vec<Value> = original.events.iter().map(essentials).collect();
        let mut paths = Vec::new();
        leaves(&document, &mut Vec::new(), &mut paths);
        for path in paths {
            let pointer = json_pointer(&path);
            let before = document.pointer(&pointer).unwrap();
            let last = path.iter().rfind(|p| p.parse::<usize>().is_err());
            if ANY_JSON
                .iter()
                .any(|(f, k)| name.starts_with(f) && last.is_some_and(|l| l == k))
            {
                continue;
            }
            // Only other types: a number's new value is not a retyping.
            let at = pattern(name.split('/').next().unwrap_or_default(), &path);
            let valid =
                |r: &Value| kind(r) == kind(before) || seen.contains(&(at.clone(), kind(r)));
            for r in replacements.iter().filter(|r| !valid(r)) {
                let mut v = document.clone();
                *v.pointer_mut(&pointer).unwrap() = r.clone();
                let got = decode(&v);
                checked += 1;
                if !acceptable(&got, &original, &want, &path) {
                    failures.push(format!(
                        "{name} {} = {r}: {} events of {}, letters {:?}",
                        path.join("."),
                        got.events.len(),
                        want.len(),
                        got.letters
                    ));
                }
            }
        }
    }
    assert!(checked > 2000, "{checked}");
    assert!(
        failures.is_empty(),
        "{} of {checked} retyped leaves silently changed the events:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_retypings_that_once_passed_name_their_field() {
    let record = documents()
        .into_iter()
        .find(|(name, _)| name.starts_with("cloudtrail/assume-role-chain"))
        .unwrap()
        .1;
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

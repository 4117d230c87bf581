//! Golden tests: every file under `fixtures/<source>/` decodes to exactly
//! its `<name>.expected.json`. Adding a sample means adding two files.
//! Regenerate with `DELEGRAPH_BLESS=1 cargo test -p delegraph-decode --test golden`
//! and review the diff.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_model::{NormEvent, Origin, RawText, Source};
use serde_json::{Value, json};

#[derive(Default)]
struct Collected {
    events: Vec<NormEvent>,
    rejected: Vec<Value>,
}

impl EventSink for Collected {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.events.push(e);
        Ok(())
    }
    fn reject(&mut self, e: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError> {
        self.rejected.push(json!({
            "reason": e.reason(),
            "detail": e.to_string(),
            "origin": origin.to_string(),
            "raw_bytes": raw.len(),
        }));
        Ok(())
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
}

fn inputs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(fixtures_dir()).unwrap().flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            let is_input =
                (name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".gz"))
                    && !name.ends_with(".expected.json");
            if is_input {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// The golden form: events without `raw` (the input file holds it), checked
/// separately to be the record's own JSON.
fn render(c: &Collected) -> String {
    let events: Vec<Value> = c
        .events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap();
            v.as_object_mut().unwrap().remove("raw");
            v
        })
        .collect();
    let mut s =
        serde_json::to_string_pretty(&json!({"events": events, "dead_letters": c.rejected}))
            .unwrap();
    s.push('\n');
    s
}

/// What differs when the same document is decoded as shared text
/// (`decode_shared`, as replay decodes its pieces) instead of copied: it
/// must give the same events and dead letters, and each raw record that
/// is in the document word for word must be a slice of it, not a copy (a
/// record rebuilt from an OCSF export is not in it).
fn shared_text_differs(
    decoder: &DocumentDecoder,
    bytes: &[u8],
    rel: &str,
    copied: &Collected,
) -> Option<String> {
    let doc = RawText::from(std::str::from_utf8(bytes).ok()?);
    let mut shared = Collected::default();
    let base = OriginBase::File {
        path: rel.to_owned(),
    };
    decoder
        .decode_shared(&doc, 0, &base, &mut shared)
        .expect("collecting never fails");
    if shared.events != copied.events || shared.rejected != copied.rejected {
        return Some(format!(
            "{rel}: decoded as shared text, it gives other events"
        ));
    }
    let (start, end) = (doc.as_ptr() as usize, doc.as_ptr() as usize + doc.len());
    let copy = shared.events.iter().find(|e| {
        let at = e.raw.as_ptr() as usize;
        doc.contains(&*e.raw) && !(at >= start && at + e.raw.len() <= end)
    });
    copy.map(|e| format!("{rel}: the raw record of {} is a copy", e.event_id))
}

#[test]
fn fixtures_match_golden_files() {
    let bless = std::env::var_os("DELEGRAPH_BLESS").is_some();
    let decoder = DocumentDecoder::default();
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    let root = fixtures_dir();
    for input in inputs() {
        let rel = input
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let bytes = std::fs::read(&input).unwrap();
        let mut c = Collected::default();
        decoder
            .decode_document(&bytes, &OriginBase::File { path: rel.clone() }, &mut c)
            .expect("collecting never fails");
        for e in &c.events {
            seen.insert(e.source);
            serde_json::from_str::<Value>(&e.raw)
                .unwrap_or_else(|err| panic!("{rel}: raw of {} is not JSON: {err}", e.event_id));
        }
        failures.extend(shared_text_differs(&decoder, &bytes, &rel, &c));
        let got = render(&c);
        let name = input.file_name().unwrap().to_string_lossy();
        let stem = name.split('.').next().unwrap();
        let expected_path = input.with_file_name(format!("{stem}.expected.json"));
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(want) if want == got => {}
            Ok(want) => {
                let line = want
                    .lines()
                    .zip(got.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                failures.push(format!(
                    "{rel}: differs from golden at line {}:\n  want: {}\n  got:  {}",
                    line + 1,
                    want.lines().nth(line).unwrap_or("<end>"),
                    got.lines().nth(line).unwrap_or("<end>")
                ));
            }
            Err(_) => failures.push(format!("{rel}: no golden file {}", expected_path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if !bless {
        let missing: Vec<_> = Source::ALL.iter().filter(|s| !seen.contains(s)).collect();
        assert!(missing.is_empty(), "no fixture exercises {missing:?}");
    }
}

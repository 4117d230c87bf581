//! Bad input never panics and never vanishes: every decoder is fed
//! malformed, truncated, huge and wrong-typed versions of real records, and
//! every bad record must come back as a dead letter with a reason.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use delegraph_decode::{DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_model::{NormEvent, Origin};
use proptest::prelude::*;
use serde_json::Value;

#[derive(Default)]
struct Tally {
    events: usize,
    reasons: Vec<&'static str>,
}

impl EventSink for Tally {
    fn event(&mut self, _: NormEvent) -> Result<(), SinkError> {
        self.events += 1;
        Ok(())
    }
    fn reject(&mut self, e: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        assert!(!e.to_string().is_empty());
        self.reasons.push(e.reason());
        Ok(())
    }
}

fn decode(doc: &[u8]) -> Tally {
    let mut t = Tally::default();
    let base = OriginBase::File { path: "t".into() };
    DocumentDecoder::new(None, 64 * 1024)
        .decode_document(doc, &base, &mut t)
        .expect("a tally never fails");
    t
}

/// One real record per source, each on one line.
fn samples() -> Vec<String> {
    let root =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../fixtures");
    let files = [
        "cloudtrail/assume-role-chain.jsonl",
        "okta/token-grant.json",
        "entra/service-principal-signin.json",
        "github/audit.jsonl",
        "google_workspace/token.jsonl",
        "gcp_audit/set-iam-policy.jsonl",
        "azure_activity/activitylogs-raw.jsonl",
        "entra_audit/diagnostic.jsonl",
        "entra_risk/diagnostic-user-risk-events.jsonl",
        "m365_audit/copilot-interactions.jsonl",
        "otlp/agent-trace.jsonl",
        "mcp/gateway.jsonl",
    ];
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            let first: Value = serde_json::Deserializer::from_str(&text)
                .into_iter()
                .next()
                .unwrap()
                .unwrap();
            serde_json::to_string(&first).unwrap()
        })
        .collect()
}

/// Paths to every leaf of a JSON value.
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[test]
fn every_sample_decodes_cleanly() {
    for s in samples() {
        let t = decode(s.as_bytes());
        assert!(
            t.events >= 1 && t.reasons.is_empty(),
            "{s}: {:?}",
            t.reasons
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_accounted(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let t = decode(&bytes);
        let blank = bytes.iter().all(|b| b.is_ascii_whitespace());
        prop_assert!(blank || t.events + t.reasons.len() >= 1);
    }

    #[test]
    fn truncated_records_are_dead_lettered(which in 0usize..7, cut in 0.0f64..1.0) {
        let s = &samples()[which];
        let mut at = ((s.len() as f64) * cut) as usize;
        while !s.is_char_boundary(at) { at -= 1; }
        let piece = &s[..at];
        prop_assume!(!piece.trim().is_empty());
        let t = decode(piece.as_bytes());
        prop_assert_eq!(t.events, 0);
        prop_assert_eq!(t.reasons.len(), 1);
        // A truncated line followed by a good one: the good one survives.
        let doc = format!("{piece}\n{s}\n");
        let t = decode(doc.as_bytes());
        prop_assert!(t.events >= 1, "good record after a truncated one was lost");
        prop_assert_eq!(t.reasons.len(), 1);
    }

    #[test]
    fn wrong_typed_fields_never_panic(which in 0usize..7, pick in any::<prop::sample::Index>(), kind in 0u8..5) {
        let s = &samples()[which];
        let mut v: Value = serde_json::from_str(s).unwrap();
        let mut paths = Vec::new();
        leaves(&v, &mut Vec::new(), &mut paths);
        let path = pick.get(&paths);
        let replacement = match kind {
            0 => Value::from(12345),
            1 => Value::from("not what you expected"),
            2 => Value::Null,
            3 => serde_json::json!([1, {"x": null}]),
            _ => serde_json::json!({"nested": [true]}),
        };
        if let Some(slot) = v.pointer_mut(&pointer(path)) {
            *slot = replacement;
        }
        let doc = serde_json::to_string(&v).unwrap();
        let t = decode(doc.as_bytes());
        // Either the field was optional (the record still decodes) or the
        // record (for OTLP: the one span holding the field) is dead-lettered
        // with a reason; one changed field never costs more than one.
        prop_assert!(t.events >= 1 || t.reasons.len() == 1, "{:?}", t.reasons);
        prop_assert!(t.reasons.len() <= 1, "{:?}", t.reasons);
    }
}

#[test]
fn oversized_records_are_dead_lettered_and_neighbours_survive() {
    let s = &samples()[0];
    let huge = format!(
        "{{\"eventSource\":\"x\",\"pad\":\"{}\"}}",
        "a".repeat(100_000)
    );
    let doc = format!("{s}\n{huge}\n{s}\n");
    let t = decode(doc.as_bytes());
    assert_eq!(t.events, 2);
    assert_eq!(t.reasons, ["oversized"]);
}

#[test]
fn deeply_nested_input_is_rejected_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let t = decode(deep.as_bytes());
    assert_eq!(t.events, 0);
    assert_eq!(t.reasons.len(), 1);
    let deep_obj = format!(
        "{{\"eventSource\":\"a\",\"eventName\":\"b\",\"x\":{}1{}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let t = decode(deep_obj.as_bytes());
    assert_eq!(t.events + t.reasons.len(), 1);
}

#[test]
fn invalid_utf8_loses_only_its_line() {
    let s = &samples()[0];
    let mut doc = s.as_bytes().to_vec();
    doc.extend_from_slice(b"\n{\"eventSource\":\"\xff\xfe\"}\n");
    doc.extend_from_slice(s.as_bytes());
    let t = decode(&doc);
    assert_eq!(t.events, 2);
    assert_eq!(t.reasons, ["invalid_utf8"]);
}

#[test]
fn a_bad_span_is_rejected_alone() {
    let good = |id: &str| {
        format!(
            r#"{{"traceId":"ab","spanId":"{id}","name":"execute_tool x","startTimeUnixNano":"1","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"execute_tool"}}}}]}}"#
        )
    };
    let bad = r#"{"traceId":"ab","spanId":"03","name":"x","startTimeUnixNano":"soon"}"#;
    let doc = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{bad},{}]}}]}}]}}"#,
        good("01"),
        good("02")
    );
    let t = decode(doc.as_bytes());
    assert_eq!(t.events, 2);
    assert_eq!(t.reasons, ["bad_timestamp"]);
}

/// A sink whose store fails once it holds `room` events or letters.
struct Full {
    room: usize,
    taken: usize,
    calls: usize,
}

impl Full {
    fn take(&mut self) -> Result<(), SinkError> {
        self.calls += 1;
        if self.taken == self.room {
            return Err(SinkError::new(std::io::Error::other("disk full")));
        }
        self.taken += 1;
        Ok(())
    }
}

impl EventSink for Full {
    fn event(&mut self, _: NormEvent) -> Result<(), SinkError> {
        self.take()
    }
    fn reject(&mut self, _: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        self.take()
    }
}

#[test]
fn a_failing_sink_stops_decoding_with_its_error() {
    // Good records, a bad one and an OTLP request of several spans: the
    // sink's failure comes back at once, whichever call it failed on, and
    // nothing more is sent after it.
    let spans = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"ab","spanId":"01","name":"execute_tool x","startTimeUnixNano":"1"},{"traceId":"ab","spanId":"02","name":"execute_tool y","startTimeUnixNano":"2"}]}]}]}"#;
    let mut lines: Vec<String> = samples();
    lines.insert(2, "{not json".into());
    lines.push(spans.into());
    let doc = lines.join("\n");
    let total = {
        let t = decode(doc.as_bytes());
        t.events + t.reasons.len()
    };
    for room in 0..total {
        let mut sink = Full {
            room,
            taken: 0,
            calls: 0,
        };
        let base = OriginBase::File { path: "t".into() };
        let got = DocumentDecoder::default().decode_document(doc.as_bytes(), &base, &mut sink);
        let err = got.expect_err("the sink failed");
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(sink.calls, room + 1, "nothing is sent after the failure");
    }
    let mut roomy = Full {
        room: total,
        taken: 0,
        calls: 0,
    };
    let base = OriginBase::File { path: "t".into() };
    DocumentDecoder::default()
        .decode_document(doc.as_bytes(), &base, &mut roomy)
        .expect("room for everything");
    assert_eq!(roomy.taken, total);
}

/// Everything a decode hands its sink, as text: events with their origins,
/// and dead letters with reason, detail, origin and text.
#[derive(Default)]
struct Transcript(Vec<String>);

impl EventSink for Transcript {
    fn event(&mut self, e: NormEvent) -> Result<(), SinkError> {
        self.0.push(serde_json::to_string(&e).unwrap());
        Ok(())
    }
    fn reject(&mut self, e: DecodeError, origin: Origin, raw: &str) -> Result<(), SinkError> {
        self.0
            .push(format!("{} | {e} | {origin} | {raw}", e.reason()));
        Ok(())
    }
}

fn transcript(doc: &str) -> Vec<String> {
    let mut t = Transcript::default();
    let base = OriginBase::File { path: "t".into() };
    DocumentDecoder::default()
        .decode_document(doc.as_bytes(), &base, &mut t)
        .expect("a transcript never fails");
    t.0
}

#[test]
fn json_lines_read_alone_and_through_the_general_reader_agree() {
    // Good JSON lines (CRLF and indented lines among them) skip the
    // general reader; one bad line anywhere sends the whole document
    // through it. Both ways must give the same events, lines and texts.
    let good: Vec<String> = samples()
        .iter()
        .enumerate()
        .map(|(i, s)| match i % 3 {
            0 => format!("{s}\r"),
            1 => format!("  {s}"),
            _ => s.clone(),
        })
        .collect();
    let alone = transcript(&format!("\n{}\n", good.join("\n")));
    assert!(alone.len() >= good.len());
    assert!(alone.iter().all(|x| x.starts_with('{')), "{alone:?}");
    for bad in [
        "{not json",
        r#"{"eventSource":"x"}{"eventSource":"y"}"#,
        r#"{"\ud800":"lone surrogate in a key"}"#,
    ] {
        let doc = format!("\n{}\n{bad}\n", good.join("\n"));
        let general = transcript(&doc);
        assert_eq!(general[..alone.len()], alone[..], "{bad}");
        assert!(general.len() > alone.len(), "{bad} was not reported");
    }
}

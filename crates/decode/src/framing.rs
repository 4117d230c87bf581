//! Splitting a document (a file, a Kafka message) into JSON values.
//!
//! One reader serves every layout the vendors deliver: JSON lines, one
//! pretty-printed object, a JSON array, or concatenated objects. A broken
//! value is cut out with its text and the reader resumes at the next line
//! that starts a new value, so one bad record never hides the good ones.

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::DecodeError;

/// Maps byte offsets in a document to 1-based line numbers.
pub struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    /// Index the newlines of `doc`.
    pub fn new(doc: &str) -> Self {
        Self {
            newlines: memchr::memchr_iter(b'\n', doc.as_bytes()).collect(),
        }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> u64 {
        self.newlines.partition_point(|&n| n < offset) as u64 + 1
    }
}

/// Byte offset of `part` inside `whole`; `part` must be a sub-slice of it
/// (every `RawValue` we hand out borrows from the document).
pub fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// One top-level piece of a document.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A syntactically valid JSON value.
    Value(&'a str),
    /// An element of a top-level array (the document was one array).
    Element(&'a str),
    /// A region that could not be read, with the reason.
    Bad(&'a str, DecodeError),
}

/// Split `doc` into its top-level values. A document that is one JSON array
/// yields its elements.
pub fn frames(doc: &str) -> Vec<Frame<'_>> {
    // Fast path: a whole-document array is read in one pass, straight into
    // its elements; anything unusual falls back to the general reader.
    if doc.trim_start().starts_with('[') {
        let mut good = Vec::new();
        let mut de = serde_json::Deserializer::from_str(doc);
        if de.deserialize_seq(Collect(&mut good)).is_ok() && de.end().is_ok() {
            return good.into_iter().map(|v| Frame::Element(v.get())).collect();
        }
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < doc.len() {
        let rest = &doc[pos..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        loop {
            match stream.next() {
                None => {
                    pos = doc.len();
                    break;
                }
                Some(Ok(v)) => out.push(Frame::Value(v.get())),
                Some(Err(e)) => {
                    let after_good = pos + stream.byte_offset();
                    let start = after_good + leading_ws(&doc[after_good..]);
                    pos = salvage(doc, start, &e, &mut out);
                    break;
                }
            }
        }
    }
    out
}

/// The records of a JSON-lines document with their 1-based lines, when
/// every line that is not blank holds what looks like one whole object
/// (`{` … `}` between JSON whitespace); otherwise `None`, and the document
/// goes to [`frames`]. Only the shape is looked at here: the caller checks
/// that each line is exactly one valid value (its probe does) and falls
/// back to [`frames`] for the whole document when one is not, so a bad
/// record is reported exactly as the general reader reports it, while
/// good JSON lines skip that reader's scan.
pub fn json_lines(doc: &str) -> Option<Vec<(u64, &str)>> {
    let mut out = Vec::new();
    for (i, line) in doc.split('\n').enumerate() {
        let record = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r'));
        if record.is_empty() {
            continue;
        }
        if !(record.starts_with('{') && record.ends_with('}')) {
            return None;
        }
        out.push((i as u64 + 1, record));
    }
    Some(out)
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// Recover what can be recovered from a broken value starting at `start`,
/// push it, and return where reading resumes.
fn salvage<'a>(
    doc: &'a str,
    start: usize,
    e: &serde_json::Error,
    out: &mut Vec<Frame<'a>>,
) -> usize {
    // A JSON-lines record cut short: only its own line is bad.
    if let Some(line_end) = truncated_line(&doc[start..]) {
        let bad = &doc[start..start + line_end];
        out.push(Frame::Bad(
            bad.trim_end(),
            DecodeError::Truncated("record ends before its line does".into()),
        ));
        return start + line_end + 1;
    }
    let resume = next_value_start(doc, start);
    let region = &doc[start..resume];
    // A JSON array cut short (a truncated file): keep its complete elements.
    let mut start_of_bad = start;
    if region.starts_with('[') {
        let mut good = Vec::new();
        let mut de = serde_json::Deserializer::from_str(region);
        let _ = de.deserialize_seq(Collect(&mut good));
        if let Some(last) = good.last() {
            start_of_bad = start + offset_in(region, last.get()) + last.get().len();
            out.extend(good.iter().map(|v| Frame::Value(v.get())));
        }
    }
    let bad = doc[start_of_bad..resume].trim();
    if !bad.is_empty() {
        out.push(Frame::Bad(bad, DecodeError::from_json(None, e)));
    }
    resume
}

/// If `rest` starts with a line that is a JSON object or array cut short
/// (an incomplete prefix, not a syntax error) and more lines follow, the
/// length of that line.
fn truncated_line(rest: &str) -> Option<usize> {
    let end = rest.find('\n')?;
    let first = &rest[..end];
    // A JSON-lines record holds key-value pairs on its one line; a lone `{`
    // opens a pretty-printed document instead.
    if !(first.starts_with('{') || first.starts_with('[')) || !first.contains("\":") {
        return None;
    }
    match serde_json::from_str::<IgnoredAny>(first) {
        Err(line_err) if line_err.is_eof() => Some(end),
        _ => None,
    }
}

/// The next line after `start`'s line that begins (in column 0) with `{` or
/// `[`, or the end of the document.
fn next_value_start(doc: &str, start: usize) -> usize {
    let bytes = doc.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'\n' && matches!(bytes.get(i + 1), Some(b'{' | b'[')) {
            return i + 1;
        }
        i += 1;
    }
    doc.len()
}

/// Collects array elements into a vector that outlives a failed parse.
struct Collect<'a, 'v>(&'v mut Vec<&'a RawValue>);

impl<'de, 'v> DeserializeSeed<'de> for Collect<'de, 'v> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, 'v> Visitor<'de> for Collect<'de, 'v> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            self.0.push(v);
        }
        Ok(())
    }
}

/// The elements of a JSON array that already parsed as a whole.
pub fn array_elements(text: &str) -> Vec<&str> {
    let mut good = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    // The text is known-valid JSON, so this cannot fail half-way.
    let _ = de.deserialize_seq(Collect(&mut good));
    good.into_iter().map(RawValue::get).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(doc: &str) -> Vec<String> {
        frames(doc)
            .into_iter()
            .map(|f| match f {
                Frame::Value(v) | Frame::Element(v) => format!("ok {v}"),
                Frame::Bad(v, e) => format!("{} {v}", e.reason()),
            })
            .collect()
    }

    #[test]
    fn json_lines_are_taken_by_shape_with_their_lines() {
        let doc = "{\"a\":1}\r\n\n  {\"b\":[2]}  \n";
        assert_eq!(
            json_lines(doc),
            Some(vec![(1, "{\"a\":1}"), (3, "{\"b\":[2]}")])
        );
        // Anything else is the general reader's: a pretty-printed object,
        // an array, a line that is not an object.
        assert_eq!(json_lines("{\n  \"a\": 1\n}\n"), None);
        assert_eq!(json_lines("[{\"a\":1}]"), None);
        assert_eq!(json_lines("{\"a\":1}\nnull\n"), None);
    }

    #[test]
    fn json_lines_with_a_truncated_line() {
        let doc = "{\"a\":1}\n{\"b\":\n{\"c\":3}\n";
        assert_eq!(
            summary(doc),
            ["ok {\"a\":1}", "truncated {\"b\":", "ok {\"c\":3}"]
        );
        let doc = "{\"a\":1}\n{\"b\":\nnot json\n{\"c\":3}\n";
        assert_eq!(
            summary(doc),
            [
                "ok {\"a\":1}",
                "truncated {\"b\":",
                "malformed_json not json",
                "ok {\"c\":3}"
            ]
        );
    }

    #[test]
    fn garbage_between_records() {
        let doc = "{\"a\":1}\nnot json at all\n{\"c\":3}";
        assert_eq!(
            summary(doc),
            [
                "ok {\"a\":1}",
                "malformed_json not json at all",
                "ok {\"c\":3}"
            ]
        );
    }

    #[test]
    fn truncated_array_keeps_complete_elements() {
        let doc = "[\n {\"a\":1},\n {\"b\":2},\n {\"c\":";
        assert_eq!(
            summary(doc),
            ["ok {\"a\":1}", "ok {\"b\":2}", "truncated ,\n {\"c\":"]
        );
    }

    #[test]
    fn pretty_object_and_lines() {
        let doc = "{\n  \"a\": [1,\n 2]\n}\n";
        let f = frames(doc);
        assert_eq!(f.len(), 1);
        let idx = LineIndex::new(doc);
        assert_eq!(idx.line(doc.find("2]").unwrap()), 3);
    }
}

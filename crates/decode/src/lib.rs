//! Decoders for the vendors' real audit-log formats.
//!
//! A [`DocumentDecoder`] takes the bytes of a file or a Kafka message, finds
//! the JSON values in it ([`framing`]), opens delivery envelopes (CloudTrail
//! `Records`, EventBridge, Okta event hooks, Azure Monitor `records`, Graph
//! `value`, Workspace `items`, Cloud Logging `entries`), picks a [`Decoder`] per record from its
//! top-level keys ([`probe`]) and turns each record into [`NormEvent`]s.
//! Nothing here does I/O or panics on input: every bad record comes back to
//! the caller's [`EventSink`] as a [`DecodeError`] with its text and origin.

mod envelope;
mod error;
mod format;
pub mod framing;
pub mod json;
mod links;
mod ocsf_in;
pub mod probe;
mod sink;
mod sources;

use delegraph_model::{NormEvent, Origin, RawText, Source};

pub use error::DecodeError;
pub use format::{FormatInfo, Promoted, RuleFields, SigmaLogSource, format_info, formats, relink};
pub use sink::{Collected, DecodeFailure, Decoded, EventSink, SinkError};
pub use sources::{all_decoders, mcp::MCP_SCHEMA, opa::OpaMapping, task_envelope::ENVELOPE_SCHEMA};

use crate::probe::Probe;

/// One vendor format's reader.
///
/// Adding a format means adding a module that implements this trait and
/// defines the format's [`FormatInfo`], and listing that in [`formats`];
/// nothing else changes (the graph and the rules read the descriptor).
pub trait Decoder: Send + Sync {
    /// The format this decoder reads.
    fn format(&self) -> &'static FormatInfo;

    /// The format's source value.
    fn source(&self) -> Source {
        self.format().source
    }

    /// Whether a record with these top-level keys is in this format.
    fn claims(&self, probe: &Probe<'_>) -> bool;

    /// Decode one record (one JSON object) into zero or more events sent to
    /// `out` (their link hints are added on the way: the format's `link`).
    /// A [`DecodeFailure::Record`] rejects the whole record and must come
    /// before any event is sent; a record made of parts (an OTLP request's
    /// spans) may instead reject a bad part through `out` and keep the good
    /// ones. A [`DecodeFailure::Sink`] (from `out`) is passed up as it is.
    fn decode(
        &self,
        record: &str,
        origin: &Origin,
        out: &mut dyn EventSink,
    ) -> Result<(), DecodeFailure>;
}

/// The part of an [`Origin`] that is fixed for a whole document.
#[derive(Debug, Clone)]
pub enum OriginBase {
    /// A file; records are located by line.
    File {
        /// Path as given.
        path: String,
    },
    /// A Kafka message; records are located by their index in it.
    Kafka {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
}

impl OriginBase {
    fn at(&self, line: u64, index: Option<u32>) -> Origin {
        match self {
            OriginBase::File { path } => Origin::File {
                path: path.clone(),
                line,
                index,
            },
            OriginBase::Kafka {
                topic,
                partition,
                offset,
            } => Origin::Kafka {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
                index,
            },
        }
    }
}

/// Decodes whole documents: framing, envelopes, detection, decoding.
pub struct DocumentDecoder {
    decoders: Vec<Box<dyn Decoder>>,
    forced: Option<Source>,
    max_record_bytes: usize,
}

/// Default per-record size limit: CloudTrail caps records at 256 KB, OTLP
/// requests from a collector batch stay well under this.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

impl Default for DocumentDecoder {
    fn default() -> Self {
        Self::new(None, DEFAULT_MAX_RECORD_BYTES)
    }
}

impl DocumentDecoder {
    /// A decoder that auto-detects each record's format, or always uses
    /// `forced` when given (`--format`).
    pub fn new(forced: Option<Source>, max_record_bytes: usize) -> Self {
        Self {
            decoders: all_decoders(),
            forced,
            max_record_bytes,
        }
    }

    /// Read OPA decision logs through `mapping` instead of the default one.
    pub fn with_opa_mapping(mut self, mapping: OpaMapping) -> Self {
        for d in &mut self.decoders {
            if d.source() == Source::Opa {
                *d = Box::new(sources::opa::Opa {
                    mapping: mapping.clone(),
                });
            }
        }
        self
    }

    /// Decode every record of `doc`; results and rejections go to `sink`.
    /// Bad records never stop it; a failing sink does, with its error.
    pub fn decode_document(
        &self,
        doc: &[u8],
        base: &OriginBase,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        let whole_is_utf8 = std::str::from_utf8(doc).is_ok();
        self.decode_piece(doc, 0, whole_is_utf8, base, sink)
    }

    /// Decode one piece of a document read in pieces (cut at line starts
    /// between top-level values), `first_line` lines into it, as
    /// [`decode_document`](Self::decode_document) decodes those lines of
    /// the whole: `whole_is_utf8` says whether every piece is UTF-8 (a
    /// document that is not is read line by line).
    pub fn decode_piece(
        &self,
        doc: &[u8],
        first_line: u64,
        whole_is_utf8: bool,
        base: &OriginBase,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        match std::str::from_utf8(doc) {
            Ok(text) if whole_is_utf8 => self.decode_text(text, None, first_line, base, sink),
            // Not UTF-8: read it line by line so only the bad lines are lost.
            _ => {
                let mut line_no = first_line;
                for line in doc.split(|b| *b == b'\n') {
                    line_no += 1;
                    match std::str::from_utf8(line) {
                        Ok(text) => self.decode_text(text, None, line_no - 1, base, sink)?,
                        Err(e) => sink.reject(
                            DecodeError::InvalidUtf8(e.to_string()),
                            base.at(line_no, None),
                            &String::from_utf8_lossy(line),
                        )?,
                    }
                }
                Ok(())
            }
        }
    }

    /// [`decode_document`](Self::decode_document) for a document the
    /// caller gives up: held as shared text when it is UTF-8, so its
    /// events' raw records are slices of it (see
    /// [`decode_shared`](Self::decode_shared)).
    pub fn decode_owned(
        &self,
        doc: Vec<u8>,
        base: &OriginBase,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        match String::from_utf8(doc) {
            Ok(text) => self.decode_shared(&RawText::from(text), 0, base, sink),
            Err(e) => self.decode_piece(e.as_bytes(), 0, false, base, sink),
        }
    }

    /// [`decode_piece`](Self::decode_piece) for a piece already known to
    /// be UTF-8 (and the whole document with it), held as shared text: the
    /// events' raw records are slices of `doc`, not copies of it.
    pub fn decode_shared(
        &self,
        doc: &RawText,
        first_line: u64,
        base: &OriginBase,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        self.decode_text(doc, Some(doc), first_line, base, sink)
    }

    fn decode_text(
        &self,
        doc: &str,
        shared: Option<&RawText>,
        line_offset: u64,
        base: &OriginBase,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        // Built on first use: JSON lines know their lines without it.
        let lines = std::cell::OnceCell::new();
        let locate = |part: &str, index: Option<u32>| {
            let lines = lines.get_or_init(|| framing::LineIndex::new(doc));
            base.at(
                line_offset + lines.line(framing::offset_in(doc, part)),
                index,
            )
        };
        let document = Document {
            shared,
            locate: &locate,
        };
        if let Some(records) = probed_json_lines(doc) {
            for (line, text, probe) in records {
                let origin = base.at(line_offset + line, None);
                match self.oversized(text) {
                    Some(e) => sink.reject(e, origin, text)?,
                    None => self.decode_probed(text, probe, origin, 0, &document, sink)?,
                }
            }
            return Ok(());
        }
        let mut element = 0u32;
        for frame in framing::frames(doc) {
            match frame {
                framing::Frame::Bad(text, e) => sink.reject(e, locate(text, None), text)?,
                framing::Frame::Value(text) if text.starts_with('[') => {
                    for el in framing::array_elements(text) {
                        let origin = locate(el, Some(element));
                        element += 1;
                        self.decode_value(el, origin, 0, &document, sink)?;
                    }
                }
                framing::Frame::Element(el) => {
                    let origin = locate(el, Some(element));
                    element += 1;
                    self.decode_value(el, origin, 0, &document, sink)?;
                }
                framing::Frame::Value(text) => {
                    let origin = locate(text, None);
                    self.decode_value(text, origin, 0, &document, sink)?;
                }
            }
        }
        Ok(())
    }

    /// Decode one JSON value, opening envelopes (at most two deep).
    fn decode_value(
        &self,
        text: &str,
        origin: Origin,
        depth: u8,
        document: &Document<'_>,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        if let Some(e) = self.oversized(text) {
            return sink.reject(e, origin, text);
        }
        let probe = match Probe::of(text) {
            Ok(p) => p,
            Err(e) => return sink.reject(e, origin, text),
        };
        self.decode_probed(text, probe, origin, depth, document, sink)
    }

    /// Why `text` is refused before it is read, if it is too large.
    fn oversized(&self, text: &str) -> Option<DecodeError> {
        (text.len() > self.max_record_bytes).then_some(DecodeError::Oversized {
            bytes: text.len(),
            limit: self.max_record_bytes,
        })
    }

    /// Decode one JSON value whose top level `probe` has read.
    fn decode_probed(
        &self,
        text: &str,
        probe: Probe<'_>,
        origin: Origin,
        depth: u8,
        document: &Document<'_>,
        sink: &mut impl EventSink,
    ) -> Result<(), SinkError> {
        if depth < 2
            && let Some(inner) = envelope::open(&probe)
        {
            return match inner {
                Ok(records) => {
                    for (i, r) in records.into_iter().enumerate() {
                        let o = (document.locate)(r, Some(i as u32));
                        self.decode_value(r, o, depth + 1, document, sink)?;
                    }
                    Ok(())
                }
                Err(e) => sink.reject(e, origin, text),
            };
        }
        // OCSF (a Security Lake export): the vendor record it maps, decoded
        // as that vendor's.
        if depth < 2
            && let Some(translated) = ocsf_in::cloudtrail_record(&probe, text)
        {
            return match translated {
                Ok(record) => self.decode_value(&record, origin, 2, document, sink),
                Err(e) => sink.reject(e, origin, text),
            };
        }
        let decoder = match self.forced {
            Some(s) => self.decoders.iter().find(|d| d.source() == s),
            None => self.decoders.iter().find(|d| d.claims(&probe)),
        };
        let Some(decoder) = decoder else {
            return sink.reject(DecodeError::UnknownFormat(probe.describe()), origin, text);
        };
        let mut linked = links::Linked {
            format: decoder.format(),
            shared: document.shared,
            sink: &mut *sink,
        };
        match decoder.decode(text, &origin, &mut linked) {
            Ok(()) => Ok(()),
            Err(DecodeFailure::Record(e)) => sink.reject(e, origin, text),
            Err(DecodeFailure::Sink(e)) => Err(e),
        }
    }
}

/// The document being decoded, as its records need it.
struct Document<'d> {
    /// The document as shared text, when it is held so (see
    /// [`DocumentDecoder::decode_shared`]).
    shared: Option<&'d RawText>,
    /// Where a part of it is (a record inside it, the `index`th of its
    /// value).
    locate: &'d dyn Fn(&str, Option<u32>) -> Origin,
}

/// The records of a JSON-lines document with their lines and probes, when
/// each line is exactly one valid object ([`framing::json_lines`]); `None`
/// sends the whole document to the general reader, which reports a bad
/// record as it always has.
fn probed_json_lines(doc: &str) -> Option<Vec<(u64, &str, Probe<'_>)>> {
    framing::json_lines(doc)?
        .into_iter()
        .map(|(line, text)| Some((line, text, Probe::of_whole(text).ok()?)))
        .collect()
}

/// Parse `text` as `T`, classifying failures for `source`. A record that
/// fails is parsed once more with its path tracked, so the dead letter
/// names the field (`userIdentity.arn: invalid type: integer 0, expected
/// a string`); tracking costs an allocation per key, so only failures pay.
pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(
    source: Source,
    text: &'a str,
) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|e| {
        let mut de = serde_json::Deserializer::from_str(text);
        named(
            source,
            serde_path_to_error::deserialize::<_, T>(&mut de),
            &e,
        )
    })
}

/// The same for a record already parsed into a `Value` (a decoder that
/// reads some fields through pointers and others typed), without parsing
/// its text again.
pub(crate) fn parse_value<T: serde::de::DeserializeOwned>(
    source: Source,
    value: &serde_json::Value,
) -> Result<T, DecodeError> {
    T::deserialize(value)
        .map_err(|e| named(source, serde_path_to_error::deserialize::<_, T>(value), &e))
}

/// The error of a failed typed parse, naming the field when the tracked
/// second attempt found one.
fn named<T>(
    source: Source,
    tracked: Result<T, serde_path_to_error::Error<serde_json::Error>>,
    plain: &serde_json::Error,
) -> DecodeError {
    match tracked {
        Err(at) if at.path().iter().next().is_some() => {
            let path = at.path().to_string();
            DecodeError::from_json(Some(source), at.inner()).at_field(source, &path)
        }
        _ => DecodeError::from_json(Some(source), plain),
    }
}

/// An event with every optional part empty, for decoders to fill in.
pub(crate) fn base_event(
    source: Source,
    event_id: String,
    source_event_type: String,
    event_time: delegraph_model::Timestamp,
    origin: &Origin,
    raw: RawText,
) -> NormEvent {
    NormEvent::new(
        source,
        event_id,
        source_event_type,
        event_time,
        origin.clone(),
        raw,
    )
}

/// A time field or a `BadTimestamp` error naming it.
pub(crate) fn time_field(
    source: Source,
    field: &'static str,
    r: Result<delegraph_model::Timestamp, delegraph_model::TimestampError>,
) -> Result<delegraph_model::Timestamp, DecodeError> {
    r.map_err(|error| DecodeError::BadTimestamp {
        format: source,
        field,
        error,
    })
}

/// Add a resource unless one with the same id is already there.
pub(crate) fn push_resource(
    list: &mut Vec<delegraph_model::Resource>,
    id: impl Into<String>,
    kind: Option<&str>,
    is_secret: bool,
) {
    let id = id.into();
    if id.is_empty() {
        return;
    }
    if let Some(r) = list.iter_mut().find(|r| r.id == id) {
        r.is_secret |= is_secret;
        return;
    }
    list.push(delegraph_model::Resource {
        id,
        kind: kind.map(str::to_owned),
        is_secret,
    });
}

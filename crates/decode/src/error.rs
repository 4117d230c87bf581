//! Why a record could not be decoded.

use delegraph_model::{Source, TimestampError};

/// A decode failure. Each variant maps to a stable reason code
/// ([`DecodeError::reason`]) so dead letters can be counted and filtered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The JSON stopped before the value was complete.
    #[error("truncated JSON: {0}")]
    Truncated(String),
    /// The record is larger than the configured limit.
    #[error("record of {bytes} bytes exceeds the {limit}-byte limit")]
    Oversized {
        /// Size of the record.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A JSON value that is not an object (a number, a string, …).
    #[error("record is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    /// No decoder recognised the record.
    #[error("unknown format (top-level keys: {0})")]
    UnknownFormat(String),
    /// A record of a known standard that delegraph does not read (an OCSF
    /// class or product other than those it maps); says which and why.
    #[error("unsupported record: {0}")]
    Unsupported(String),
    /// A field the format requires is absent.
    #[error("{format} record: {detail}")]
    MissingField {
        /// The format the record was taken for.
        format: Source,
        /// Which field, as the parser reported it.
        detail: String,
    },
    /// A field has the wrong JSON type.
    #[error("{format} record has a wrongly typed field: {detail}")]
    WrongType {
        /// The format the record was taken for.
        format: Source,
        /// Which field and what was expected.
        detail: String,
    },
    /// A time field could not be read.
    #[error("{format} record has a bad {field}: {error}")]
    BadTimestamp {
        /// The format the record was taken for.
        format: Source,
        /// The field holding the time.
        field: &'static str,
        /// What was wrong with it.
        error: TimestampError,
    },
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8: {0}")]
    InvalidUtf8(String),
}

impl DecodeError {
    /// Stable, lower-case reason code for metrics and the dead-letter sink.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::MalformedJson(_) => "malformed_json",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Oversized { .. } => "oversized",
            DecodeError::NotAnObject(_) => "not_an_object",
            DecodeError::UnknownFormat(_) => "unknown_format",
            DecodeError::Unsupported(_) => "unsupported",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::BadTimestamp { .. } => "bad_timestamp",
            DecodeError::InvalidUtf8(_) => "invalid_utf8",
        }
    }

    /// The format the record was taken for, when one was decided.
    pub fn format(&self) -> Option<Source> {
        match self {
            DecodeError::MissingField { format, .. }
            | DecodeError::WrongType { format, .. }
            | DecodeError::BadTimestamp { format, .. } => Some(*format),
            _ => None,
        }
    }

    /// The same error, its detail prefixed with the field it is about.
    pub(crate) fn at_field(self, source: Source, path: &str) -> Self {
        match self {
            DecodeError::MissingField { format, detail } => DecodeError::MissingField {
                format,
                detail: format!("{path}: {detail}"),
            },
            DecodeError::WrongType { format, detail } => DecodeError::WrongType {
                format,
                detail: format!("{path}: {detail}"),
            },
            // A record's text was valid JSON before it reached its
            // decoder, so a "syntax" error at a field is serde_json's way
            // of refusing a type (an enum given a number).
            DecodeError::MalformedJson(detail) => DecodeError::WrongType {
                format: source,
                detail: format!("{path}: {detail}"),
            },
            other => other,
        }
    }

    /// Classify a serde_json error raised while parsing a record of `source`.
    pub(crate) fn from_json(source: Option<Source>, e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let text = e.to_string();
        match (e.classify(), source) {
            (Category::Eof, _) => DecodeError::Truncated(text),
            (Category::Syntax | Category::Io, _) => DecodeError::MalformedJson(text),
            (Category::Data, Some(format)) if text.starts_with("missing field") => {
                DecodeError::MissingField {
                    format,
                    detail: text,
                }
            }
            (Category::Data, Some(format)) => DecodeError::WrongType {
                format,
                detail: text,
            },
            (Category::Data, None) => DecodeError::MalformedJson(text),
        }
    }
}

//! A record the pipeline could not use, kept with why and where.

use serde::{Deserialize, Serialize};

use crate::{Origin, Source};

/// A rejected record. Bad input is normal in audit logs; nothing is dropped
/// silently, so every rejection becomes one of these and is counted by
/// `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Stable reason code (`malformed_json`, `truncated`, `oversized`,
    /// `unknown_format`, `missing_field`, `wrong_type`, `bad_timestamp`,
    /// `not_an_object`, `invalid_utf8`; for a whole input file, at line 0:
    /// `input_too_large`, `decompression_limit`, `truncated_input`), used
    /// for metrics and filtering.
    pub reason: String,
    /// Human-readable explanation naming the field or position at fault.
    pub detail: String,
    /// Where the record was read.
    pub origin: Origin,
    /// The format the record was taken for, if one was decided.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<Source>,
    /// The record's text; cut (and marked) when it exceeded the size limit.
    pub raw: String,
}

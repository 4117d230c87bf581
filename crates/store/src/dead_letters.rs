//! The `dead_letters` table: every record the pipeline could not use, with
//! why (`reason`, `detail`), where it was read (`origin`, as in `events`),
//! the format it was taken for and its text. A run's dead letters are
//! committed with its rows, under the same tag, so a redone run neither
//! loses nor repeats them; days are those the records were rejected on.

use std::sync::LazyLock;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use delegraph_model::DeadLetter;

use crate::StoreError;
use crate::columns::{Col, Columns, batch, schema};
use crate::events::write_origin;

/// The table's name (a directory under the data directory).
pub const DEAD_LETTER_TABLE: &str = "dead_letters";

/// A dead letter and when it was rejected (nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRow {
    /// When the record was rejected.
    pub at: i64,
    /// The record, why, and where it was read.
    pub letter: DeadLetter,
}

static DEAD_LETTER_COLUMNS: &Columns<DeadLetterRow> = &[
    ("dead_at", false, Col::Time(|d| Some(d.at))),
    ("reason", false, Col::Text(|d| Some(&d.letter.reason))),
    ("detail", false, Col::Text(|d| Some(&d.letter.detail))),
    (
        "source",
        true,
        Col::Text(|d| d.letter.source.map(|s| s.as_str())),
    ),
    (
        "origin",
        false,
        Col::Written(|d, text| write_origin(&d.letter.origin, text)),
    ),
    ("raw", false, Col::Text(|d| Some(&d.letter.raw))),
    // The partition: the UTC day of rejection.
    ("day", false, Col::Day(|d| d.at)),
];

static DEAD_LETTER_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema(DEAD_LETTER_COLUMNS));

/// The Arrow schema of the `dead_letters` table.
pub fn dead_letters_schema() -> SchemaRef {
    DEAD_LETTER_SCHEMA.clone()
}

/// One record batch of the `dead_letters` table.
pub fn dead_letters_batch(rows: &[DeadLetterRow]) -> Result<RecordBatch, StoreError> {
    batch(DEAD_LETTER_COLUMNS, dead_letters_schema(), rows)
}

//! Tables defined as lists of columns: each column is a name, a
//! nullability and the function that reads it from a row, so a table's
//! schema and its batch builder come from one list and cannot drift apart.
//!
//! Types are the ones Delta Lake has, so every engine reads the tables
//! alike: times in microseconds (UTC), counts as signed 64-bit integers,
//! list items named `element`.

use std::rc::Rc;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::StoreError;

/// How a column reads its value from a row of type `T`.
pub(crate) enum Col<T> {
    Text(fn(&T) -> Option<&str>),
    /// Text written into a buffer reused from row to row (no allocation
    /// per row); `false` is null.
    Written(fn(&T, &mut Vec<u8>) -> bool),
    /// Nanoseconds since the epoch, stored to the microsecond.
    Time(fn(&T) -> Option<i64>),
    /// The UTC day (`YYYY-MM-DD`) of a time in nanoseconds: the partition
    /// a row is filed under.
    Day(fn(&T) -> i64),
    List(fn(&T) -> Vec<&str>),
    Bool(fn(&T) -> bool),
    MaybeBool(fn(&T) -> Option<bool>),
    UInt(fn(&T) -> Option<u32>),
    Count(fn(&T) -> u64),
    Float(fn(&T) -> Option<f64>),
}

/// Rows built at a time, every column in turn: a block's rows stay in
/// cache while each column reads them, where a whole column at a time
/// went once through every row of the batch per column (60 times for the
/// events table, a tenth of a replay's time).
const BLOCK_ROWS: usize = 128;

/// One table's columns, in order.
pub(crate) type Columns<T> = [(&'static str, bool, Col<T>)];

impl<T> Col<T> {
    fn data_type(&self) -> DataType {
        match self {
            Col::Text(_) | Col::Written(_) | Col::Day(_) => DataType::Utf8,
            Col::Time(_) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Col::List(_) => DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            Col::Bool(_) | Col::MaybeBool(_) => DataType::Boolean,
            Col::UInt(_) | Col::Count(_) => DataType::Int64,
            Col::Float(_) => DataType::Float64,
        }
    }

    /// Bytes of text the column holds for `rows` (0 for other kinds):
    /// what its builder is sized by, so a column of long values (raw
    /// records) is not copied each time its buffer doubles.
    fn text_bytes(&self, rows: &[T]) -> usize {
        match self {
            Col::Text(f) => rows.iter().filter_map(f).map(str::len).sum(),
            Col::List(f) => rows.iter().flat_map(f).map(str::len).sum(),
            _ => 0,
        }
    }

    /// An empty builder of this column for `rows` rows and `bytes` of text.
    fn builder(&self, rows: usize, bytes: usize) -> ColBuilder<T> {
        let text = || StringBuilder::with_capacity(rows, bytes);
        match self {
            Col::Text(f) => ColBuilder::Text(*f, text()),
            Col::Written(f) => ColBuilder::Written(*f, text(), Vec::new()),
            Col::Time(f) => ColBuilder::Time(*f, TimestampMicrosecondBuilder::with_capacity(rows)),
            Col::Day(f) => ColBuilder::Day(*f, text(), DayNames::default()),
            Col::List(f) => ColBuilder::List(
                *f,
                ListBuilder::with_capacity(text(), rows).with_field(Arc::new(Field::new(
                    "element",
                    DataType::Utf8,
                    true,
                ))),
            ),
            Col::Bool(f) => ColBuilder::Bool(*f, BooleanBuilder::with_capacity(rows)),
            Col::MaybeBool(f) => ColBuilder::MaybeBool(*f, BooleanBuilder::with_capacity(rows)),
            Col::UInt(f) => ColBuilder::UInt(*f, Int64Builder::with_capacity(rows)),
            Col::Count(f) => ColBuilder::Count(*f, Int64Builder::with_capacity(rows)),
            Col::Float(f) => ColBuilder::Float(*f, Float64Builder::with_capacity(rows)),
        }
    }
}

/// A column being built, block of rows by block of rows.
enum ColBuilder<T> {
    Text(fn(&T) -> Option<&str>, StringBuilder),
    /// With the buffer reused from row to row.
    Written(fn(&T, &mut Vec<u8>) -> bool, StringBuilder, Vec<u8>),
    Time(fn(&T) -> Option<i64>, TimestampMicrosecondBuilder),
    Day(fn(&T) -> i64, StringBuilder, DayNames),
    List(fn(&T) -> Vec<&str>, ListBuilder<StringBuilder>),
    Bool(fn(&T) -> bool, BooleanBuilder),
    MaybeBool(fn(&T) -> Option<bool>, BooleanBuilder),
    UInt(fn(&T) -> Option<u32>, Int64Builder),
    Count(fn(&T) -> u64, Int64Builder),
    Float(fn(&T) -> Option<f64>, Float64Builder),
}

impl<T> ColBuilder<T> {
    fn append(&mut self, rows: &[T]) {
        match self {
            ColBuilder::Text(f, b) => rows.iter().for_each(|r| b.append_option(f(r))),
            ColBuilder::Written(f, b, text) => {
                for r in rows {
                    text.clear();
                    if f(r, text) {
                        // Borrowed: what the writers write is UTF-8.
                        b.append_value(String::from_utf8_lossy(text));
                    } else {
                        b.append_null();
                    }
                }
            }
            ColBuilder::Time(f, b) => rows
                .iter()
                .for_each(|r| b.append_option(f(r).map(|ns| ns.div_euclid(1_000)))),
            ColBuilder::Day(f, b, days) => {
                rows.iter().for_each(|r| b.append_value(days.name(f(r))))
            }
            ColBuilder::List(f, b) => {
                for r in rows {
                    for v in f(r) {
                        b.values().append_value(v);
                    }
                    b.append(true);
                }
            }
            ColBuilder::Bool(f, b) => rows.iter().for_each(|r| b.append_value(f(r))),
            ColBuilder::MaybeBool(f, b) => rows.iter().for_each(|r| b.append_option(f(r))),
            ColBuilder::UInt(f, b) => rows
                .iter()
                .for_each(|r| b.append_option(f(r).map(i64::from))),
            ColBuilder::Count(f, b) => rows
                .iter()
                .for_each(|r| b.append_value(i64::try_from(f(r)).unwrap_or(i64::MAX))),
            ColBuilder::Float(f, b) => rows.iter().for_each(|r| b.append_option(f(r))),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColBuilder::Text(_, mut b)
            | ColBuilder::Written(_, mut b, _)
            | ColBuilder::Day(_, mut b, _) => Arc::new(b.finish()),
            ColBuilder::Time(_, mut b) => Arc::new(b.finish().with_timezone("UTC")),
            ColBuilder::List(_, mut b) => Arc::new(b.finish()),
            ColBuilder::Bool(_, mut b) | ColBuilder::MaybeBool(_, mut b) => Arc::new(b.finish()),
            ColBuilder::UInt(_, mut b) | ColBuilder::Count(_, mut b) => Arc::new(b.finish()),
            ColBuilder::Float(_, mut b) => Arc::new(b.finish()),
        }
    }
}

/// The Arrow schema of a column list.
pub(crate) fn schema<T>(cols: &Columns<T>) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(name, nullable, col)| Field::new(*name, col.data_type(), *nullable))
            .collect::<Vec<_>>(),
    ))
}

/// One record batch of `rows`.
pub(crate) fn batch<T>(
    cols: &Columns<T>,
    schema: SchemaRef,
    rows: &[T],
) -> Result<RecordBatch, StoreError> {
    let mut bytes = vec![0; cols.len()];
    for block in rows.chunks(BLOCK_ROWS) {
        for (sum, (_, _, col)) in bytes.iter_mut().zip(cols) {
            *sum += col.text_bytes(block);
        }
    }
    let mut builders: Vec<_> = cols
        .iter()
        .zip(bytes)
        .map(|((_, _, col), bytes)| col.builder(rows.len(), bytes))
        .collect();
    for block in rows.chunks(BLOCK_ROWS) {
        builders.iter_mut().for_each(|b| b.append(block));
    }
    let columns = builders.into_iter().map(ColBuilder::finish).collect();
    RecordBatch::try_new(schema, columns).map_err(|e| StoreError::Encode(e.to_string()))
}

/// Names of UTC days, remembering the last one: rows of a batch mostly
/// share their day, so the date is formatted once per change of day.
#[derive(Default)]
struct DayNames {
    last: Option<(i64, Rc<str>)>,
}

impl DayNames {
    const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

    fn name(&mut self, nanos: i64) -> Rc<str> {
        let day = nanos.div_euclid(Self::NANOS_PER_DAY);
        match &self.last {
            Some((d, name)) if *d == day => name.clone(),
            _ => {
                let name: Rc<str> = day_name(nanos).into();
                self.last = Some((day, name.clone()));
                name
            }
        }
    }
}

/// `YYYY-MM-DD` of a time in nanoseconds, in UTC: the day partition's name.
pub fn day_name(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .format("%Y-%m-%d")
        .to_string()
}

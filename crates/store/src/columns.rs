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
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
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

    fn build(&self, rows: &[T]) -> ArrayRef {
        match self {
            Col::Text(f) => {
                // Sized once from the values' lengths: a column of long
                // values (raw records) is otherwise copied each time its
                // buffer doubles.
                let bytes = rows.iter().filter_map(f).map(str::len).sum();
                let mut b = StringBuilder::with_capacity(rows.len(), bytes);
                for r in rows {
                    b.append_option(f(r));
                }
                Arc::new(b.finish())
            }
            Col::Written(f) => {
                let mut b = StringBuilder::with_capacity(rows.len(), 0);
                let mut text = Vec::new();
                for r in rows {
                    text.clear();
                    if f(r, &mut text) {
                        // Borrowed: what the writers write is UTF-8.
                        b.append_value(String::from_utf8_lossy(&text));
                    } else {
                        b.append_null();
                    }
                }
                Arc::new(b.finish())
            }
            Col::Time(f) => Arc::new(
                rows.iter()
                    .map(|r| f(r).map(|ns| ns.div_euclid(1_000)))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            Col::Day(f) => {
                let mut days = DayNames::default();
                Arc::new(
                    rows.iter()
                        .map(|r| Some(days.name(f(r))))
                        .collect::<StringArray>(),
                )
            }
            Col::List(f) => {
                let bytes = rows.iter().flat_map(f).map(str::len).sum();
                let values = StringBuilder::with_capacity(rows.len(), bytes);
                let mut b = ListBuilder::with_capacity(values, rows.len())
                    .with_field(Arc::new(Field::new("element", DataType::Utf8, true)));
                for r in rows {
                    for v in f(r) {
                        b.values().append_value(v);
                    }
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            Col::Bool(f) => Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>()),
            Col::MaybeBool(f) => Arc::new(rows.iter().map(f).collect::<BooleanArray>()),
            Col::UInt(f) => Arc::new(
                rows.iter()
                    .map(|r| f(r).map(i64::from))
                    .collect::<Int64Array>(),
            ),
            Col::Count(f) => Arc::new(
                rows.iter()
                    .map(|r| Some(i64::try_from(f(r)).unwrap_or(i64::MAX)))
                    .collect::<Int64Array>(),
            ),
            Col::Float(f) => Arc::new(rows.iter().map(f).collect::<Float64Array>()),
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
    let columns = cols.iter().map(|(_, _, c)| c.build(rows)).collect();
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

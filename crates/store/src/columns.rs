//! Tables defined as lists of columns: each column is a name, a
//! nullability and the function that reads it from a row, so a table's
//! schema and its batch builder come from one list and cannot drift apart.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::StoreError;

/// How a column reads its value from a row of type `T`.
pub(crate) enum Col<T> {
    Text(fn(&T) -> Option<&str>),
    Owned(fn(&T) -> Option<String>),
    Time(fn(&T) -> Option<i64>),
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
            Col::Text(_) | Col::Owned(_) => DataType::Utf8,
            Col::Time(_) => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            Col::List(_) => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Col::Bool(_) | Col::MaybeBool(_) => DataType::Boolean,
            Col::UInt(_) => DataType::UInt32,
            Col::Count(_) => DataType::UInt64,
            Col::Float(_) => DataType::Float64,
        }
    }

    fn build(&self, rows: &[T]) -> ArrayRef {
        match self {
            Col::Text(f) => Arc::new(rows.iter().map(f).collect::<StringArray>()),
            Col::Owned(f) => Arc::new(rows.iter().map(f).collect::<StringArray>()),
            Col::Time(f) => Arc::new(
                rows.iter()
                    .map(f)
                    .collect::<TimestampNanosecondArray>()
                    .with_timezone("UTC"),
            ),
            Col::List(f) => {
                let mut b = ListBuilder::new(StringBuilder::new());
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
            Col::UInt(f) => Arc::new(rows.iter().map(f).collect::<UInt32Array>()),
            Col::Count(f) => Arc::new(rows.iter().map(|r| Some(f(r))).collect::<UInt64Array>()),
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

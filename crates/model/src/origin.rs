//! Where a record came from, so an analyst can go back to the source bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The place in the input that held a record.
///
/// Every event, finding and dead letter carries one: it is the evidence an
/// analyst opens, and the key that makes replays and Kafka redeliveries
/// recognisable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A line of a file (1-based); `index` numbers records inside one line or
    /// document (a `Records` envelope, a JSON array, an OTLP request).
    File {
        /// Path as given on the command line.
        path: String,
        /// 1-based line where the record's document starts.
        line: u64,
        /// 0-based position inside that document, when it held several.
        index: Option<u32>,
    },
    /// A Kafka message; `index` as for files.
    Kafka {
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: i32,
        /// Message offset.
        offset: i64,
        /// 0-based position inside the message, when it held several.
        index: Option<u32>,
    },
}

impl Origin {
    /// The same place, narrowed to the `index`-th record inside it.
    pub fn with_index(&self, i: u32) -> Self {
        let mut o = self.clone();
        match &mut o {
            Origin::File { index, .. } | Origin::Kafka { index, .. } => *index = Some(i),
        }
        o
    }
}

impl fmt::Display for Origin {
    /// `file:line[#index]` or `topic/partition/offset[#index]`, as in the spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = match self {
            Origin::File { path, line, index } => {
                write!(f, "{path}:{line}")?;
                index
            }
            Origin::Kafka {
                topic,
                partition,
                offset,
                index,
            } => {
                write!(f, "{topic}/{partition}/{offset}")?;
                index
            }
        };
        match index {
            Some(i) => write!(f, "#{i}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_the_spec_says() {
        let f = Origin::File {
            path: "a.json".into(),
            line: 3,
            index: None,
        };
        assert_eq!(f.to_string(), "a.json:3");
        assert_eq!(f.with_index(2).to_string(), "a.json:3#2");
        let k = Origin::Kafka {
            topic: "iam".into(),
            partition: 1,
            offset: 42,
            index: None,
        };
        assert_eq!(k.to_string(), "iam/1/42");
    }
}

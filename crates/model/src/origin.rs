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

    /// The place as text (see `Display`), built from its pieces: written
    /// for every stored event and evidence item, where the formatting
    /// machinery of `to_string` showed in profiles.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.name().len() + 24);
        self.each_piece(|piece| out.push_str(piece));
        out
    }

    /// Hand the place's text to `put`, piece by piece (for writers that
    /// collect bytes rather than a `String`).
    pub fn each_piece(&self, mut put: impl FnMut(&str)) {
        let mut number = itoa::Buffer::new();
        let index = match self {
            Origin::File { path, line, index } => {
                put(path);
                put(":");
                put(number.format(*line));
                index
            }
            Origin::Kafka {
                topic,
                partition,
                offset,
                index,
            } => {
                put(topic);
                put("/");
                put(number.format(*partition));
                put("/");
                put(number.format(*offset));
                index
            }
        };
        if let Some(i) = index {
            put("#");
            put(number.format(*i));
        }
    }

    /// The file's path or the topic.
    fn name(&self) -> &str {
        match self {
            Origin::File { path, .. } => path,
            Origin::Kafka { topic, .. } => topic,
        }
    }
}

impl fmt::Display for Origin {
    /// `file:line[#index]` or `topic/partition/offset[#index]`, as in the spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut written = Ok(());
        self.each_piece(|piece| {
            if written.is_ok() {
                written = f.write_str(piece);
            }
        });
        written
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
        assert_eq!(k.with_index(0).text(), "iam/1/42#0");
        let far = Origin::Kafka {
            topic: "t".into(),
            partition: -1,
            offset: i64::MAX,
            index: Some(u32::MAX),
        };
        assert_eq!(far.text(), format!("t/-1/{}#{}", i64::MAX, u32::MAX));
        assert_eq!(far.to_string(), far.text());
    }
}

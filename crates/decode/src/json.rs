//! Lenient JSON value types for the free-form parts of vendor records.
//!
//! Vendors put differently typed values under the same key across services
//! (CloudTrail `requestParameters.name` is a string for SSM and an object
//! elsewhere). A strict struct would reject a whole valid record for a field
//! we only peek at, so optional fields use these types: they take what they
//! understand and ignore the rest.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// An optional text field: strings are kept, numbers and booleans are
/// written as text, anything else (null, object, array) becomes `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub Option<String>);

impl Text {
    /// The value, if it is non-empty.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }

    /// The value as an owned string, if it is non-empty.
    pub fn owned(&self) -> Option<String> {
        self.get().map(str::to_owned)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(Some(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(Some(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

/// A list of texts that also accepts a single value or a comma- or
/// space-separated string (Okta scopes, GitHub `token_scopes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextList(pub Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list or a separated string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextList, E> {
                Ok(TextList(split_list(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TextList, E> {
                Ok(TextList::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<TextList, E> {
                Ok(TextList::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<TextList, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TextList, E> {
                Ok(TextList(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TextList, E> {
                Ok(TextList(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<TextList, E> {
                Ok(TextList::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<TextList, E> {
                Ok(TextList::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(t)) = seq.next_element::<Text>()? {
                    out.extend(t.filter(|s| !s.is_empty()));
                }
                Ok(TextList(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextList, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TextList::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Split `"a, b c"` into `["a", "b", "c"]`.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A scalar that may come as a number or a string: OTLP/JSON 64-bit
/// integers, GitHub epoch milliseconds, Google `intValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string (possibly holding a number).
    Str(String),
}

impl Scalar {
    /// The value as an integer, parsing strings.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Int(i) => Some(*i),
            Scalar::Float(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
            Scalar::Float(_) => None,
            Scalar::Str(s) => s.trim().parse().ok(),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom(format!("integer {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value that is either one `T` or a list of them (Google Workspace
/// `events` is an array in the API and a single object in some pipelines).
#[derive(Debug, Clone, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or a list of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(OneOrMany(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|x| OneOrMany(vec![x]))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// FNV-1a 64 over `bytes`, hex-encoded: a stable id for records that carry
/// none (some GitHub exports, MCP lines without a JSON-RPC id).
pub fn content_id(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_lenient() {
        let t: Vec<Text> = serde_json::from_str(r#"["a", 1, true, null, {"x":1}, [1]]"#).unwrap();
        let got: Vec<Option<&str>> = t.iter().map(Text::get).collect();
        assert_eq!(got, [Some("a"), Some("1"), Some("true"), None, None, None]);
    }

    #[test]
    fn lists_accept_strings_and_arrays() {
        let a: TextList = serde_json::from_str(r#""okta.users.read, offline_access""#).unwrap();
        assert_eq!(a.0, ["okta.users.read", "offline_access"]);
        let b: TextList = serde_json::from_str(r#"["x", 2, null]"#).unwrap();
        assert_eq!(b.0, ["x", "2"]);
    }

    #[test]
    fn scalar_reads_numbers_in_strings() {
        let s: Scalar = serde_json::from_str(r#""1544712660000000000""#).unwrap();
        assert_eq!(s.as_i64(), Some(1_544_712_660_000_000_000));
        assert!(serde_json::from_str::<Scalar>("18446744073709551615").is_err());
    }
}

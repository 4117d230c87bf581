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
/// [`Str`] is the strict kind, for fields a vendor documents as strings
/// and delegraph relies on (an identity's ARN): null or absent is `None`,
/// any other type is an error naming the field, never a silently wrong
/// value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<const STRICT: bool = false>(pub Option<String>);

/// A text field that must be a string when present (see [`Text`]).
pub type Str = Text<true>;

impl<const STRICT: bool> Text<STRICT> {
    /// The value, if it is non-empty.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }

    /// The value as an owned string, if it is non-empty.
    pub fn owned(&self) -> Option<String> {
        self.get().map(str::to_owned)
    }

    /// The value, moved out, if it is non-empty: [`Text::owned`] without
    /// the copy, for a record read once (it leaves `None` behind).
    pub fn take(&mut self) -> Option<String> {
        self.0.take().filter(|s| !s.is_empty())
    }
}

struct TextVisitor<const STRICT: bool>;

impl<const STRICT: bool> TextVisitor<STRICT> {
    /// A value of another type: text when lenient, an error when strict.
    fn other<E: de::Error>(
        seen: de::Unexpected<'_>,
        text: Option<String>,
    ) -> Result<Text<STRICT>, E> {
        if STRICT {
            Err(E::invalid_type(seen, &"a string"))
        } else {
            Ok(Text(text))
        }
    }
}

impl<'de, const STRICT: bool> Visitor<'de> for TextVisitor<STRICT> {
    type Value = Text<STRICT>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(if STRICT { "a string" } else { "any JSON value" })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Self::other(de::Unexpected::Signed(v), Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Self::other(de::Unexpected::Unsigned(v), Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Self::other(de::Unexpected::Float(v), Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Self::other(de::Unexpected::Bool(v), Some(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if STRICT {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &"a string"));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if STRICT {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &"a string"));
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

impl<'de, const STRICT: bool> Deserialize<'de> for Text<STRICT> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor::<STRICT>)
    }
}

/// A required string that must not be empty (an event's name or id).
pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::invalid_value(
            de::Unexpected::Str(&s),
            &"a non-empty string",
        ));
    }
    Ok(s)
}

/// An identifier or code that vendors write as a string or an integer
/// (GitHub `token_id`, Entra `status.errorCode`): kept as text; null or
/// absent is `None`; a boolean, list or object is an error naming the
/// field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Id(pub Option<String>);

impl Id {
    /// The value, if it is non-empty.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }

    /// The value as an owned string, if it is non-empty.
    pub fn owned(&self) -> Option<String> {
        self.get().map(str::to_owned)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<Scalar>::deserialize(d)? {
            None => Ok(Id(None)),
            Some(Scalar::Str(s)) => Ok(Id(Some(s))),
            Some(Scalar::Int(i)) => Ok(Id(Some(i.to_string()))),
            Some(Scalar::Float(f)) => Err(de::Error::invalid_type(
                de::Unexpected::Float(f),
                &"a string or an integer",
            )),
        }
    }
}

/// A struct that must come as a JSON object: derived structs also accept
/// an array of their fields in order, so `userIdentity: []` would become an
/// empty identity instead of an error.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct ObjectVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
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

/// The value a JSON Pointer (RFC 6901) names in `v`: what
/// `serde_json::Value::pointer` answers, without its two allocations per
/// reference token (only a token with an escape is copied). A mapped
/// decoder tries several pointers for each fact of every record, and those
/// allocations were most of an OPA record's decoding.
pub fn pointer<'v>(v: &'v serde_json::Value, pointer: &str) -> Option<&'v serde_json::Value> {
    use serde_json::Value;
    use std::borrow::Cow;
    if pointer.is_empty() {
        return Some(v);
    }
    let mut tokens = pointer.strip_prefix('/')?.split('/');
    tokens.try_fold(v, |target, token| {
        let token = if token.contains('~') {
            Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
        } else {
            Cow::Borrowed(token)
        };
        match target {
            Value::Object(map) => map.get(token.as_ref()),
            Value::Array(list) => array_index(&token).and_then(|i| list.get(i)),
            _ => None,
        }
    })
}

/// An array index token: digits without a sign or a leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// What kind of JSON value `v` is, for "expected …, found …" messages.
pub fn kind_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
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
    fn pointers_find_what_serde_json_finds() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":{"b/c":[10,{"d~e":"x"}],"":{"":1}},"0":2,"list":[1,2]}"#)
                .unwrap();
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/b~1c/01",
            "/a/b~1c/+1",
            "/a/b~1c/2",
            "/a//",
            "/0",
            "/list/1",
            "/list/-",
            "/missing/x",
            "a",
            "/a/b~1c/0/x",
        ] {
            assert_eq!(pointer(&v, p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn scalar_reads_numbers_in_strings() {
        let s: Scalar = serde_json::from_str(r#""1544712660000000000""#).unwrap();
        assert_eq!(s.as_i64(), Some(1_544_712_660_000_000_000));
        assert!(serde_json::from_str::<Scalar>("18446744073709551615").is_err());
    }
}

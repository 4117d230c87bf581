//! A cheap look at a record's top-level keys, to pick its format.
//!
//! Detection looks only at top-level keys (and a few short values), never
//! at nested text, so a CloudTrail field that happens to mention `"uuid"`
//! cannot make the record look like Okta.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::DecodeError;

macro_rules! keys {
    ($($name:ident = $text:literal,)*) => {
        /// Top-level keys that matter for detection.
        #[allow(non_camel_case_types, missing_docs)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Key { $($name,)* }

        impl Key {
            fn from_str(s: &str) -> Option<Key> {
                match s { $($text => Some(Key::$name),)* _ => None }
            }
            #[cfg(test)]
            fn all() -> &'static [(Key, &'static str)] {
                &[$((Key::$name, $text),)*]
            }
        }
    };
}

keys! {
    EventSource = "eventSource",
    EventName = "eventName",
    EventTime = "eventTime",
    UserIdentity = "userIdentity",
    Records = "Records",
    RecordsLower = "records",
    Detail = "detail",
    DetailType = "detail-type",
    Uuid = "uuid",
    EventType = "eventType",
    Published = "published",
    Actor = "actor",
    Action = "action",
    DocumentId = "_document_id",
    AtTimestamp = "@timestamp",
    CreatedAt = "created_at",
    CreatedDateTime = "createdDateTime",
    Properties = "properties",
    Category = "category",
    Kind = "kind",
    Id = "id",
    Events = "events",
    ResourceSpans = "resourceSpans",
    Schema = "schema",
    SessionId = "session_id",
    Request = "request",
    Value = "value",
    Items = "items",
    Data = "data",
    AppId = "appId",
    ServicePrincipalId = "servicePrincipalId",
    UserPrincipalName = "userPrincipalName",
    SignInEventTypes = "signInEventTypes",
    DecisionId = "decision_id",
    Path = "path",
    Query = "query",
    EnvelopeId = "envelope_id",
    Event = "event",
    ProtoPayload = "protoPayload",
    InsertId = "insertId",
    Entries = "entries",
    ResourceId = "resourceId",
    OperationName = "operationName",
    ActivityDisplayName = "activityDisplayName",
    ActivityDateTime = "activityDateTime",
    ClassUid = "class_uid",
    Metadata = "metadata",
    CreationTime = "CreationTime",
    Operation = "Operation",
    RecordType = "RecordType",
    Workload = "Workload",
    RiskEventType = "riskEventType",
    RiskLastUpdatedDateTime = "riskLastUpdatedDateTime",
}

/// What a record's top level holds.
#[derive(Default)]
pub struct Probe<'a> {
    present: u64,
    values: Vec<(Key, &'a RawValue)>,
    /// Up to eight top-level key names, for "unknown format" messages
    /// (borrowed from the record unless the key holds escapes).
    pub sample_keys: Vec<Cow<'a, str>>,
}

impl<'a> Probe<'a> {
    /// Read the top level of `text`.
    pub fn of(text: &'a str) -> Result<Self, DecodeError> {
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_any(ProbeVisitor)
            .map_err(|e| DecodeError::from_json(None, &e))?
    }

    /// Read the top level of `text`, which must be exactly one JSON object
    /// (nothing but whitespace after it).
    pub fn of_whole(text: &'a str) -> Result<Self, DecodeError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let probe = de
            .deserialize_any(ProbeVisitor)
            .map_err(|e| DecodeError::from_json(None, &e))??;
        de.end().map_err(|e| DecodeError::from_json(None, &e))?;
        Ok(probe)
    }

    /// Whether the top level has `k`.
    pub fn has(&self, k: Key) -> bool {
        self.present & (1 << k as u8) != 0
    }

    /// Whether the top level has all of `ks`.
    pub fn has_all(&self, ks: &[Key]) -> bool {
        ks.iter().all(|k| self.has(*k))
    }

    /// The raw value under `k`, for keys that keep one.
    pub fn raw(&self, k: Key) -> Option<&'a RawValue> {
        self.values.iter().find(|(x, _)| *x == k).map(|(_, v)| *v)
    }

    /// The string under `k`, if it is a string.
    pub fn str(&self, k: Key) -> Option<String> {
        self.raw(k)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    }

    /// Whether the value under `k` is a JSON array.
    pub fn is_array(&self, k: Key) -> bool {
        self.raw(k).is_some_and(|v| v.get().starts_with('['))
    }

    /// A short description of the keys, for error messages.
    pub fn describe(&self) -> String {
        if self.sample_keys.is_empty() {
            return "none".into();
        }
        let shown: Vec<String> = self
            .sample_keys
            .iter()
            .map(|k| k.chars().take(40).collect())
            .collect();
        shown.join(", ")
    }
}

/// Keys whose value is kept: envelopes to open and short strings to compare.
fn keeps_value(k: Key) -> bool {
    matches!(
        k,
        Key::Records
            | Key::RecordsLower
            | Key::Detail
            | Key::DetailType
            | Key::EventType
            | Key::Category
            | Key::Kind
            | Key::Schema
            | Key::Value
            | Key::Items
            | Key::Entries
            | Key::Data
    )
}

struct ProbeVisitor;

/// A top-level key, borrowed from the record unless it holds escapes.
/// (`Cow<str>`'s own `Deserialize` always copies: a record's every key was
/// an allocation, a fifth of all a CloudTrail replay made.)
struct KeyText<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyTextVisitor)
    }
}

struct KeyTextVisitor;

impl<'de> Visitor<'de> for KeyTextVisitor {
    type Value = KeyText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(KeyText(Cow::Borrowed(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KeyText(Cow::Owned(v.to_owned())))
    }
}

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = Result<Probe<'de>, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = Probe::default();
        while let Some(KeyText(key)) = map.next_key::<KeyText<'de>>()? {
            let known = Key::from_str(&key);
            if p.sample_keys.len() < 8 {
                p.sample_keys.push(key);
            }
            match known {
                Some(k) if keeps_value(k) => {
                    p.present |= 1 << k as u8;
                    p.values.push((k, map.next_value::<&'de RawValue>()?));
                }
                Some(k) => {
                    p.present |= 1 << k as u8;
                    map.next_value::<IgnoredAny>()?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Ok(p))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Ok(Err(DecodeError::NotAnObject("array")))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(DecodeError::NotAnObject("string")))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(DecodeError::NotAnObject("number")))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(DecodeError::NotAnObject("number")))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(DecodeError::NotAnObject("number")))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(DecodeError::NotAnObject("boolean")))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(DecodeError::NotAnObject("null")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_table_is_consistent() {
        for (k, text) in Key::all() {
            assert_eq!(Key::from_str(text), Some(*k));
        }
        assert!(Key::all().len() <= 64);
    }

    #[test]
    fn nested_keys_do_not_count() {
        let p = Probe::of(r#"{"eventSource":"x","requestParameters":{"uuid":"u"}}"#).unwrap();
        assert!(p.has(Key::EventSource));
        assert!(!p.has(Key::Uuid));
    }

    /// Keys are borrowed from the record; one with an escape is read
    /// unescaped (and so copied), and still recognised.
    #[test]
    fn keys_are_borrowed_unless_escaped() {
        let p = Probe::of(r#"{"eventSource":"x","event\u004eame":"y"}"#).unwrap();
        assert!(matches!(p.sample_keys[0], Cow::Borrowed("eventSource")));
        assert!(matches!(&p.sample_keys[1], Cow::Owned(k) if k == "eventName"));
        assert!(p.has_all(&[Key::EventSource, Key::EventName]));
    }

    #[test]
    fn non_objects_are_named() {
        assert_eq!(
            Probe::of("42").err(),
            Some(DecodeError::NotAnObject("number"))
        );
    }
}

//! The OTLP/JSON wire shape of a trace export request, and attribute
//! lookup over a span and its resource.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::json::{Scalar, Str};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Request<'a> {
    #[serde(borrow)]
    pub(super) resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResourceSpans<'a> {
    #[serde(default)]
    pub(super) resource: Option<Resource>,
    #[serde(default, borrow, alias = "instrumentationLibrarySpans")]
    pub(super) scope_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize, Default)]
pub(super) struct Resource {
    #[serde(default)]
    pub(super) attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
pub(super) struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    pub(super) spans: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Span {
    pub(super) trace_id: String,
    pub(super) span_id: String,
    #[serde(default)]
    pub(super) parent_span_id: Str,
    pub(super) name: String,
    /// OTLP/JSON writes the enum as its number; proto3 JSON also allows
    /// its name (`SPAN_KIND_SERVER`).
    #[serde(default)]
    pub(super) kind: Option<Scalar>,
    pub(super) start_time_unix_nano: Scalar,
    #[serde(default)]
    pub(super) end_time_unix_nano: Option<Scalar>,
    #[serde(default)]
    pub(super) attributes: Vec<KeyValue>,
    #[serde(default)]
    pub(super) status: Option<Status>,
}

#[derive(Deserialize, Default)]
pub(super) struct Status {
    #[serde(default)]
    pub(super) code: Option<Scalar>,
    #[serde(default)]
    pub(super) message: Str,
}

#[derive(Deserialize)]
pub(super) struct KeyValue {
    pub(super) key: String,
    #[serde(default)]
    pub(super) value: AnyValue,
}

/// OTLP `AnyValue`: exactly one of the fields is set.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct AnyValue {
    #[serde(default)]
    pub(super) string_value: Option<String>,
    #[serde(default)]
    pub(super) int_value: Option<Scalar>,
    #[serde(default)]
    pub(super) double_value: Option<f64>,
    #[serde(default)]
    pub(super) bool_value: Option<bool>,
    #[serde(default)]
    pub(super) array_value: Option<ArrayValue>,
    #[serde(default)]
    pub(super) kvlist_value: Option<KvList>,
}

#[derive(Deserialize, Default)]
pub(super) struct ArrayValue {
    #[serde(default)]
    pub(super) values: Vec<AnyValue>,
}

#[derive(Deserialize, Default)]
pub(super) struct KvList {
    #[serde(default)]
    pub(super) values: Vec<KeyValue>,
}

impl AnyValue {
    /// The value as text; arrays and maps as JSON.
    pub(super) fn text(&self) -> Option<String> {
        if let Some(s) = &self.string_value {
            return Some(s.clone());
        }
        if let Some(i) = &self.int_value {
            return i.as_i64().map(|i| i.to_string());
        }
        if let Some(d) = self.double_value {
            return Some(d.to_string());
        }
        if let Some(b) = self.bool_value {
            return Some(b.to_string());
        }
        if self.array_value.is_some() || self.kvlist_value.is_some() {
            return Some(self.to_json().to_string());
        }
        None
    }

    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        if let Some(a) = &self.array_value {
            return Value::Array(a.values.iter().map(AnyValue::to_json).collect());
        }
        if let Some(m) = &self.kvlist_value {
            return Value::Object(
                m.values
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            );
        }
        if let Some(i) = self.int_value.as_ref().and_then(Scalar::as_i64) {
            return Value::from(i);
        }
        if let Some(b) = self.bool_value {
            return Value::from(b);
        }
        if let Some(d) = self.double_value {
            return Value::from(d);
        }
        self.string_value
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null)
    }
}

/// Which side of a remote call a span records (OTLP `Span.SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// The kind a span states, by number or by name; `None` for a value
    /// OTLP does not define.
    pub(super) fn of(v: Option<&Scalar>) -> Option<SpanKind> {
        const KINDS: [(&str, SpanKind); 6] = [
            ("UNSPECIFIED", SpanKind::Unspecified),
            ("INTERNAL", SpanKind::Internal),
            ("SERVER", SpanKind::Server),
            ("CLIENT", SpanKind::Client),
            ("PRODUCER", SpanKind::Producer),
            ("CONSUMER", SpanKind::Consumer),
        ];
        let Some(v) = v else {
            return Some(SpanKind::Unspecified);
        };
        if let Scalar::Str(s) = v
            && let Some(name) = s.strip_prefix("SPAN_KIND_")
        {
            return KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
        }
        let n = usize::try_from(v.as_i64()?).ok()?;
        KINDS.get(n).map(|(_, k)| *k)
    }
}

/// Attribute lookup over a span's and its resource's attributes.
pub(super) struct Attrs<'a> {
    pub(super) span: &'a [KeyValue],
    pub(super) resource: &'a [KeyValue],
}

impl Attrs<'_> {
    pub(super) fn get(&self, key: &str) -> Option<String> {
        self.span
            .iter()
            .chain(self.resource)
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.text())
            .filter(|s| !s.is_empty())
    }
    pub(super) fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.get(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_kind_by_number_or_name_and_nothing_else() {
        let n = |i| Some(Scalar::Int(i));
        let s = |t: &str| Some(Scalar::Str(t.into()));
        assert_eq!(SpanKind::of(None), Some(SpanKind::Unspecified));
        assert_eq!(SpanKind::of(n(2).as_ref()), Some(SpanKind::Server));
        assert_eq!(SpanKind::of(n(3).as_ref()), Some(SpanKind::Client));
        assert_eq!(SpanKind::of(s("2").as_ref()), Some(SpanKind::Server));
        assert_eq!(
            SpanKind::of(s("SPAN_KIND_CLIENT").as_ref()),
            Some(SpanKind::Client)
        );
        assert_eq!(SpanKind::of(n(6).as_ref()), None);
        assert_eq!(SpanKind::of(n(-1).as_ref()), None);
        assert_eq!(SpanKind::of(s("SPAN_KIND_SIDEWAYS").as_ref()), None);
        assert_eq!(SpanKind::of(s("server").as_ref()), None);
    }
}

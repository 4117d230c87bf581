//! Delivery envelopes: containers that hold vendor records.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::DecodeError;
use crate::framing::array_elements;
use crate::probe::{Key, Probe};

/// If the record is a known envelope, the records inside it.
///
/// - CloudTrail S3 delivery: `{"Records": [...]}`
/// - EventBridge: `{"detail-type": "...", "detail": {...}}`
/// - Okta event hook: `{"eventType": "com.okta.event_hook", "data": {"events": [...]}}`
/// - Azure Monitor (Event Hub): `{"records": [...]}`
/// - Microsoft Graph list: `{"value": [...]}`, or one entity as some of
///   Graph's documentation examples show it: `{"value": {...}}`
/// - Workspace Reports list: `{"kind": "admin#reports#activities", "items": [...]}`
/// - Cloud Logging `entries.list`: `{"entries": [...], "nextPageToken": "..."}`
pub fn open<'a>(p: &Probe<'a>) -> Option<Result<Vec<&'a str>, DecodeError>> {
    let list = |k: Key| p.raw(k).map(|v| array_elements(v.get()));
    if p.is_array(Key::Records) {
        return list(Key::Records).map(Ok);
    }
    if p.is_array(Key::RecordsLower) {
        return list(Key::RecordsLower).map(Ok);
    }
    if p.has(Key::DetailType)
        && let Some(d) = p.raw(Key::Detail).filter(|d| d.get().starts_with('{'))
    {
        return Some(Ok(vec![d.get()]));
    }
    if p.str(Key::EventType).as_deref() == Some("com.okta.event_hook") {
        #[derive(Deserialize)]
        struct HookData<'a> {
            #[serde(borrow, default)]
            events: Vec<&'a RawValue>,
        }
        let data = p.raw(Key::Data)?;
        return Some(
            serde_json::from_str::<HookData>(data.get())
                .map(|d| d.events.into_iter().map(RawValue::get).collect())
                .map_err(|e| DecodeError::from_json(None, &e)),
        );
    }
    if p.is_array(Key::Value) && !p.has(Key::EventType) {
        return list(Key::Value).map(Ok);
    }
    if let Some(one) = p.raw(Key::Value).filter(|v| v.get().starts_with('{'))
        && only_odata_besides_value(p)
    {
        return Some(Ok(vec![one.get()]));
    }
    if p.is_array(Key::Items)
        && p.str(Key::Kind)
            .is_some_and(|k| k.starts_with("admin#reports"))
    {
        return list(Key::Items).map(Ok);
    }
    if p.is_array(Key::Entries) {
        return list(Key::Entries).map(Ok);
    }
    None
}

/// Whether the record holds nothing but `value` and OData annotations
/// (`@odata.context`), so a `value` object is the entity, not a field.
fn only_odata_besides_value(p: &Probe<'_>) -> bool {
    p.sample_keys.len() < 8
        && p.sample_keys
            .iter()
            .all(|k| k == "value" || k.starts_with("@odata."))
}

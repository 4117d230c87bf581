//! OCSF records as Amazon Security Lake keeps AWS CloudTrail: API Activity
//! (class 6003; 3005 in Security Lake's first source version, OCSF
//! 1.0.0-rc.2), Authentication (3002) and Account Change (3001).
//!
//! Each is turned back into the CloudTrail record it was mapped from and
//! handed to the CloudTrail decoder, so credential links, classification
//! and the Sigma rules for `aws/cloudtrail` read a Security Lake export as
//! they read CloudTrail itself. The mapping is the one AWS publishes for
//! both source versions (fixtures/README.md names the samples):
//!
//! | CloudTrail | OCSF 1.1 (source v2) | OCSF 1.0.0-rc.2 (source v1) |
//! |---|---|---|
//! | `userIdentity.arn` | `actor.user.uid` | `actor.user.uuid` |
//! | `userIdentity.principalId` | `actor.user.uid_alt` | `actor.user.uid` |
//! | `userIdentity.accountId` | `actor.user.account.uid` | `actor.user.account_uid` |
//! | `requestParameters` | `api.request.data` (JSON text) | `unmapped["requestParameters.…"]` |
//! | `responseElements` | `api.response.data` (JSON text) | `unmapped["responseElements.…"]` |
//! | `eventType` | `metadata.event_code` | `unmapped.eventType` |
//!
//! Fields the mapping flattened into `unmapped` (`a.b.c` keys) are nested
//! again. Empty placeholders (`null`, `""`, `"''"`, `"-"`) count as absent.
//! Other OCSF records (another class or product) are refused by name.

use delegraph_model::{Source, Timestamp};
use serde_json::{Map, Value};

use crate::DecodeError;
use crate::probe::{Key, Probe};

/// OCSF classes Security Lake maps CloudTrail management events to.
const CLOUDTRAIL_CLASSES: [i64; 4] = [3001, 3002, 3005, 6003];

/// CloudTrail fields that are booleans, which OCSF's `unmapped` holds as
/// text.
const BOOLEAN_FIELDS: [&str; 2] = ["readOnly", "managementEvent"];

/// If the record is OCSF, the CloudTrail record it holds (as JSON text), or
/// why it cannot be read.
pub(crate) fn cloudtrail_record(p: &Probe<'_>, text: &str) -> Option<Result<String, DecodeError>> {
    if !p.has_all(&[Key::ClassUid, Key::Metadata]) {
        return None;
    }
    Some(read(text))
}

fn read(text: &str) -> Result<String, DecodeError> {
    let v: Value = serde_json::from_str(text).map_err(|e| DecodeError::from_json(None, &e))?;
    let ocsf = Ocsf(&v);
    let class = ocsf.int("/class_uid")?;
    let product = ocsf.text("/metadata/product/name")?;
    let readable = class.is_some_and(|c| CLOUDTRAIL_CLASSES.contains(&c));
    if product != Some("CloudTrail") || !readable {
        return Err(DecodeError::Unsupported(format!(
            "OCSF class {} from {}: the OCSF records read are AWS CloudTrail's API Activity (6003, 3005), Authentication (3002) and Account Change (3001)",
            class.map_or_else(|| "?".to_owned(), |c| c.to_string()),
            product.unwrap_or("an unnamed product"),
        )));
    }
    translate(ocsf).map(|r| r.to_string())
}

/// An OCSF record, read strictly: a field of the wrong type is an error
/// naming it, never a silent absence.
#[derive(Clone, Copy)]
struct Ocsf<'a>(&'a Value);

impl<'a> Ocsf<'a> {
    fn wrong(ptr: &str, expected: &str, found: &Value) -> DecodeError {
        let kind = crate::json::kind_name(found);
        DecodeError::WrongType {
            format: Source::Cloudtrail,
            detail: format!(
                "OCSF {}: expected {expected}, found {kind}",
                ptr.trim_start_matches('/').replace('/', ".")
            ),
        }
    }

    /// The text at `ptr`; absent for placeholders.
    fn text(self, ptr: &str) -> Result<Option<&'a str>, DecodeError> {
        match crate::json::pointer(self.0, ptr) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(present_text(s).then_some(s.as_str())),
            Some(other) => Err(Self::wrong(ptr, "a string", other)),
        }
    }

    fn int(self, ptr: &str) -> Result<Option<i64>, DecodeError> {
        match crate::json::pointer(self.0, ptr) {
            None | Some(Value::Null) => Ok(None),
            Some(n @ Value::Number(_)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::wrong(ptr, "an integer", n)),
            Some(other) => Err(Self::wrong(ptr, "an integer", other)),
        }
    }

    fn flag(self, ptr: &str) -> Result<Option<bool>, DecodeError> {
        match crate::json::pointer(self.0, ptr) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Self::wrong(ptr, "a boolean", other)),
        }
    }

    /// `api.request.data` / `api.response.data`: JSON text holding an
    /// object (or, in some exports, the object itself).
    fn payload(self, ptr: &str) -> Result<Option<Value>, DecodeError> {
        match crate::json::pointer(self.0, ptr) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !present_text(s) => Ok(None),
            Some(t @ Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(o @ Value::Object(_)) => Ok(Some(o)),
                _ => Err(Self::wrong(ptr, "JSON text of an object", t)),
            },
            Some(o @ Value::Object(_)) => Ok(Some(o.clone())),
            Some(other) => Err(Self::wrong(ptr, "JSON text of an object", other)),
        }
    }
}

/// Text that holds something (OCSF exports write placeholders).
fn present_text(s: &str) -> bool {
    !matches!(s, "" | "''" | "-")
}

fn missing(field: &str) -> DecodeError {
    DecodeError::MissingField {
        format: Source::Cloudtrail,
        detail: format!("OCSF record without {field}"),
    }
}

/// Set `path` (dot-separated) in `record`, creating objects on the way; a
/// path through a value that is not an object is left alone.
fn set(record: &mut Map<String, Value>, path: &str, value: Value) {
    let mut at = record;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at.insert(part.to_owned(), value);
            return;
        }
        let next = at
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(inner) = next else {
            return;
        };
        at = inner;
    }
}

/// The CloudTrail record an OCSF record was mapped from.
fn translate(v: Ocsf<'_>) -> Result<Value, DecodeError> {
    let mut r = Map::new();
    // Flattened fields first: what the typed attributes say below wins.
    if let Some(unmapped) = v.0.get("unmapped").and_then(Value::as_object) {
        for key in unmapped.keys() {
            let Some(text) = v.text(&format!(
                "/unmapped/{}",
                key.replace('~', "~0").replace('/', "~1")
            ))?
            else {
                continue;
            };
            let value = match (BOOLEAN_FIELDS.contains(&key.as_str()), text) {
                (true, "true") => Value::Bool(true),
                (true, "false") => Value::Bool(false),
                _ => Value::String(text.to_owned()),
            };
            set(&mut r, key, value);
        }
    }
    let millis = v.int("/time")?.ok_or_else(|| missing("time"))?;
    let time = Timestamp::from_millis(millis).ok_or_else(|| missing("a time in range"))?;
    let id = v
        .text("/metadata/uid")?
        .ok_or_else(|| missing("metadata.uid"))?;
    let mut fields: Vec<(&str, Option<String>)> = vec![
        ("eventID", Some(id.to_owned())),
        ("eventTime", Some(time.to_rfc3339_secs())),
    ];
    for (path, ptr) in [
        ("eventVersion", "/metadata/product/version"),
        ("eventSource", "/api/service/name"),
        ("eventName", "/api/operation"),
        ("awsRegion", "/cloud/region"),
        ("userAgent", "/http_request/user_agent"),
        ("requestID", "/api/request/uid"),
        ("eventType", "/metadata/event_code"),
        ("recipientAccountId", "/cloud/account/uid"),
        ("errorCode", "/api/response/error"),
        ("errorMessage", "/api/response/message"),
    ] {
        fields.push((path, v.text(ptr)?.map(str::to_owned)));
    }
    let ip = v.text("/src_endpoint/ip")?;
    let domain = v.text("/src_endpoint/domain")?;
    fields.push(("sourceIPAddress", ip.or(domain).map(str::to_owned)));
    identity(v, &mut fields)?;
    for (path, value) in fields {
        if let Some(s) = value {
            set(&mut r, path, Value::String(s));
        }
    }
    if let Some(p) = v.payload("/api/request/data")? {
        set(&mut r, "requestParameters", p);
    }
    if let Some(p) = v.payload("/api/response/data")? {
        set(&mut r, "responseElements", p);
    }
    outcome(v, &mut r)?;
    Ok(Value::Object(r))
}

/// `userIdentity` from `actor`, in either source version's layout.
fn identity(v: Ocsf<'_>, fields: &mut Vec<(&str, Option<String>)>) -> Result<(), DecodeError> {
    let uid = v.text("/actor/user/uid")?;
    let uid_is_arn = uid.is_some_and(|u| u.starts_with("arn:"));
    let arn = match uid.filter(|_| uid_is_arn) {
        Some(a) => Some(a),
        None => v.text("/actor/user/uuid")?,
    };
    let principal = v
        .text("/actor/user/uid_alt")?
        .or(uid.filter(|_| !uid_is_arn));
    let account = match v.text("/actor/user/account/uid")? {
        Some(a) => Some(a),
        None => v.text("/actor/user/account_uid")?,
    };
    let created = match v.text("/actor/session/created_time_dt")? {
        Some(t) => Some(t.to_owned()),
        None => v
            .int("/actor/session/created_time")?
            .and_then(Timestamp::from_millis)
            .map(Timestamp::to_rfc3339_secs),
    };
    let mfa = match v.flag("/actor/session/is_mfa")? {
        Some(m) => Some(m),
        None => v.flag("/actor/session/mfa")?,
    };
    let owned = |s: Option<&str>| s.map(str::to_owned);
    fields.extend([
        ("userIdentity.type", owned(v.text("/actor/user/type")?)),
        ("userIdentity.arn", owned(arn)),
        ("userIdentity.principalId", owned(principal)),
        ("userIdentity.accountId", owned(account)),
        (
            "userIdentity.accessKeyId",
            owned(v.text("/actor/user/credential_uid")?),
        ),
        ("userIdentity.userName", owned(v.text("/actor/user/name")?)),
        (
            "userIdentity.invokedBy",
            owned(v.text("/actor/invoked_by")?),
        ),
        (
            "userIdentity.identityProvider",
            owned(v.text("/actor/idp/name")?),
        ),
        (
            "userIdentity.sessionContext.sessionIssuer.arn",
            owned(v.text("/actor/session/issuer")?),
        ),
        (
            "userIdentity.sessionContext.attributes.creationDate",
            created,
        ),
        (
            "userIdentity.sessionContext.attributes.mfaAuthenticated",
            mfa.map(|m| m.to_string()),
        ),
    ]);
    Ok(())
}

/// What CloudTrail says of a failure, where OCSF kept only the status: a
/// console sign-in's result, and an error code for failed calls.
fn outcome(v: Ocsf<'_>, r: &mut Map<String, Value>) -> Result<(), DecodeError> {
    let failed = v.int("/status_id")? == Some(2)
        || v.text("/status")?
            .is_some_and(|s| s.eq_ignore_ascii_case("failure"));
    let console = r.get("eventName").and_then(Value::as_str) == Some("ConsoleLogin");
    let answered = r
        .get("responseElements")
        .and_then(|e| e.get("ConsoleLogin"))
        .is_some();
    if console && !answered {
        let result = if failed { "Failure" } else { "Success" };
        set(
            r,
            "responseElements.ConsoleLogin",
            Value::String(result.into()),
        );
    }
    if failed && !console && !r.contains_key("errorCode") {
        let code = v.text("/status_detail")?.unwrap_or("Failure");
        set(r, "errorCode", Value::String(code.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_fields_nest_and_typed_attributes_win() {
        let mut r = Map::new();
        set(&mut r, "a.b.c", Value::from(1));
        set(&mut r, "a.b.d", Value::from(2));
        set(&mut r, "a", Value::from(3));
        assert_eq!(Value::Object(r), serde_json::json!({ "a": 3 }));
        let mut r = Map::new();
        set(&mut r, "x", Value::from("flat"));
        set(&mut r, "x.y", Value::from(1));
        assert_eq!(Value::Object(r), serde_json::json!({ "x": "flat" }));
    }

    #[test]
    fn placeholders_are_absent_and_wrong_types_are_named() {
        let v = serde_json::json!({
            "a": "", "b": "''", "c": "-", "d": null, "e": "0",
            "actor": { "user": { "credential_uid": 7 } },
        });
        let o = Ocsf(&v);
        for p in ["/a", "/b", "/c", "/d", "/missing"] {
            assert_eq!(o.text(p), Ok(None), "{p}");
        }
        assert_eq!(o.text("/e"), Ok(Some("0")));
        let err = o
            .text("/actor/user/credential_uid")
            .unwrap_err()
            .to_string();
        assert!(err.contains("actor.user.credential_uid"), "{err}");
        assert!(err.contains("found a number"), "{err}");
    }
}

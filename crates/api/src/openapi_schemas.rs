//! The OpenAPI document's components: what every answer and request body
//! looks like, and the error responses the routes share. Response objects
//! are closed (`additionalProperties: false`) and a column the store leaves
//! NULL is absent rather than `null` (the JSON writer drops NULLs), so
//! `scripts/api-contract` notices a new, renamed or newly nullable field.

use delegraph_model::Severity;
use serde_json::{Map, Value, json};

/// RFC 3339 date-times the handlers can hold as nanoseconds since the
/// epoch (1677-09-21 to 2262-04-11; outside that they answer 400),
/// narrowed to whole years 1680–2259 and to days every year has, so that
/// whatever matches is accepted. A pattern, not `format`: a generator
/// drawing any date-time and keeping those in range throws most away.
pub(crate) const DATE_TIME: &str = concat!(
    r"^(1(6[89]|[7-9][0-9])|2([01][0-9]|2[0-5]))[0-9]-",
    r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))",
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?",
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
);

/// A findings cursor: `<sort key>.<finding id>`, the key an `i64` (every
/// 19-digit key up to 8999999999999999999, i.e. event times to 2255).
pub(crate) const CURSOR: &str = r"^[+-]?([0-9]{1,18}|[1-8][0-9]{18})\.[0-9a-fA-F]+$";

/// A finding id: 128-bit hash in lower-case hex.
pub(crate) const FINDING_ID: &str = "^[0-9a-f]{32}$";

/// A silence id as assigned on creation.
pub(crate) const SILENCE_ID: &str = "^s[0-9a-f]{16}$";

/// What `char::is_whitespace` (and so `str::trim`) skips: a reason must
/// hold something else. Spelled out because regex engines' `\s` differ
/// from Rust's and from each other (U+001C–U+001F, U+FEFF).
const NOT_BLANK: &str =
    r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// The error responses routes refer to: status, component name, when.
pub(crate) const ERRORS: [(u16, &str, &str); 11] = [
    (400, "BadRequest", "Bad parameter, body or query"),
    (401, "Unauthorized", "No or an unknown bearer token"),
    (403, "Forbidden", "The token's role may not do this"),
    (404, "NotFound", "Nothing there"),
    (
        409,
        "Conflict",
        "The change no longer applies to the finding's state",
    ),
    (413, "PayloadTooLarge", "The body is too large"),
    (415, "UnsupportedMediaType", "Not `application/json`"),
    (422, "Unprocessable", "JSON that does not fit the schema"),
    (500, "InternalError", "Failed on the server's side (logged)"),
    (503, "Busy", "All query slots taken; see `Retry-After`"),
    (504, "QueryTimeout", "The query ran past its time limit"),
];

/// `{"$ref": "#/components/schemas/NAME"}`.
pub(crate) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A closed object: `required` fields always present, `optional` ones
/// absent when the store holds NULL.
pub(crate) fn object(required: &[(&str, Value)], optional: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = required
        .iter()
        .chain(optional)
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let names: Vec<&str> = required.iter().map(|(k, _)| *k).collect();
    json!({"type": "object", "properties": properties, "required": names, "additionalProperties": false})
}

pub(crate) fn string() -> Value {
    json!({"type": "string"})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

pub(crate) fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn risk() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": 100})
}

pub(crate) fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable_string() -> Value {
    json!({"type": ["string", "null"]})
}

pub(crate) fn array_of(name: &str) -> Value {
    json!({"type": "array", "items": schema_ref(name)})
}

/// A row of `findings` with its triage state; with `detail`, also the
/// evidence events, else whether a silence matches it.
fn finding(detail: bool) -> Value {
    let mut required = vec![
        (
            "finding_id",
            json!({"type": "string", "pattern": FINDING_ID}),
        ),
        ("severity", schema_ref("Severity")),
        ("risk_score", risk()),
        ("event_time", time()),
        ("detected_at", time()),
        ("summary", string()),
        ("expected", string()),
        ("observed", string()),
        ("baseline_instances", count()),
        ("evidence", strings()),
        ("evidence_origins", strings()),
        ("chain", strings()),
        ("tags", strings()),
        ("instance_risk", risk()),
        ("human_risk", risk()),
        ("status", schema_ref("TriageStatus")),
    ];
    if detail {
        required.push(("evidence_events", array_of("EvidenceEvent")));
    } else {
        required.push(("silenced", json!({"type": "boolean"})));
    }
    let optional = [
        ("detector", string()),
        ("rule_id", string()),
        ("agent_id", string()),
        ("agent_instance", string()),
        ("delegation_root", string()),
        ("initiator", string()),
        ("credential_id", string()),
        ("tool", string()),
        ("resource", string()),
        ("disposition", schema_ref("Disposition")),
        ("assignee", string()),
        (
            "p_value",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
        ),
    ];
    object(&required, &optional)
}

/// A silence as stored; as listed, also whether it is still in force;
/// as created, also what closing its matches did.
pub(crate) fn silence(listed: bool, created: bool) -> Value {
    let mut required = vec![
        ("id", json!({"type": "string", "pattern": SILENCE_ID})),
        ("matcher", schema_ref("SilenceMatch")),
        ("reason", string()),
        ("created_by", string()),
        ("created_at", time()),
        ("expires_at_ns", json!({"type": "integer"})),
        ("expires_at", time()),
    ];
    if listed {
        required.push(("active", json!({"type": "boolean"})));
    }
    let closed = [("closed", schema_ref("BulkResult"))];
    object(&required, if created { &closed } else { &[] })
}

pub(crate) const MATCH_FIELDS: [&str; 7] = [
    "detector",
    "agent_id",
    "agent_instance",
    "initiator",
    "credential_id",
    "tool",
    "resource",
];

/// The request's matcher: a `null` field counts as absent, so at least one
/// must be a string.
pub(crate) fn new_silence_match() -> Value {
    let field = json!({"type": ["string", "null"], "maxLength": crate::silences::MAX_MATCH_CHARS});
    let properties: Map<String, Value> = MATCH_FIELDS
        .iter()
        .map(|f| ((*f).to_owned(), field.clone()))
        .collect();
    let one_given: Vec<Value> = MATCH_FIELDS
        .iter()
        .map(|f| json!({"required": [f], "properties": {*f: string()}}))
        .collect();
    json!({"type": "object", "properties": properties, "additionalProperties": false, "anyOf": one_given,
           "description": "Every field given must match; at least one must be given"})
}

/// The summary of one rule document, as `GET /api/v1/rules` and a stored
/// upload report it.
fn rule_summary() -> Value {
    let logsource = object(
        &[
            ("product", nullable_string()),
            ("service", nullable_string()),
            ("category", nullable_string()),
        ],
        &[],
    );
    object(
        &[
            (
                "kind",
                json!({"type": "string", "enum": ["rule", "correlation", "sequence"]}),
            ),
            ("title", string()),
            ("id", nullable_string()),
            ("status", nullable_string()),
            ("level", nullable_string()),
            ("logsource", logsource),
        ],
        &[],
    )
}

/// An uploaded rule file, as parsed from its YAML. Only the shape the
/// handler checks before compiling is here; the compiler refuses the rest
/// with `FILE:LINE: message` (400), which no schema can foresee.
fn rule_document() -> Value {
    json!({
        "type": "object",
        "description": "A Sigma rule, correlation or sequence (several may follow each other as YAML documents separated by `---`)",
        "required": ["title"],
        "properties": {
            "title": string(), "id": string(), "status": string(), "level": string(),
            "logsource": {"type": "object"},
            "detection": {"type": "object", "required": ["condition"]},
            "correlation": {"type": "object"},
            "sequence": {"type": "object"}
        },
        "anyOf": [{"required": ["detection"]}, {"required": ["correlation"]}, {"required": ["sequence"]}],
        "examples": [{
            "title": "Secret listed by an agent", "id": "0b8e7bd4-6f7c-4c43-9a53-2b8b5f1c7e11",
            "status": "experimental", "level": "medium", "logsource": {"product": "aws", "service": "cloudtrail"},
            "detection": {"selection": {"eventName": "ListSecrets"}, "condition": "selection"}
        }]
    })
}

/// `components.schemas`.
fn schemas() -> Value {
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let rule_file = |body: (&str, Value)| object(&[("name", string()), body], &[]);
    json!({
        "Error": object(&[("error", string())], &[]),
        "Severity": {"type": "string", "enum": severities},
        "Finding": finding(false),
        "FindingDetail": finding(true),
        "FindingPage": object(&[
            ("findings", array_of("Finding")),
            ("next", json!({"type": ["string", "null"], "pattern": CURSOR,
                "description": "`cursor` of the next page; null on the last"})),
        ], &[]),
        "EvidenceEvent": object(&[
            ("event_id", string()), ("event_time", time()), ("source", string()),
            ("operation", string()), ("actor", string()), ("actor_kind", string()), ("origin", string()),
        ], &[("credential_id", string()), ("actor_name", string()), ("tool", string()),
              ("tool_arguments", string()), ("resources", strings()), ("input_messages", string())]),
        "Graph": object(&[
            ("instance", string()),
            ("nodes", json!({"type": "array", "items": object(&[
                ("id", string()),
                ("kind", json!({"type": "string", "enum": ["human", "instance", "credential", "tool", "resource", "approval", "decision"]})),
            ], &[])})),
            ("edges", json!({"type": "array", "items": object(&[
                ("from_kind", string()), ("from_node", string()), ("edge", string()),
                ("to_kind", string()), ("to_node", string()), ("events", count()),
                ("first_seen", time()), ("last_seen", time()),
            ], &[])})),
        ], &[]),
        "InstanceLeaders": object(&[("leaders", json!({"type": "array", "items": object(&[
            ("instance", string()), ("risk", risk()), ("findings", count()),
            // An empty detector is stored as NULL, which array_agg keeps.
            ("detectors", json!({"type": "array", "items": nullable_string()})),
        ], &[("agent_id", string()), ("human", string())])}))], &[]),
        "HumanLeaders": object(&[("leaders", json!({"type": "array", "items": object(&[
            ("human", string()), ("risk", risk()), ("findings", count()), ("instances", count()),
        ], &[])}))], &[]),
        "SqlQuery": object(&[("query", json!({"type": "string", "minLength": 1,
            "maxLength": delegraph_store::MAX_SQL_BYTES,
            "description": "One read-only statement (no DDL, DML, COPY, SET or file access), at most this many bytes"}))], &[]),
        "SqlRows": object(&[("rows", json!({"type": "array", "items": {"type": "object"}}))], &[]),
        "RuleSummary": rule_summary(),
        "RuleDocument": rule_document(),
        "RuleFiles": object(&[("files", json!({"type": "array", "items": {"oneOf": [
            rule_file(("rules", array_of("RuleSummary"))),
            rule_file(("error", json!({"type": "string", "description": "Why the file cannot be used (`FILE:LINE: message` lines)"}))),
        ]}}))], &[]),
        "StoredRule": rule_file(("rules", array_of("RuleSummary"))),
        "SilenceMatch": object(&[], &MATCH_FIELDS.map(|f| (f, string()))),
        "NewSilence": object(&[
            ("matcher", new_silence_match()),
            ("reason", json!({"type": "string", "pattern": NOT_BLANK, "maxLength": crate::silences::MAX_REASON_CHARS})),
        ], &[
            ("expires_at", json!({"type": ["string", "null"], "pattern": DATE_TIME,
                "description": "RFC 3339, in the future (a time already past is refused with 400); default 24 hours from now"})),
            ("close_matching", json!({"oneOf": [schema_ref("CloseMatching"), {"type": "null"}]})),
        ]),
        "Silence": silence(false, false),
        "CreatedSilence": silence(false, true),
        "ListedSilence": silence(true, false),
        "Silences": object(&[("silences", array_of("ListedSilence"))], &[]),
        "Health": object(&[("status", json!({"const": "ok"}))], &[])
    })
}

/// `components.responses`: one per error status, every body `{"error"}`;
/// 401 names the scheme to use, 503 when to come back.
fn responses() -> Value {
    let header = |description: &str| json!({"required": true, "description": description, "schema": {"type": "string"}});
    let all: Map<String, Value> = ERRORS
        .iter()
        .map(|(status, name, description)| {
            let mut r = json!({"description": description,
                "content": {"application/json": {"schema": schema_ref("Error")}}});
            match *status {
                401 => {
                    r["headers"] =
                        json!({"WWW-Authenticate": header("`Bearer realm=\"delegraph\"`")})
                }
                503 => r["headers"] = json!({"Retry-After": header("Seconds to wait")}),
                _ => {}
            }
            ((*name).to_owned(), r)
        })
        .collect();
    Value::Object(all)
}

/// `a` with `b`'s entries added.
pub(crate) fn merged(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// `components`.
pub(crate) fn components() -> Value {
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
            "description": "A token from `delegraph token`: viewers read; analysts also triage (status, assignee, notes, silences); engineers also write rules"}},
        "schemas": merged(schemas(), crate::openapi_triage::schemas()),
        "responses": responses()
    })
}

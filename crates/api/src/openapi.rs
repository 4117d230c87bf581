//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, written by
//! hand next to the routes: a test checks every route is in it, and
//! `scripts/api-contract` has schemathesis check the server's answers
//! against it. Parameters describe what the handlers accept, no more and
//! no less: a narrower schema hides requests that work, a wider one makes
//! the server's 400 look like a broken promise. What no schema can say (a
//! query that plans, a rule that compiles, a time still to come) is in the
//! descriptions, and answered with 400.

use serde_json::{Map, Value, json};

use crate::openapi_schemas::{
    self as schemas, CURSOR, DATE_TIME, FINDING_ID, SILENCE_ID, schema_ref,
};

/// Errors of a route that runs a query: a bad parameter or statement, no
/// token, a failing store, no free query slot, a query over its time.
pub(crate) const QUERY_ERRORS: &[u16] = &[400, 401, 500, 503, 504];

/// Errors of a route taking a JSON body, on top of its own.
pub(crate) const JSON_BODY_ERRORS: &[u16] = &[400, 413, 415, 422];

/// An optional query parameter (no route requires one).
pub(crate) fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A free-text filter: matched exactly, never interpreted.
pub(crate) fn text_filter(name: &str, description: &str) -> Value {
    query(name, description, json!({"type": "string"}))
}

/// `limit`: whatever fits a `usize` is taken, then clamped to 1–1000.
pub(crate) fn limit(what: &str, default: u32) -> Value {
    query(
        "limit",
        &format!("{what}; values outside 1–1000 are clamped into it"),
        json!({"type": "integer", "minimum": 0, "maximum": usize::MAX, "default": default}),
    )
}

/// The `{id}` path segment.
pub(crate) fn id(description: &str, schema: Value) -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": description, "schema": schema})
}

/// A body of `media` type and schema, with an example a client can send.
pub(crate) fn body(media: &str, schema: Value, example: Value) -> Value {
    json!({"required": true, "content": {media: {"schema": schema, "example": example}}})
}

/// A success answering `application/json` with schema `name`.
pub(crate) fn json_ok(description: &str, name: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref(name)}}})
}

/// The successes in `ok` (status → response), then each of `errors` as a
/// reference to the shared error response.
pub(crate) fn responses(ok: Value, errors: &[&[u16]]) -> Value {
    let mut all = match ok {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for status in errors.iter().flat_map(|e| e.iter()) {
        if let Some((_, name, _)) = schemas::ERRORS.iter().find(|(s, _, _)| s == status) {
            all.insert(
                status.to_string(),
                json!({"$ref": format!("#/components/responses/{name}")}),
            );
        }
    }
    Value::Object(all)
}

/// A link feeding `pointer` of this answer to operation `op`'s `id`, so
/// stateful tests reach rows that exist rather than only 404s.
pub(crate) fn link(op: &str, pointer: &str) -> Value {
    json!({"operationId": op, "parameters": {"id": format!("$response.body#{pointer}")}})
}

/// `since` and `until`.
fn time_filter(name: &str, description: &str) -> Value {
    query(
        name,
        &format!("{description} (RFC 3339; instants 1677-09-21 to 2262-04-11)"),
        json!({"type": "string", "pattern": DATE_TIME}),
    )
}

/// The findings listing's filters, order and page.
pub(crate) fn findings_parameters() -> Value {
    let severities = json!({"type": "array", "minItems": 1, "items": schema_ref("Severity")});
    json!([
        time_filter("since", "Event time at or after"),
        time_filter("until", "Event time before"),
        {"name": "severity", "in": "query", "required": false, "style": "form", "explode": false,
         "description": "Comma-separated severities (with `min_severity`, either matches)", "schema": severities},
        query("min_severity", "This severity or higher", schema_ref("Severity")),
        text_filter("detector", "Detector name or rule id"),
        text_filter("agent", "Logical agent id"),
        text_filter("instance", "Agent instance, or the root of its delegation chain"),
        text_filter("human", "The human the agents act for (initiator)"),
        text_filter("credential", "The credential involved"),
        {"name": "status", "in": "query", "required": false, "style": "form", "explode": false,
         "description": "Comma-separated triage statuses",
         "schema": {"type": "array", "minItems": 1, "items": schema_ref("TriageStatus")}},
        text_filter("assignee", "Who holds it; empty for nobody"),
        query("sort", "`time`: newest first; `risk`: riskiest first", json!({"type": "string", "enum": ["time", "risk"], "default": "time"})),
        limit("Page size", 100),
        query("cursor", "`next` of the previous page, with the same filters and sort",
              json!({"type": "string", "pattern": CURSOR})),
        query("include_silenced", "Also findings an active silence hides, marked `silenced`", json!({"type": "boolean", "default": false}))
    ])
}

/// The document.
pub fn openapi() -> Value {
    let bearer = json!([{"bearer": []}]);
    let instance = id("Agent instance", json!({"type": "string", "minLength": 1}));
    // One route, two bodies: `format` picks.
    let graph = json!({
        "application/json": {"schema": schema_ref("Graph")},
        "text/vnd.graphviz": {"schema": {"type": "string"}}
    });
    let rule_stored = |description: &str| json_ok(description, "StoredRule");
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "delegraph", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Findings, their triage, delegation graphs, risk and read-only SQL over delegraph's store. Data routes need a bearer token: viewers read, analysts also triage (status, assignee, notes, silences), engineers also write rules. Every error is `{\"error\": message}`."},
        "components": schemas::components(),
        "paths": {
            "/healthz": {"get": {"operationId": "health", "summary": "Liveness; the store can be opened",
                "responses": responses(json!({"200": json_ok("Serving", "Health")}), &[&[500, 503]])}},
            "/metrics": {"get": {"operationId": "metrics",
                "summary": "Prometheus metrics from memory: the store's contents (refreshed every 30 s by the server), requests served, the ingest loop's. A token of any role here; without one on the operations address (`[api] metrics_listen`)",
                "security": bearer,
                "responses": responses(json!({"200": {"description": "Text exposition format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}), &[&[401]])}},
            "/api/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/api/v1/findings": {"get": {"operationId": "listFindings",
                "summary": "Findings, newest or riskiest first, with keyset pagination; active silences hide what they match",
                "security": bearer, "parameters": findings_parameters(),
                "responses": responses(json!({"200": {
                    "description": "A page of findings",
                    "content": {"application/json": {"schema": schema_ref("FindingPage")}},
                    "links": {"finding": link("getFinding", "/findings/0/finding_id"),
                              "graph": link("getInstanceGraph", "/findings/0/agent_instance")}}}), &[QUERY_ERRORS])}},
            "/api/v1/findings/{id}": {"get": {"operationId": "getFinding",
                "summary": "One finding with its evidence events and delegation chain", "security": bearer,
                "parameters": [id("Finding id", json!({"type": "string", "pattern": FINDING_ID}))],
                "responses": responses(json!({"200": json_ok("The finding", "FindingDetail")}), &[QUERY_ERRORS, &[404]])}},
            "/api/v1/instances/{id}/graph": {"get": {"operationId": "getInstanceGraph",
                "summary": "An agent instance's delegation graph", "security": bearer,
                "parameters": [instance, query("format", "Answer as JSON or as Graphviz DOT",
                    json!({"type": "string", "enum": ["json", "dot"], "default": "json"}))],
                "responses": responses(json!({"200": {"description": "The delegation graph: JSON, or Graphviz DOT with `format=dot`",
                    "content": graph}}), &[QUERY_ERRORS, &[404]])}},
            "/api/v1/risk/instances": {"get": {"operationId": "riskInstances",
                "summary": "Riskiest agent instances", "security": bearer, "parameters": [limit("Rows", 50)],
                "responses": responses(json!({"200": {
                    "description": "Instances by accumulated risk",
                    "content": {"application/json": {"schema": schema_ref("InstanceLeaders")}},
                    "links": {"graph": link("getInstanceGraph", "/leaders/0/instance")}}}), &[QUERY_ERRORS])}},
            "/api/v1/risk/humans": {"get": {"operationId": "riskHumans",
                "summary": "Humans whose agents carry the most risk", "security": bearer, "parameters": [limit("Rows", 50)],
                "responses": responses(json!({"200": json_ok("Humans by their agents' risk", "HumanLeaders")}), &[QUERY_ERRORS])}},
            "/api/v1/sql": {"post": {"operationId": "sql",
                "summary": "Read-only SQL over the tables, with time, memory, row and result-size limits; a statement that does not plan or run is a 400",
                "security": bearer,
                "requestBody": body("application/json", schema_ref("SqlQuery"),
                    json!({"query": "SELECT severity, count(*) AS n FROM findings GROUP BY severity"})),
                "responses": responses(json!({"200": json_ok("The rows", "SqlRows")}), &[QUERY_ERRORS, JSON_BODY_ERRORS])}},
            "/api/v1/rules": {"get": {"operationId": "listRules",
                "summary": "Rule files with their rules' titles, ids, levels and log sources, or why each cannot be used",
                "security": bearer, "responses": responses(json!({"200": json_ok("Every rule file", "RuleFiles")}), &[&[401, 500]])}},
            "/api/v1/rules/{id}": {"put": {"operationId": "putRule",
                "summary": "Create or replace a rule file (engineer). The directory is compiled with it, as the service loads it; refused with every error as FILE:LINE: message (YAML, unknown modifiers or fields, unresolved references, duplicate ids), leaving the earlier file",
                "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": true, "example": "api_example.yml",
                    "description": "File name: letters, digits, `_`, `-`, `.`, not starting with `.`, ending in `.yml` or `.yaml`",
                    "schema": {"type": "string", "maxLength": crate::rules::MAX_NAME, "pattern": r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.ya?ml$"}}],
                "requestBody": {"required": true, "description": format!("UTF-8 YAML, at most {} bytes", delegraph_rules::MAX_RULE_FILE_BYTES),
                    "content": {"application/yaml": {"schema": schema_ref("RuleDocument")}}},
                "responses": responses(json!({"200": rule_stored("Replaced"), "201": rule_stored("Created")}),
                    &[&[400, 401, 403, 413, 500]])}},
            "/api/v1/silences": {
                "get": {"operationId": "listSilences", "summary": "Every silence, with whether it is still in force",
                    "security": bearer, "responses": responses(json!({"200": json_ok("The silences", "Silences")}), &[&[401, 500]])},
                "post": {"operationId": "createSilence",
                    "summary": "Hide matching findings from listings until a time (analyst), optionally closing the unclosed ones it matches (`close_matching`; the answer's `closed` says how many)", "security": bearer,
                    "requestBody": body("application/json", schema_ref("NewSilence"), json!({
                        "matcher": {"detector": "tool_chain", "agent_id": "support-agent"},
                        "reason": "known during the ticketing migration", "expires_at": "2099-01-01T00:00:00Z"})),
                    "responses": responses(json!({"201": {
                        "description": "The silence",
                        "content": {"application/json": {"schema": schema_ref("CreatedSilence")}},
                        "links": {"expire": link("expireSilence", "/id")}}}), &[JSON_BODY_ERRORS, &[401, 403, 500, 503, 504]])}},
            "/api/v1/silences/{id}": {"delete": {"operationId": "expireSilence",
                "summary": "Expire a silence now (analyst); it stays listed, inactive. Expiring an expired one changes nothing",
                "security": bearer, "parameters": [id("Silence id", json!({"type": "string", "pattern": SILENCE_ID}))],
                "responses": responses(json!({"200": json_ok("The silence as it is now", "Silence")}),
                    // 400: an id that is not UTF-8 once percent-decoded.
                    &[&[400, 401, 403, 404, 500]])}}
        }
    });
    if let Some(paths) = doc.get_mut("paths") {
        *paths = schemas::merged(paths.take(), crate::openapi_triage::paths());
    }
    doc
}

//! The OpenAPI document's triage routes and schemas: a finding's status,
//! disposition, assignee and notes, its activity log, bulk changes,
//! suppress-similar and facet counts.

use delegraph_model::{Disposition, TriageStatus};
use serde_json::{Value, json};

use crate::openapi::{
    JSON_BODY_ERRORS, QUERY_ERRORS, body, findings_parameters, id, json_ok, responses,
};
use crate::openapi_schemas::{
    FINDING_ID, MATCH_FIELDS, count, new_silence_match, object, schema_ref, string, time,
};

fn finding_id() -> Value {
    id(
        "Finding id",
        json!({"type": "string", "pattern": FINDING_ID}),
    )
}

/// The triage paths, merged into the document's `paths`.
pub(crate) fn paths() -> Value {
    let bearer = json!([{"bearer": []}]);
    let column = json!({"name": "column", "in": "path", "required": true,
        "description": "Column to count by",
        "schema": {"type": "string", "enum": delegraph_store::FACETS}});
    json!({
        "/api/v1/findings/{id}/triage": {"post": {"operationId": "triageFinding",
            "summary": "Change a finding's status, disposition or assignee, or add a note (analyst). Closing needs a disposition; a benign or false positive also a note. A closed finding changes only by reopening (status open); a change that no longer applies is a 409",
            "security": bearer, "parameters": [finding_id()],
            "requestBody": body("application/json", schema_ref("TriageChange"),
                json!({"status": "closed", "disposition": "false_positive_logic", "note": "nightly export job"})),
            "responses": responses(json!({"200": json_ok("The entry appended to the activity log", "ActivityEntry")}),
                &[QUERY_ERRORS, JSON_BODY_ERRORS, &[403, 404, 409]])}},
        "/api/v1/findings/{id}/activity": {"get": {"operationId": "findingActivity",
            "summary": "A finding's activity log, oldest first; append-only (no route edits or deletes an entry)",
            "security": bearer, "parameters": [finding_id()],
            "responses": responses(json!({"200": json_ok("The log", "Activity")}), &[QUERY_ERRORS, &[404]])}},
        "/api/v1/findings/{id}/similar": {"get": {"operationId": "similarFindings",
            "summary": "A silence matcher pre-filled with the finding's detector or rule, agent, human and credential, and how many unclosed findings it matches",
            "security": bearer, "parameters": [finding_id()],
            "responses": responses(json!({"200": json_ok("The matcher", "Similar")}), &[QUERY_ERRORS, &[404]])}},
        "/api/v1/findings/triage": {"post": {"operationId": "triageFindings",
            "summary": "Apply one change to every finding matching a filter (analyst), at most `max` (ceiling 10,000); findings it no longer applies to are skipped and counted",
            "security": bearer,
            "requestBody": body("application/json", schema_ref("BulkTriage"),
                json!({"filter": {"detector": "tool_chain", "status": "open"}, "change": {"status": "acknowledged"}, "max": 100})),
            "responses": responses(json!({"200": json_ok("What was done", "BulkResult")}),
                &[QUERY_ERRORS, JSON_BODY_ERRORS, &[403]])}},
        "/api/v1/findings/facets/{column}": {"get": {"operationId": "findingFacets",
            "summary": "Counts of the findings matching the listing's filters per value of a column, most first (at most 100 values)",
            "security": bearer, "parameters": with_first(column, filter_parameters()),
            "responses": responses(json!({"200": json_ok("The counts", "Facets")}), &[QUERY_ERRORS])}},
        "/api/v1/triage/summary": {"get": {"operationId": "triageSummary",
            "summary": "Per detector or rule (the 200 with most findings): findings by triage status, mean seconds from detection to acknowledgement and to close, and the false-positive ratio among closed findings (view `triage_by_detector`)",
            "security": bearer,
            "responses": responses(json!({"200": json_ok("The figures", "TriageSummary")}), &[QUERY_ERRORS])}},
        "/api/v1/silences/preview": {"post": {"operationId": "previewSilence",
            "summary": "How many unclosed findings a silence matcher would hide, and up to 20 of their ids",
            "security": bearer,
            "requestBody": body("application/json", schema_ref("SilencePreview"),
                json!({"matcher": {"detector": "tool_chain", "agent_id": "support-agent"}})),
            "responses": responses(json!({"200": json_ok("The count", "PreviewResult")}),
                &[QUERY_ERRORS, JSON_BODY_ERRORS])}}
    })
}

/// The listing's filters without its order and page.
fn filter_parameters() -> Value {
    let mut all = findings_parameters();
    if let Value::Array(params) = &mut all {
        params.retain(|p| !matches!(p["name"].as_str(), Some("sort" | "limit" | "cursor")));
    }
    all
}

/// `first`, then the items of the array `rest`.
fn with_first(first: Value, rest: Value) -> Value {
    let mut all = vec![first];
    if let Value::Array(r) = rest {
        all.extend(r);
    }
    Value::Array(all)
}

/// The triage schemas, merged into `components.schemas`.
pub(crate) fn schemas() -> Value {
    let statuses: Vec<&str> = TriageStatus::ALL.iter().map(|s| s.as_str()).collect();
    let dispositions: Vec<&str> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
    let note = json!({"type": "string", "maxLength": delegraph_model::MAX_NOTE_CHARS});
    let nullable = |v: Value| json!({"oneOf": [v, {"type": "null"}]});
    let listing_filter = {
        let mut props = serde_json::Map::new();
        if let Value::Array(params) = filter_parameters() {
            for p in params {
                if let (Some(name), Some(schema)) = (p["name"].as_str(), p.get("schema")) {
                    // In a JSON body the list filters are comma-separated
                    // strings, as in the query string.
                    let schema = if schema["type"] == "array" {
                        json!({"type": "string"})
                    } else {
                        schema.clone()
                    };
                    // `null` is an absent filter.
                    props.insert(name.to_owned(), nullable(schema));
                }
            }
        }
        json!({"type": "object", "properties": props, "additionalProperties": false,
               "description": "The listing's filters as an object (no `sort`, `limit` or `cursor`: `max` bounds a bulk change)"})
    };
    let matcher = object(&[], &MATCH_FIELDS.map(|f| (f, string())));
    let one_given: Vec<Value> = ["status", "disposition", "assignee", "note"]
        .iter()
        .map(|f| json!({"required": [f], "properties": {*f: {"not": {"type": "null"}}}}))
        .collect();
    json!({
        "TriageStatus": {"type": "string", "enum": statuses},
        "Disposition": {"type": "string", "enum": dispositions},
        "TriageChange": {"type": "object", "additionalProperties": false,
            "properties": {
                "status": nullable(schema_ref("TriageStatus")),
                "disposition": nullable(schema_ref("Disposition")),
                "assignee": nullable(json!({"type": "string", "maxLength": delegraph_model::MAX_ASSIGNEE_CHARS})),
                "note": nullable(note.clone()),
            },
            "anyOf": one_given,
            "description": "Absent fields stay as they are; at least one must be given. `disposition` only when closing, and closing needs one; closing as a benign or false positive needs a note that is not blank (400)"},
        "ActivityEntry": object(&[
            ("seq", count()), ("finding_id", string()), ("at", time()), ("actor", string()),
            ("action", json!({"type": "string", "enum": ["acknowledge", "close", "reopen", "unacknowledge", "assign", "note"]})),
            ("status", schema_ref("TriageStatus")),
            ("disposition", nullable(schema_ref("Disposition"))),
            ("assignee", json!({"type": ["string", "null"]})),
            ("note", json!({"type": ["string", "null"]})),
            ("via", string()),
        ], &[]),
        // Rows of the table: NULL columns are absent.
        "Activity": object(&[("activity", json!({"type": "array", "items": object(&[
            ("seq", count()), ("at", time()), ("actor", string()), ("action", string()),
            ("status", schema_ref("TriageStatus")), ("via", string()),
        ], &[("disposition", schema_ref("Disposition")), ("assignee", string()), ("note", string())])}))], &[]),
        "BulkTriage": object(&[("change", schema_ref("TriageChange"))], &[
            ("filter", listing_filter),
            ("max", json!({"type": ["integer", "null"], "minimum": 0, "maximum": usize::MAX})),
        ]),
        "BulkResult": object(&[
            ("applied", count()), ("matched", count()), ("truncated", json!({"type": "boolean"})),
            ("skipped", count()),
            ("skipped_sample", json!({"type": "array", "items": object(&[("finding_id", string()), ("reason", string())], &[])})),
        ], &[]),
        "Similar": object(&[
            ("matcher", matcher),
            ("unclosed_matching", count()),
            ("default_expiry_hours", count()),
        ], &[]),
        "Facets": object(&[
            ("column", string()),
            ("values", json!({"type": "array", "items": object(&[
                ("value", json!({"type": ["string", "null"]})), ("count", count())], &[])})),
        ], &[]),
        "TriageSummary": object(&[("detectors", json!({"type": "array", "items": object(&[
            ("detector", string()), ("findings", count()), ("open", count()),
            ("acknowledged", count()), ("closed", count()),
        ], &[
            ("mean_seconds_to_acknowledge", json!({"type": "number"})),
            ("mean_seconds_to_close", json!({"type": "number"})),
            ("false_positive_ratio", json!({"type": "number", "minimum": 0, "maximum": 1})),
        ])}))], &[]),
        "SilencePreview": object(&[("matcher", new_silence_match())], &[]),
        "PreviewResult": object(&[("unclosed_matching", count()), ("sample", json!({"type": "array", "items": string()}))], &[]),
        "CloseMatching": object(&[("disposition", schema_ref("Disposition"))], &[("note", nullable(note))])
    })
}

//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`, written by
//! hand next to the routes (a test checks every route is in it).

use serde_json::{Value, json};

fn q(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}})
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn ok(description: &str) -> Value {
    json!({
        "200": {"description": description, "content": {"application/json": {}}},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"}
    })
}

/// The document.
pub fn openapi() -> Value {
    let analyst = json!([{"bearer": []}]);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "delegraph", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Findings, delegation graphs, risk and read-only SQL over delegraph's store. Data routes need a bearer token: analysts read, engineers also write rules and silences."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "An error", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}}
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness; the store can be queried", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
            "/api/v1/findings": {"get": {
                "summary": "Findings, newest or riskiest first, with keyset pagination",
                "security": analyst,
                "parameters": [
                    q("since", "event time at or after (RFC 3339)"), q("until", "event time before (RFC 3339)"),
                    q("severity", "comma-separated severities"), q("min_severity", "this severity or higher"),
                    q("detector", "detector name or rule id"), q("agent", "logical agent id"),
                    q("instance", "agent instance or delegation root"), q("human", "the human (initiator)"),
                    q("sort", "time (default) or risk"), q("limit", "page size, 1-1000 (100)"),
                    q("cursor", "`next` of the previous page"), q("include_silenced", "true to include silenced findings")
                ],
                "responses": ok("{findings: [...], next: cursor|null}")}},
            "/api/v1/findings/{id}": {"get": {"summary": "One finding with its evidence events and delegation chain",
                "security": analyst, "parameters": [path_param("id")], "responses": ok("the finding")}},
            "/api/v1/instances/{id}/graph": {"get": {"summary": "An agent instance's delegation graph",
                "security": analyst, "parameters": [path_param("id"), q("format", "json (default) or dot")],
                "responses": ok("{instance, nodes, edges} or Graphviz DOT")}},
            "/api/v1/risk/instances": {"get": {"summary": "Riskiest agent instances", "security": analyst,
                "parameters": [q("limit", "rows, 1-1000 (50)")], "responses": ok("{leaders: [...]}")}},
            "/api/v1/risk/humans": {"get": {"summary": "Humans whose agents carry the most risk", "security": analyst,
                "parameters": [q("limit", "rows, 1-1000 (50)")], "responses": ok("{leaders: [...]}")}},
            "/api/v1/sql": {"post": {"summary": "Read-only SQL (no DDL, DML, COPY, SET or file access; time and memory limits)",
                "security": analyst,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}},
                "responses": ok("{rows: [...]}")}},
            "/api/v1/rules": {
                "get": {"summary": "Rule files with their rules' titles, ids, levels and log sources, or each file's error", "security": analyst, "responses": ok("{files: [{name, rules | error}]}")}
            },
            "/api/v1/rules/{id}": {
                "put": {"summary": "Create or replace a rule file (engineer). The directory is compiled with it, as the service loads it; refused with every error as FILE:LINE: message (YAML, unknown modifiers or fields, unresolved references, duplicate ids), leaving the earlier file", "security": analyst,
                        "parameters": [path_param("id")],
                        "requestBody": {"required": true, "content": {"application/yaml": {"schema": {"type": "string"}}}},
                        "responses": ok("{name, rules: [...]} (201 when created)")}
            },
            "/api/v1/silences": {
                "get": {"summary": "Silences, with whether each is active", "security": analyst, "responses": ok("{silences: [...]}")},
                "post": {"summary": "Create a silence (engineer)", "security": analyst,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                        "properties": {"matcher": {"type": "object", "properties": {
                            "detector": {"type": "string"}, "agent_id": {"type": "string"},
                            "agent_instance": {"type": "string"}, "initiator": {"type": "string"}}},
                            "reason": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}},
                        "required": ["matcher", "reason", "expires_at"]}}}},
                    "responses": {"201": {"description": "the silence"}, "400": {"$ref": "#/components/responses/Error"},
                                  "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}},
            "/api/v1/silences/{id}": {"delete": {"summary": "Expire a silence now (engineer)", "security": analyst,
                "parameters": [path_param("id")], "responses": ok("the expired silence")}}
        }
    })
}

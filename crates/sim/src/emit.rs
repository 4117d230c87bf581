//! Records in the vendors' formats (the same shapes as `fixtures/`).

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

/// Seconds (with fraction) since the epoch → `2026-03-02T08:00:00Z`
/// (CloudTrail's precision).
pub fn iso(t: f64) -> String {
    Utc.timestamp_nanos((t * 1e9) as i64)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The same with milliseconds, as gateways and IdPs write it.
pub fn iso_ms(t: f64) -> String {
    Utc.timestamp_nanos((t * 1e9) as i64)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// STS `expiration` in its Java spelling.
pub fn java_time(t: f64) -> String {
    Utc.timestamp_nanos((t * 1e9) as i64)
        .format("%b %-d, %Y, %-I:%M:%S %p")
        .to_string()
}

/// The identity making a CloudTrail call.
pub enum Caller<'a> {
    /// A role session: ARN, access key, when the session started, human.
    Session {
        arn: &'a str,
        key: &'a str,
        created: f64,
        source_identity: Option<&'a str>,
    },
    /// An IAM user with a long-lived key.
    User { arn: &'a str, key: &'a str },
}

/// One CloudTrail record.
#[allow(clippy::too_many_arguments)]
pub fn cloudtrail(
    id: &str,
    t: f64,
    account: &str,
    caller: &Caller<'_>,
    source: &str,
    name: &str,
    params: Value,
    response: Value,
) -> Value {
    let identity = match caller {
        Caller::Session {
            arn,
            key,
            created,
            source_identity,
        } => {
            let (role_path, _) = arn.rsplit_once('/').unwrap_or((arn, ""));
            let role = role_path.rsplit('/').next().unwrap_or_default();
            let acct = arn.split(':').nth(4).unwrap_or(account);
            let mut ctx = json!({
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID", "arn": format!("arn:aws:iam::{acct}:role/{role}"), "accountId": acct, "userName": role},
                "attributes": {"creationDate": iso(*created), "mfaAuthenticated": "false"}
            });
            if let Some(si) = source_identity {
                ctx["sourceIdentity"] = json!(si);
            }
            json!({"type": "AssumedRole", "principalId": format!("AROAEXAMPLEROLEID:{}", arn.rsplit('/').next().unwrap_or_default()), "arn": arn, "accountId": acct, "accessKeyId": key, "sessionContext": ctx})
        }
        Caller::User { arn, key } => json!({
            "type": "IAMUser", "principalId": "AIDAEXAMPLEUSERID", "arn": arn, "accountId": account,
            "accessKeyId": key, "userName": arn.rsplit('/').next().unwrap_or_default()
        }),
    };
    let region = if source == "iam.amazonaws.com" {
        "us-east-1"
    } else {
        "eu-west-1"
    };
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "10.20.4.17",
        "userAgent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux lang/python#3.12",
        "requestParameters": params,
        "responseElements": response,
        "requestID": format!("{id}-req"),
        "eventID": id,
        "readOnly": name.starts_with("Get") || name.starts_with("List") || name.starts_with("Describe"),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    })
}

/// An OTLP attribute list from `(key, value)` pairs.
fn attributes(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
            .collect(),
    )
}

/// One OTLP span.
pub fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    start: f64,
    end: f64,
    attrs: &[(&str, &str)],
) -> Value {
    let mut s = json!({
        "traceId": trace,
        "spanId": id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": format!("{}", (start * 1e9) as i64),
        "endTimeUnixNano": format!("{}", (end * 1e9) as i64),
        "attributes": attributes(attrs),
        "status": {"code": 1}
    });
    if let Some(p) = parent {
        s["parentSpanId"] = json!(p);
    }
    s
}

/// An OTLP/JSON export request holding `spans` of one service.
pub fn otlp_request(service: &str, spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": attributes(&[("service.name", service), ("deployment.environment.name", "prod")])},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.genai", "version": "0.4.0"}, "spans": spans}]
    }]})
}

/// One MCP gateway line (docs/formats/mcp-gateway.md).
#[allow(clippy::too_many_arguments)]
pub fn mcp(
    t: f64,
    session: &str,
    rpc_id: u64,
    agent: &str,
    instance: &str,
    user: &str,
    tool: &str,
    traceparent: &str,
    credential: &str,
    decision: Option<&str>,
) -> Value {
    let mut meta = json!({"traceparent": traceparent});
    if let Some(d) = decision {
        meta["decision_id"] = json!(d);
    }
    json!({
        "schema": "delegraph.mcp.v1",
        "timestamp": iso_ms(t),
        "gateway": "gw-eu-1",
        "session_id": session,
        "client": {"id": "agent-runtime", "name": "Agent Runtime", "agent_id": agent, "agent_instance": instance},
        "user": {"email": user},
        "server": {"name": "tools", "url": "https://mcp.internal.example/tools"},
        "auth": {"method": "oauth2", "credential_id": credential, "scopes": ["tools:call"]},
        "request": {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call",
                    "params": {"name": tool, "arguments": {}, "_meta": meta}},
        "response": {"jsonrpc": "2.0", "id": rpc_id, "result": {"content": [{"type": "text", "text": "ok"}], "isError": false}}
    })
}

/// One GitHub audit-log entry made by a coding agent.
pub fn github(
    id: &str,
    t: f64,
    action: &str,
    session: &str,
    user: &str,
    repo: &str,
    token: &str,
) -> Value {
    let ms = (t * 1000.0) as i64;
    json!({
        "@timestamp": ms, "created_at": ms, "_document_id": id, "action": action,
        "actor": "Copilot", "actor_is_agent": true, "agent_session_id": session, "user": user,
        "org": "example-corp", "repo": repo, "hashed_token": token,
        "programmatic_access_type": "GitHub App user-to-server token",
        "token_scopes": "contents:write,pull_requests:write", "user_agent": "copilot-swe-agent/1.0"
    })
}

/// One Okta token grant to an agent acting for a user.
pub fn okta_grant(
    id: &str,
    t: f64,
    agent: &str,
    user: &str,
    token_hash: &str,
    expires: f64,
) -> Value {
    json!({
        "uuid": id, "published": iso_ms(t), "eventType": "app.oauth2.as.token.grant.access_token", "version": "0",
        "severity": "INFO", "displayMessage": "An access token was granted",
        "actor": {"id": format!("wlp{}", &token_hash[..8]), "type": "WorkloadIdentityPrincipal", "alternateId": format!("{agent}@aiagents.okta.com"), "displayName": agent},
        "client": {"id": format!("0oa-{agent}"), "ipAddress": "10.20.4.17"},
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": [
            {"type": "User", "alternateId": user, "id": format!("00u-{user}")},
            {"type": "access_token", "displayName": "Access Token", "id": format!("tok-{id}"), "detailEntry": {"expires": iso(expires), "hash": token_hash}}
        ],
        "debugContext": {"debugData": {"grantedScopes": "tools:call", "grantType": "urn:ietf:params:oauth:grant-type:token-exchange"}},
        "transaction": {"type": "WEB", "id": format!("tx-{id}"), "detail": {}}
    })
}

/// What an OPA decision-log entry is about.
pub struct Ask<'a> {
    pub agent: &'a str,
    pub instance: &'a str,
    pub human: &'a str,
    pub tool: &'a str,
    pub resource: Option<&'a str>,
    pub token: &'a str,
}

/// One OPA decision-log entry of the agent gateway (`fixtures/opa/`).
pub fn opa_decision(
    t: f64,
    decision_id: &str,
    ask: &Ask<'_>,
    allowed: bool,
    reason: &str,
) -> Value {
    let mut input = json!({
        "subject": {"id": format!("spiffe://example.com/agent/{}/instance/{}", ask.agent, ask.instance),
                    "on_behalf_of": ask.human},
        "agent": {"id": ask.agent, "instance_id": ask.instance},
        "tool": {"name": ask.tool},
        "action": "call",
        "token": {"jti": ask.token, "scopes": ["tools:call"]}
    });
    if let Some(r) = ask.resource {
        input["resource"] = json!({"id": r});
    }
    let reasons: Vec<&str> = if reason.is_empty() {
        Vec::new()
    } else {
        vec![reason]
    };
    json!({
        "labels": {"id": "0c8d4e2a-6f1b-4c3d-9e5a-7b2c1d0e9f11", "version": "v1.3.0", "tenant": "example-corp"},
        "decision_id": decision_id,
        "bundles": {"agents": {"revision": "rev-2026-03-01"}},
        "path": "agents/authz/allow",
        "input": input,
        "result": {"allow": allowed, "reasons": reasons},
        "requested_by": "10.20.4.17:51544",
        "timestamp": iso_ms(t)
    })
}

/// One task envelope event (`docs/formats/task-envelope.md`); `body`
/// holds the fields beyond the common ones.
pub fn envelope(t: f64, id: &str, event: &str, instance: &str, mut body: Value) -> Value {
    body["schema"] = json!("delegraph.task_envelope.v1");
    body["envelope_id"] = json!(id);
    body["event"] = json!(event);
    body["timestamp"] = json!(iso_ms(t));
    body["agent_instance"] = json!(instance);
    body
}

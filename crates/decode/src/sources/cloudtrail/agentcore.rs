//! Amazon Bedrock AgentCore Gateway in CloudTrail: its data event
//! (`InvokeGateway`; `InvokeMcp` in the preview) records one MCP JSON-RPC
//! exchange, the request in `requestParameters.body`, the response in
//! `responseElements.body` with its HTTP status, and the inbound JWT's
//! decoded claims in `additionalEventData.jwt`.
//!
//! A `tools/call` is a tool call of the calling agent. The caller is the
//! token's client (`client_id`, `azp`, `appid`), else its subject; a user
//! the token names is the human. The token's id (`uti` of an Entra token,
//! else `jti`) is the credential the call was made with, so the call joins
//! the instance the token was issued to (an agent's sign-in). A
//! `_meta.traceparent` in the request is kept as the record's trace
//! context; CloudTrail's link pass does not resolve by it (AWS's samples
//! carry none).

use delegraph_model::{
    ActorKind, Category, Credential, CredentialKind, NormEvent, Outcome, Principal, Timestamp,
    ToolRef,
};
use serde::Deserialize;

use crate::json::{Id, Str};
use crate::sources::jsonrpc::{self, Request, Response};
use crate::{DecodeError, parse, push_resource};

const SOURCE: &str = "bedrock-agentcore.amazonaws.com";

/// True for a Gateway data event carrying an MCP exchange.
pub(super) fn is_gateway_call(event_source: &str, event_name: &str) -> bool {
    event_source == SOURCE && matches!(event_name, "InvokeGateway" | "InvokeMcp")
}

/// True for AgentCore Identity's token calls: a workload access token for
/// the agent, or a resource OAuth token or API key from the token vault.
pub(super) fn is_token_issue(event_source: &str, event_name: &str) -> bool {
    event_source == SOURCE
        && (event_name.starts_with("GetWorkloadAccessToken")
            || matches!(event_name, "GetResourceOauth2Token" | "GetResourceApiKey"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatewayRecord<'a> {
    #[serde(default, borrow)]
    request_parameters: Option<GatewayRequest<'a>>,
    #[serde(default, borrow)]
    response_elements: Option<GatewayResponse<'a>>,
    #[serde(default)]
    additional_event_data: Option<Additional>,
}

#[derive(Deserialize)]
struct GatewayRequest<'a> {
    #[serde(default, borrow)]
    body: Option<Request<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatewayResponse<'a> {
    #[serde(default, borrow)]
    body: Option<Response<'a>>,
    #[serde(default)]
    status_code: Id,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Additional {
    #[serde(default)]
    target_id: Str,
    #[serde(default)]
    jwt: Option<Jwt>,
}

#[derive(Deserialize)]
struct Jwt {
    #[serde(default)]
    claims: Option<Claims>,
}

/// The claims read, by the names Cognito and Entra ID give them.
#[derive(Deserialize, Default)]
struct Claims {
    #[serde(default)]
    sub: Str,
    #[serde(default)]
    client_id: Str,
    #[serde(default)]
    azp: Str,
    #[serde(default)]
    appid: Str,
    #[serde(default)]
    uti: Str,
    #[serde(default)]
    jti: Str,
    #[serde(default)]
    upn: Str,
    #[serde(default)]
    preferred_username: Str,
    #[serde(default)]
    username: Str,
    #[serde(default)]
    scope: Str,
    #[serde(default)]
    scp: Str,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
}

/// Read the MCP exchange and the caller's token of a Gateway data event
/// into `e` (already decoded as a CloudTrail call).
pub(super) fn add_gateway_call(text: &str, e: &mut NormEvent) -> Result<(), DecodeError> {
    let r: GatewayRecord = parse(delegraph_model::Source::Cloudtrail, text)?;
    let extra = r.additional_event_data;
    let claims = extra
        .as_ref()
        .and_then(|x| x.jwt.as_ref())
        .and_then(|j| j.claims.as_ref());
    if let Some(c) = claims {
        caller(c, e);
    }
    if let Some(target) = extra.as_ref().and_then(|x| x.target_id.owned()) {
        push_resource(
            &mut e.resources,
            target,
            Some("agentcore_gateway_target"),
            false,
        );
    }
    let Some(request) = r.request_parameters.and_then(|p| p.body) else {
        return Ok(());
    };
    let params = request.params.as_ref();
    if let Some(p) = params {
        p.trace_context_into(e);
    }
    let response = r.response_elements;
    let (outcome, reason, result) =
        jsonrpc::outcome(response.as_ref().and_then(|x| x.body.as_ref()));
    let status = response.as_ref().and_then(|x| x.status_code.get());
    (e.outcome, e.outcome_reason) = match status {
        Some("401" | "403") => (
            Outcome::Denied,
            Some(format!(
                "HTTP {}: {}",
                status.unwrap_or_default(),
                reason.unwrap_or_default()
            )),
        ),
        _ if outcome == Outcome::Unknown => (e.outcome, e.outcome_reason.take()),
        _ => (outcome, reason),
    };
    if let Some(uri) = params.and_then(|p| p.uri.get()) {
        push_resource(&mut e.resources, uri, Some("mcp_resource"), false);
    }
    if request.method == "tools/call"
        && let Some(name) = params.and_then(|p| p.name.owned())
    {
        e.category = Category::ToolCall;
        e.tool = Some(ToolRef {
            name,
            call_id: request.id.owned(),
            server: e
                .resources
                .iter()
                .find(|x| x.kind.as_deref() == Some("AWS::BedrockAgentCore::Gateway"))
                .map(|x| x.id.clone()),
            arguments: params.and_then(|p| p.arguments).map(|a| a.get().to_owned()),
            result,
        });
    }
    Ok(())
}

/// The token's client is the caller, an agent making MCP calls; a user it
/// names is the human; its id is the credential used.
fn caller(c: &Claims, e: &mut NormEvent) {
    let client = c
        .client_id
        .owned()
        .or_else(|| c.azp.owned())
        .or_else(|| c.appid.owned());
    let Some(id) = client.clone().or_else(|| c.sub.owned()) else {
        return;
    };
    e.actor = Principal {
        id: id.clone(),
        name: None,
        vendor_type: Some("jwt_client".into()),
    };
    e.actor_kind = ActorKind::Agent;
    e.actor_kind_basis = "MCP client calling an AgentCore gateway".into();
    e.agent.agent_id = Some(id.clone());
    let user = c
        .upn
        .owned()
        .or_else(|| c.preferred_username.owned())
        .or_else(|| c.username.owned());
    if let Some(user) = user {
        e.acts_for(id, user);
    }
    if let Some(token) = c.uti.owned().or_else(|| c.jti.owned()) {
        let secs = |s: Option<i64>| s.and_then(|s| s.checked_mul(1_000_000_000)).map(Timestamp);
        e.use_credential(Credential {
            issued_at: secs(c.iat),
            expires_at: secs(c.exp),
            ..Credential::new(token, CredentialKind::OauthToken)
        });
    }
    e.scopes = c
        .scope
        .get()
        .or(c.scp.get())
        .map(crate::json::split_list)
        .unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_calls_and_identity_token_calls_by_name() {
        assert!(is_gateway_call(SOURCE, "InvokeGateway"));
        assert!(is_gateway_call(SOURCE, "InvokeMcp"));
        assert!(!is_gateway_call(SOURCE, "CreateGateway"));
        assert!(!is_gateway_call("bedrock.amazonaws.com", "InvokeGateway"));
        for name in [
            "GetWorkloadAccessToken",
            "GetWorkloadAccessTokenForJWT",
            "GetWorkloadAccessTokenForUserId",
            "GetResourceOauth2Token",
            "GetResourceApiKey",
        ] {
            assert!(is_token_issue(SOURCE, name), "{name}");
        }
        assert!(!is_token_issue(SOURCE, "InvokeGateway"));
        assert!(!is_token_issue(
            "sts.amazonaws.com",
            "GetWorkloadAccessToken"
        ));
    }
}

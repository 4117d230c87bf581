//! Amazon Verified Permissions authorization calls (`IsAuthorized`,
//! `IsAuthorizedWithToken`) as CloudTrail data events: a Cedar decision
//! about a principal, an action and a resource, made for the application
//! that called (the CloudTrail caller).
//!
//! The CloudTrail decoder reads the record as any other call; this adds
//! the decision. The Cedar principal names the agent instance when its
//! entity type is an agent (`…::AgentInstance`, `…::Agent`) or when the
//! request context carries `agent_instance`; `on_behalf_of` in the context
//! names the human.

use delegraph_model::{
    ActorKind, Category, NormEvent, Outcome, PolicyDecision, PolicyEngine, Source, ToolRef,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{DecodeError, push_resource};

/// The event source of Verified Permissions.
pub const EVENT_SOURCE: &str = "verifiedpermissions.amazonaws.com";

/// Whether a CloudTrail call is an authorization decision.
pub fn is_decision(event_source: &str, event_name: &str) -> bool {
    event_source == EVENT_SOURCE && matches!(event_name, "IsAuthorized" | "IsAuthorizedWithToken")
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Call {
    #[serde(default)]
    request_parameters: Option<Request>,
    #[serde(default)]
    response_elements: Option<Response>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    policy_store_id: Option<String>,
    #[serde(default)]
    principal: Option<Entity>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    resource: Option<Entity>,
    #[serde(default)]
    context: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    entity_type: String,
    entity_id: String,
}

impl Entity {
    fn cedar(&self) -> String {
        format!("{}::\"{}\"", self.entity_type, self.entity_id)
    }

    fn is_agent(&self) -> bool {
        let last = self.entity_type.rsplit("::").next().unwrap_or_default();
        matches!(last, "AgentInstance" | "Agent")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action {
    #[serde(default)]
    action_type: Option<String>,
    action_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    decision: Option<String>,
    #[serde(default)]
    determining_policies: Vec<PolicyRef>,
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRef {
    policy_id: String,
}

/// A string attribute of the Cedar context (`contextMap.k.string`, or a
/// plain string).
/// An attribute delegraph reads that is there but not a string is an
/// error naming it, not an absent attribute.
fn context_string(ctx: Option<&Value>, key: &str) -> Result<Option<String>, DecodeError> {
    let Some(ctx) = ctx else { return Ok(None) };
    let map = ctx.get("contextMap").unwrap_or(ctx);
    let Some(v) = map.get(key) else {
        return Ok(None);
    };
    match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        v => match v.get("string") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(DecodeError::WrongType {
                format: Source::Cloudtrail,
                detail: format!(
                    "requestParameters.context.contextMap.{key}: expected a string or {{\"string\": …}}, got {v}"
                ),
            }),
        },
    }
}

/// Add the decision to `e`, the CloudTrail event of the call. Parts the
/// record does not keep are left out; a record without a response (the
/// call failed) is a decision that allowed nothing. A part present with
/// the wrong type is an error naming it, never an empty decision.
pub fn add_decision(
    text: &str,
    request_id: Option<String>,
    e: &mut NormEvent,
) -> Result<(), DecodeError> {
    let call: Call = crate::parse(Source::Cloudtrail, text)?;
    let req = call.request_parameters.unwrap_or_default();
    let resp = call.response_elements.unwrap_or_default();
    e.category = Category::PolicyDecision;
    let allowed = match resp.decision.as_deref() {
        Some(d) if d.eq_ignore_ascii_case("ALLOW") => Some(true),
        Some(d) if d.eq_ignore_ascii_case("DENY") => Some(false),
        Some(_) => None,
        None if e.outcome_reason.is_some() => Some(false),
        None => None,
    };
    match allowed {
        Some(true) => e.outcome = Outcome::Success,
        Some(false) if e.outcome == Outcome::Success => {
            e.outcome = Outcome::Denied;
            e.outcome_reason = Some(if resp.errors.is_empty() {
                "Cedar decision DENY".to_owned()
            } else {
                format!("Cedar decision DENY with {} errors", resp.errors.len())
            });
        }
        _ => {}
    }
    let instance = req
        .principal
        .as_ref()
        .filter(|p| p.is_agent())
        .map(|p| p.entity_id.clone())
        .or(context_string(req.context.as_ref(), "agent_instance")?);
    if let Some(i) = &instance {
        e.agent.instance_id = Some(i.clone());
        e.agent.agent_id = context_string(req.context.as_ref(), "agent_id")?;
    }
    let human = context_string(req.context.as_ref(), "on_behalf_of")?.or_else(|| {
        req.principal
            .as_ref()
            .filter(|p| !p.is_agent())
            .map(|p| p.entity_id.clone())
    });
    if let Some(h) = human {
        let subject = instance.clone().unwrap_or_else(|| e.actor.id.clone());
        e.acts_for(subject, h);
    }
    if instance.is_some() {
        e.actor_kind = ActorKind::Agent;
        e.actor_kind_basis = "Cedar principal or context names an agent instance".into();
    }
    let action = req.action.as_ref().map(|a| a.action_id.clone());
    if let Some(a) = &req.action {
        e.tool = Some(ToolRef {
            name: a.action_id.clone(),
            server: a.action_type.clone(),
            ..ToolRef::default()
        });
    }
    if let Some(r) = &req.resource {
        push_resource(&mut e.resources, r.cedar(), Some(&r.entity_type), false);
    }
    e.decision = Some(Box::new(PolicyDecision {
        decision_id: request_id.unwrap_or_else(|| e.event_id.clone()),
        engine: PolicyEngine::VerifiedPermissions,
        policy: req.policy_store_id.unwrap_or_default(),
        allowed,
        action,
        policies: resp
            .determining_policies
            .into_iter()
            .map(|p| p.policy_id)
            .collect(),
    }));
    Ok(())
}

//! What a CloudTrail call is: its category (secret read, credential
//! issue, permission change, …) and the resources it touched, from the
//! event source, name and request parameters.

use delegraph_model::{Category, NormEvent};

use super::{CtResource, RequestParameters};
use crate::json::Text;
use crate::push_resource;

fn is_secret_read(source: &str, name: &str, params: &RequestParameters) -> bool {
    match source {
        "secretsmanager.amazonaws.com" => matches!(name, "GetSecretValue" | "BatchGetSecretValue"),
        "ssm.amazonaws.com" => {
            matches!(
                name,
                "GetParameter" | "GetParameters" | "GetParametersByPath" | "GetParameterHistory"
            ) && params.with_decryption.get() == Some("true")
        }
        "kms.amazonaws.com" => name == "Decrypt",
        _ => false,
    }
}

pub(super) fn category(source: &str, name: &str, params: &RequestParameters) -> Category {
    if is_secret_read(source, name, params) {
        return Category::SecretRead;
    }
    match source {
        "sts.amazonaws.com"
            if name.starts_with("AssumeRole")
                || matches!(name, "GetSessionToken" | "GetFederationToken") =>
        {
            Category::CredentialIssue
        }
        "iam.amazonaws.com"
            if matches!(name, "CreateAccessKey" | "CreateServiceSpecificCredential") =>
        {
            Category::CredentialIssue
        }
        "iam.amazonaws.com" if is_iam_permission_change(name) => Category::PermissionChange,
        "rolesanywhere.amazonaws.com"
            if name.starts_with("Create") || name.starts_with("Update") =>
        {
            Category::PermissionChange
        }
        "signin.amazonaws.com" => Category::Authentication,
        _ if super::agentcore::is_token_issue(source, name) => Category::CredentialIssue,
        _ if is_resource_policy_change(name) => Category::PermissionChange,
        _ => Category::ApiCall,
    }
}

/// Resource-based policies and grants: who else may use a function, bucket,
/// queue, key or secret (Lambda suffixes API versions: `AddPermission20150331v2`).
fn is_resource_policy_change(name: &str) -> bool {
    const PREFIXES: [&str; 10] = [
        "AddPermission",
        "PutBucketPolicy",
        "PutBucketAcl",
        "PutResourcePolicy",
        "PutKeyPolicy",
        "CreateGrant",
        "SetRepositoryPolicy",
        "PutRepositoryPolicy",
        "AddLayerVersionPermission",
        "PutFunctionUrlConfig",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

fn is_iam_permission_change(name: &str) -> bool {
    const PREFIXES: [&str; 5] = ["Attach", "Detach", "Put", "AddUserTo", "RemoveUserFrom"];
    const EXACT: [&str; 12] = [
        "CreateUser",
        "CreateRole",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "UpdateAssumeRolePolicy",
        "CreatePolicy",
        "CreatePolicyVersion",
        "SetDefaultPolicyVersion",
        "DeleteRolePolicy",
        "DeleteUserPolicy",
        "PassRole",
        "UpdateAccessKey",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || EXACT.contains(&name)
}

pub(super) fn resources(
    source: &str,
    name: &str,
    p: &RequestParameters,
    listed: Option<&[CtResource]>,
    e: &mut NormEvent,
) {
    let secret = e.category == Category::SecretRead;
    let list = &mut e.resources;
    for r in listed.unwrap_or_default() {
        if let Some(arn) = r.arn.get() {
            push_resource(list, arn, r.kind.get(), false);
        }
    }
    match source {
        "secretsmanager.amazonaws.com" => {
            const KIND: Option<&str> = Some("AWS::SecretsManager::Secret");
            if let Some(id) = p.secret_id.get() {
                push_resource(list, id, KIND, secret);
            }
            for id in &p.secret_id_list.0 {
                push_resource(list, id.as_str(), KIND, secret);
            }
            for f in p.filters.as_deref().unwrap_or_default() {
                let values = f.values.0.join(",");
                let id = format!(
                    "secretsmanager:filter:{}={values}",
                    f.key.get().unwrap_or("?")
                );
                push_resource(list, id, KIND, secret);
            }
        }
        "ssm.amazonaws.com" => {
            const KIND: Option<&str> = Some("AWS::SSM::Parameter");
            for n in p
                .name
                .get()
                .into_iter()
                .chain(p.names.0.iter().map(String::as_str))
            {
                push_resource(list, n, KIND, secret);
            }
            if name == "GetParametersByPath"
                && let Some(path) = p.path.get()
            {
                push_resource(list, path, KIND, secret);
            }
        }
        "kms.amazonaws.com" => {
            if let Some(k) = p.key_id.get() {
                push_resource(list, k, Some("AWS::KMS::Key"), secret);
            }
            if secret && !list.iter().any(|r| r.is_secret) {
                push_resource(list, "kms:ciphertext", Some("AWS::KMS::Key"), true);
            }
        }
        _ => {}
    }
    let named: [(&Text, &str); 6] = [
        (&p.role_arn, "AWS::IAM::Role"),
        (&p.policy_arn, "AWS::IAM::Policy"),
        (&p.bucket_name, "AWS::S3::Bucket"),
        (&p.function_name, "AWS::Lambda::Function"),
        (&p.instance_id, "AWS::EC2::Instance"),
        (&p.role_name, "AWS::IAM::Role"),
    ];
    for (value, kind) in named {
        if let Some(v) = value.get() {
            push_resource(list, v, Some(kind), false);
        }
    }
    if source == "iam.amazonaws.com"
        && let Some(u) = p.user_name.get()
    {
        push_resource(list, u, Some("AWS::IAM::User"), false);
    }
}

//! Which of delegraph's sources a rule's `logsource` means.
//!
//! SigmaHQ's names for the cloud products are used as they are, so rules
//! from SigmaHQ load unchanged; `ai_agent` and `delegraph` are ours (see
//! `rules/README.md`).

use delegraph_model::Source;
use rsigma_parser::LogSource;

/// The sources a rule applies to, or why its log source is unknown.
pub fn sources(ls: &LogSource) -> Result<Vec<Source>, String> {
    let lower = |s: &Option<String>| s.as_deref().map(str::to_ascii_lowercase);
    let (product, service) = (lower(&ls.product), lower(&ls.service));
    let svc = service.as_deref();
    let found = match product.as_deref() {
        Some("aws") if matches!(svc, None | Some("cloudtrail")) => vec![Source::Cloudtrail],
        Some("okta") if matches!(svc, None | Some("okta")) => vec![Source::Okta],
        Some("github") if matches!(svc, None | Some("audit")) => vec![Source::Github],
        Some("azure" | "entra" | "entra_id")
            if matches!(svc, None | Some("signinlogs" | "signin" | "sign_in")) =>
        {
            vec![Source::Entra]
        }
        Some("google_workspace" | "gcp")
            if svc.is_none_or(|s| s.starts_with("google_workspace") || s == "gworkspace") =>
        {
            vec![Source::GoogleWorkspace]
        }
        Some("opa") if matches!(svc, None | Some("decision_logs" | "decisions")) => {
            vec![Source::Opa]
        }
        Some("ai_agent") => match svc {
            None | Some("tool_calls") => vec![Source::Mcp, Source::Otlp],
            Some("task_envelope" | "approvals") => vec![Source::TaskEnvelope],
            Some("mcp") => vec![Source::Mcp],
            Some("otlp" | "opentelemetry") => vec![Source::Otlp],
            Some(_) => Vec::new(),
        },
        Some("delegraph") => match svc {
            None => Source::ALL.to_vec(),
            Some(s) => Source::parse(s).into_iter().collect(),
        },
        _ => Vec::new(),
    };
    if found.is_empty() {
        return Err(format!(
            "logsource product {:?} service {:?} is not a source delegraph reads \
             (aws/cloudtrail, okta, github/audit, azure/signinlogs, \
             google_workspace, opa/decision_logs, \
             ai_agent/mcp|otlp|tool_calls|task_envelope, delegraph[/SOURCE])",
            ls.product.as_deref().unwrap_or(""),
            ls.service.as_deref().unwrap_or("")
        ));
    }
    Ok(found)
}

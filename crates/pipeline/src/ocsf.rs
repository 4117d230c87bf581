//! Findings as OCSF Detection Finding (class 2004) events, the shape SIEMs
//! and security lakes ingest without a custom parser, at the OCSF version
//! in [`OCSF_VERSION`] (validated in tests by an independent validator,
//! `scripts/ocsf_validate.py`).
//!
//! A statistical finding explains itself in `anomaly_analyses`: the
//! agent as the analysis target, what its baseline holds (with how many
//! instances it was learned from) against what was observed. The agent,
//! its instance, the human it acted for and the credential it used are the
//! actor of every evidence (OCSF 1.8 keeps a finding's own `actor` for the
//! `host` profile). Everything OCSF has no attribute for (delegation chain,
//! p-value, instance and human risk) is under `unmapped.delegraph`, so the
//! event is complete on its own.

use std::path::Path;

use delegraph_model::{Finding, Severity};
use serde_json::{Value, json};

use crate::PipelineError;

/// OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.8.0";

const CLASS_UID: u32 = 2004;
const ACTIVITY_CREATE: u32 = 1;

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn millis(nanos: i64) -> i64 {
    nanos.div_euclid(1_000_000)
}

/// An ATT&CK technique id from a tag, as detectors write it
/// (`attack:T1098.001`) or as Sigma does (`attack.t1098.001`).
fn technique(tag: &str) -> Option<String> {
    let id = tag
        .strip_prefix("attack:")
        .or_else(|| tag.strip_prefix("attack."))?;
    let digits = id.strip_prefix(['t', 'T'])?;
    let (main, sub) = digits.split_once('.').unwrap_or((digits, ""));
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(main) || !(sub.is_empty() || numeric(sub)) {
        return None;
    }
    Some(format!("T{digits}"))
}

/// ATT&CK techniques among the tags, as OCSF attacks.
fn attacks(tags: &[String]) -> Vec<Value> {
    tags.iter()
        .filter_map(|t| technique(t))
        .map(|id| json!({ "technique": { "uid": id }, "version": "15" }))
        .collect()
}

/// Who acted: the agent (application), its instance (session), the human
/// it acted for and the credential it used, as far as they are known.
fn agent_actor(f: &Finding) -> Option<Value> {
    let mut actor = serde_json::Map::new();
    if let Some(a) = &f.agent_id {
        actor.insert("app_name".into(), json!(a));
    }
    if let Some(i) = &f.agent_instance {
        actor.insert("session".into(), json!({ "uid": i }));
    }
    if let Some(h) = &f.initiator {
        let mut user = json!({ "name": h, "type_id": 1, "type": "User" });
        if let Some(c) = &f.credential_id {
            user["credential_uid"] = json!(c);
        }
        actor.insert("user".into(), user);
    } else if let Some(c) = &f.credential_id {
        actor.insert("user".into(), json!({ "uid": c, "credential_uid": c }));
    }
    (!actor.is_empty()).then_some(Value::Object(actor))
}

/// The events a finding rests on, each with the agent that acted.
fn evidences(f: &Finding) -> Vec<Value> {
    let actor = agent_actor(f);
    f.evidence
        .iter()
        .map(|e| {
            let mut ev = json!({ "uid": e.event_id, "data": { "origin": e.origin } });
            if let Some(a) = &actor {
                ev["actor"] = a.clone();
            }
            ev
        })
        .collect()
}

/// A statistical finding's drift: the agent's baseline against the
/// observation. Rule findings have none (`finding_info.analytic` names
/// the rule).
fn anomaly_analyses(f: &Finding) -> Option<Value> {
    if f.rule_id.is_some() {
        return None;
    }
    let target = f
        .agent_id
        .as_deref()
        .or(f.agent_instance.as_deref())
        .unwrap_or("unattributed");
    Some(json!([{
        "analysis_targets": [{ "name": target, "type": "Agent" }],
        "baselines": [{
            "observation_parameter": f.detector,
            "observation_type": "Agent baseline",
            "observations": [{
                "value": f.expected,
                "count": f.baseline_instances,
            }],
        }],
        "anomalies": [{
            "observation_parameter": f.detector,
            "observation_type": "Agent instance",
            "observed_pattern": f.summary,
            "observations": [{ "value": f.observed, "count": 1 }],
        }],
    }]))
}

/// One finding as an OCSF Detection Finding.
pub fn detection_finding(f: &Finding) -> Value {
    let (analytic_type_id, analytic_type, analytic_name) = match &f.rule_id {
        Some(rule) => (1, "Rule", rule.as_str()),
        None => (3, "Statistical", f.detector.as_str()),
    };
    let resources: Vec<Value> = f.resource.iter().map(|r| json!({ "uid": r })).collect();
    let mut event = json!({
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "time": millis(f.detected_at),
        "severity_id": severity_id(f.severity),
        "severity": capitalised(f.severity),
        "status_id": 1,
        "status": "New",
        "is_alert": true,
        "message": f.summary,
        "risk_score": f.risk_score,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.finding_id,
            "log_name": "findings",
            "product": {
                "name": "delegraph",
                "vendor_name": "delegraph",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": f.finding_id,
            "title": f.summary,
            "desc": format!("expected: {}; observed: {}", f.expected, f.observed),
            "types": [f.detector],
            "analytic": {
                "name": analytic_name,
                "type_id": analytic_type_id,
                "type": analytic_type,
            },
            "first_seen_time": millis(f.event_time),
            "created_time": millis(f.detected_at),
            "attacks": attacks(&f.tags),
            "related_events": f.evidence.iter().map(|e| json!({ "uid": e.event_id })).collect::<Vec<_>>(),
        },
        "evidences": evidences(f),
        "resources": resources,
        "unmapped": { "delegraph": {
            "tool": f.tool,
            "detector": f.detector,
            "rule_id": f.rule_id,
            "agent_id": f.agent_id,
            "agent_instance": f.agent_instance,
            "root_instance": f.root_instance,
            "initiator": f.initiator,
            "credential_id": f.credential_id,
            "chain": f.chain,
            "expected": f.expected,
            "observed": f.observed,
            "p_value": f.p_value,
            "baseline_instances": f.baseline_instances,
            "tags": f.tags,
            "instance_risk": f.instance_risk,
            "human_risk": f.human_risk,
        }},
    });
    if let Some(a) = anomaly_analyses(f) {
        event["anomaly_analyses"] = a;
    }
    event
}

/// Write findings as OCSF JSON lines to `path`, whole or not at all
/// (the store's atomic file write), for a SIEM's file collector.
pub fn write_ocsf_lines(path: &Path, findings: &[Finding]) -> Result<(), PipelineError> {
    let mut text = Vec::new();
    for f in findings {
        serde_json::to_writer(&mut text, &detection_finding(f)).map_err(|e| {
            PipelineError::State {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        text.push(b'\n');
    }
    Ok(delegraph_store::write_file_atomic(path, &text)?)
}

fn capitalised(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use delegraph_model::Evidence;

    #[test]
    fn carries_class_ids_severity_attacks_and_evidence() {
        let f = Finding {
            finding_id: "f1".into(),
            detector: "privilege_escalation".into(),
            rule_id: None,
            severity: Severity::High,
            risk_score: 72,
            event_time: 1_700_000_000_123_000_000,
            detected_at: 1_700_000_001_000_000_000,
            agent_id: Some("billing-agent".into()),
            agent_instance: Some("inst-1".into()),
            root_instance: None,
            initiator: Some("alice@example.com".into()),
            credential_id: Some("ASIAEXAMPLE".into()),
            tool: None,
            resource: Some("arn:aws:iam::123456789012:user/admin".into()),
            summary: "agent attached an admin policy".into(),
            expected: "no IAM changes".into(),
            observed: "AttachUserPolicy".into(),
            p_value: Some(1e-6),
            baseline_instances: 40,
            evidence: vec![Evidence {
                event_id: "e1".into(),
                origin: "cloudtrail/0/17".into(),
            }],
            chain: vec!["alice@example.com".into(), "inst-1".into()],
            tags: vec!["owasp-nhi:NHI5".into(), "attack:T1098.001".into()],
            instance_risk: 72,
            human_risk: 50,
        };
        let v = detection_finding(&f);
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["time"], 1_700_000_001_000i64);
        assert_eq!(v["finding_info"]["first_seen_time"], 1_700_000_000_123i64);
        assert_eq!(
            v["finding_info"]["attacks"][0]["technique"]["uid"],
            "T1098.001"
        );
        assert_eq!(v["finding_info"]["attacks"].as_array().unwrap().len(), 1);
        assert_eq!(v["finding_info"]["related_events"][0]["uid"], "e1");
        assert_eq!(
            v["resources"][0]["uid"],
            "arn:aws:iam::123456789012:user/admin"
        );
        let actor = &v["evidences"][0]["actor"];
        assert_eq!(actor["user"]["name"], "alice@example.com");
        assert_eq!(actor["user"]["credential_uid"], "ASIAEXAMPLE");
        assert_eq!(actor["app_name"], "billing-agent");
        assert_eq!(actor["session"]["uid"], "inst-1");
        let drift = &v["anomaly_analyses"][0];
        assert_eq!(drift["analysis_targets"][0]["name"], "billing-agent");
        assert_eq!(
            drift["baselines"][0]["observations"][0]["value"],
            "no IAM changes"
        );
        assert_eq!(drift["baselines"][0]["observations"][0]["count"], 40);
        assert_eq!(
            drift["anomalies"][0]["observations"][0]["value"],
            "AttachUserPolicy"
        );
        assert_eq!(v["unmapped"]["delegraph"]["chain"][1], "inst-1");
    }

    #[test]
    fn attack_techniques_are_read_from_detector_and_sigma_tags() {
        let tags: Vec<String> = [
            "attack:T1098.001",
            "attack.t1078.004",
            "attack.persistence",
            "attack.t10x",
            "owasp-nhi:NHI5",
        ]
        .map(String::from)
        .to_vec();
        let uids: Vec<Value> = attacks(&tags)
            .into_iter()
            .map(|a| a["technique"]["uid"].clone())
            .collect();
        assert_eq!(uids, vec![json!("T1098.001"), json!("T1078.004")]);
    }
}

//! Findings as OCSF Detection Finding (class 2004) events, the shape SIEMs
//! and security lakes ingest without a custom parser.
//!
//! Everything OCSF has no attribute for (delegation chain, expected vs
//! observed, p-value, baseline size, instance and human risk) is kept under
//! `unmapped.delegraph`, so the event is complete on its own.

use delegraph_model::{Finding, Severity};
use serde_json::{Value, json};

/// OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

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

/// ATT&CK techniques among the tags (`attack:T1098.001`), as OCSF attacks.
fn attacks(tags: &[String]) -> Vec<Value> {
    tags.iter()
        .filter_map(|t| t.strip_prefix("attack:"))
        .map(|id| json!({ "technique": { "uid": id }, "version": "15" }))
        .collect()
}

/// One finding as an OCSF Detection Finding.
pub fn detection_finding(f: &Finding) -> Value {
    let (analytic_type_id, analytic_type, analytic_name) = match &f.rule_id {
        Some(rule) => (1, "Rule", rule.as_str()),
        None => (3, "Statistical", f.detector.as_str()),
    };
    let mut actor = json!({});
    if let Some(h) = &f.initiator {
        actor["user"] = json!({ "name": h, "type_id": 1, "type": "User" });
    }
    if let Some(a) = &f.agent_id {
        actor["app_name"] = json!(a);
    }
    if let Some(i) = &f.agent_instance {
        actor["session"] = json!({ "uid": i });
    }
    if let Some(c) = &f.credential_id {
        actor["user"]["credential_uid"] = json!(c);
    }
    let resources: Vec<Value> = f.resource.iter().map(|r| json!({ "uid": r })).collect();
    json!({
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
        "message": f.summary,
        "risk_score": f.risk_score,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.finding_id,
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
            "related_events": f.evidence.iter().map(|e| json!({
                "uid": e.event_id,
                "desc": e.origin,
            })).collect::<Vec<_>>(),
        },
        "actor": actor,
        "resources": resources,
        "unmapped": { "delegraph": {
            "tool": f.tool,
            "detector": f.detector,
            "rule_id": f.rule_id,
            "agent_instance": f.agent_instance,
            "root_instance": f.root_instance,
            "chain": f.chain,
            "expected": f.expected,
            "observed": f.observed,
            "p_value": f.p_value,
            "baseline_instances": f.baseline_instances,
            "tags": f.tags,
            "instance_risk": f.instance_risk,
            "human_risk": f.human_risk,
        }},
    })
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
        assert_eq!(v["actor"]["user"]["name"], "alice@example.com");
        assert_eq!(v["actor"]["user"]["credential_uid"], "ASIAEXAMPLE");
        assert_eq!(v["unmapped"]["delegraph"]["chain"][1], "inst-1");
    }
}

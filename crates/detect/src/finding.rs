//! Turning a detector's signal into a stored finding: deterministic id,
//! one-sentence summary, evidence, chain, tags and risk.

use delegraph_model::{Attribution, Finding, NormEvent, Severity, finding_id};

use crate::detector::Signal;
use crate::instance::Instance;

/// Most evidence entries kept on one finding.
const MAX_EVIDENCE: usize = 20;

/// "support-agent instance support-agent-1a2b (for ana@example.com)".
fn who(p: &Instance, agent: &str) -> String {
    let mut s = format!("{agent} instance {}", p.instance);
    let mut notes = Vec::new();
    if p.root != p.instance {
        notes.push(format!("delegated by {}", p.root));
    }
    match &p.human {
        Some(h) => notes.push(format!("for {h}")),
        None => notes.push("no human on record".to_owned()),
    }
    s.push_str(&format!(" ({})", notes.join(", ")));
    s
}

/// Build the finding (risk totals are filled by the caller).
pub(crate) fn build(
    s: Signal,
    p: &Instance,
    agent: &str,
    attribution: Option<&Attribution>,
    e: Option<&NormEvent>,
    detected_at: i64,
) -> Finding {
    let mut evidence = Vec::with_capacity(s.evidence.len().min(MAX_EVIDENCE));
    for e in s.evidence {
        if evidence.len() < MAX_EVIDENCE && !evidence.contains(&e) {
            evidence.push(e);
        }
    }
    let (tool, resource) = e.map(NormEvent::tool_and_resource).unwrap_or_default();
    let chain = match attribution {
        Some(a) if !a.chain.is_empty() => a.chain.clone(),
        _ => p.chain.clone(),
    };
    Finding {
        finding_id: finding_id(s.detector.name(), &p.instance, &s.subject),
        detector: s.detector.name().to_owned(),
        rule_id: None,
        severity: Severity::from_risk(s.risk),
        risk_score: s.risk,
        event_time: e.map_or(p.last_seen, |e| e.event_time.nanos()),
        detected_at,
        agent_id: p.agent_id.clone(),
        agent_instance: Some(p.instance.clone()),
        root_instance: Some(p.root.clone()),
        initiator: p.human.clone(),
        credential_id: s.credential.or_else(|| {
            e.and_then(|e| e.credential_used.as_ref())
                .map(|c| c.id.clone())
        }),
        tool,
        resource,
        summary: format!("{} {}. Baseline: {}.", who(p, agent), s.what, s.expected),
        expected: s.expected,
        observed: s.observed,
        p_value: s.p,
        baseline_instances: 0,
        evidence,
        chain,
        tags: s.tags.iter().map(|t| (*t).to_owned()).collect(),
        instance_risk: 0,
        human_risk: 0,
    }
}

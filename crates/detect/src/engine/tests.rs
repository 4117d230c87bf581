//! The engine end to end on small hand-made event sequences.

use super::*;
use delegraph_model::{Category, Disposition, Verdict};
use serde_json::json;
use std::time::Duration;

const MIN: i64 = 60_000_000_000;

/// An attributed CloudTrail-like event at minute `m`.
fn ev(id: &str, m: i64, instance: Option<&str>, cred: &str, ua: &str) -> NormEvent {
    let mut v = json!({
        "event_id": id, "source": "cloudtrail", "source_event_type": "GetObject",
        "event_time": format!("2026-03-02T{:02}:{:02}:00Z", m / 60, m % 60),
        "category": "api_call", "operation": "s3.amazonaws.com:GetObject",
        "actor": {"id": "arn:aws:sts::1:assumed-role/r/s"}, "actor_kind": "agent",
        "actor_kind_basis": "test", "outcome": "success", "user_agent": ua,
        "credential_used": {"id": cred, "kind": "aws_session_key"},
        "origin": {"kind": "file", "path": "t", "line": 1, "index": null}, "raw": "{}",
        "attribution": {"agent_id": "a", "initiator": "ana@example.com", "depth": 0, "basis": "test"}
    });
    if let Some(i) = instance {
        v["attribution"]["instance"] = json!(i);
        v["attribution"]["root_instance"] = json!(i);
    }
    serde_json::from_value(v).unwrap()
}

fn run(events: &[NormEvent]) -> Vec<Finding> {
    let mut d = Detectors::new(DetectConfig::default());
    let mut out = Vec::new();
    for e in events {
        d.observe(e, &mut out);
    }
    out
}

#[test]
fn a_person_using_an_agents_credential_is_shared_identity() {
    let boto = "Boto3/1.35.0";
    let browser = "Mozilla/5.0 (Macintosh) console.amazonaws.com";
    let f = run(&[
        ev("1", 1, Some("X"), "ASIAK", boto),
        ev("2", 2, Some("X"), "ASIAK", browser),
        ev("3", 3, Some("X"), "ASIAK", browser),
    ]);
    let shared: Vec<_> = f
        .iter()
        .filter(|f| f.detector == "shared_identity")
        .collect();
    assert_eq!(shared.len(), 1, "{f:#?}");
    assert_eq!(shared[0].agent_instance.as_deref(), Some("X"));
    assert!(
        shared[0].summary.contains("person's client"),
        "{}",
        shared[0].summary
    );
    // The same client throughout raises nothing.
    let quiet = run(&[
        ev("1", 1, Some("X"), "ASIAK", boto),
        ev("2", 2, Some("X"), "ASIAK", boto),
    ]);
    assert!(quiet.is_empty(), "{quiet:#?}");
}

#[test]
fn a_human_acting_directly_with_an_agents_token_is_flagged_on_the_agent() {
    let f = run(&[
        ev("1", 1, Some("X"), "tok-1", "agent-runtime/1.0"),
        ev("2", 2, None, "tok-1", "agent-runtime/1.0"),
    ]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].detector, "shared_identity");
    assert_eq!(f[0].agent_instance.as_deref(), Some("X"));
    assert!(
        f[0].summary
            .contains("the human ana@example.com also used directly"),
        "{}",
        f[0].summary
    );
}

#[test]
fn a_credential_idle_past_its_horizon_is_forgotten() {
    let events = [
        ev("1", 1, Some("X"), "tok-1", "agent-runtime/1.0"),
        ev("2", 70, None, "tok-1", "agent-runtime/1.0"),
    ];
    let findings = |credential_idle_secs| {
        // X stays open, so only the credential's memory differs.
        let mut d = Detectors::new(DetectConfig {
            idle_close_secs: 86_400,
            credential_idle_secs,
            ..DetectConfig::default()
        });
        let mut out = Vec::new();
        for e in &events {
            d.observe(e, &mut out);
        }
        (out, d)
    };
    // Idle 69 minutes: still known to be X's under the default week.
    let (within, _) = findings(DetectConfig::default().credential_idle_secs);
    assert_eq!(within.len(), 1, "{within:#?}");
    let (past, d) = findings(600);
    assert!(past.is_empty(), "{past:#?}");
    assert!(
        d.s.credentials.peek("tok-1").is_some(),
        "known again after its use"
    );
}

#[test]
fn a_credential_used_after_it_expired_is_flagged() {
    let mut issue = ev("0", 0, Some("runtime"), "ASIARUNTIME", "Boto3");
    issue.credential_issued = Some(delegraph_model::Credential {
        id: "ASIAK".into(),
        kind: delegraph_model::CredentialKind::AwsSessionKey,
        issued_at: None,
        expires_at: Some(delegraph_model::Timestamp::from_nanos(
            issue.event_time.nanos() + 10 * MIN,
        )),
    });
    let f = run(&[
        issue,
        ev("1", 5, Some("X"), "ASIAK", "Boto3"),
        ev("2", 25, Some("X"), "ASIAK", "Boto3"),
    ]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].detector, "credential_lifetime");
    assert!(
        f[0].summary.contains("after it expired"),
        "{}",
        f[0].summary
    );
    assert!(
        f[0].risk_score >= 40,
        "a definite finding is at least medium"
    );
}

/// Instance `i` of agent `a`: its runtime issues it a key valid for
/// `valid` minutes, its task runs two minutes and uses the key once.
fn task(i: i64, valid: i64) -> Vec<NormEvent> {
    let t = 10 * i;
    let id = format!("X{i}");
    let key = format!("ASIAKEY{i}");
    let mut issue = ev(
        &format!("{i}-0"),
        t,
        Some("runtime"),
        "ASIARUNTIME",
        "Boto3",
    );
    issue.credential_issued = Some(delegraph_model::Credential {
        id: key.clone(),
        kind: delegraph_model::CredentialKind::AwsSessionKey,
        issued_at: None,
        expires_at: Some(delegraph_model::Timestamp::from_nanos(
            issue.event_time.nanos() + valid * MIN,
        )),
    });
    let mut root = ev(&format!("{i}-1"), t, Some(&id), "", "Boto3");
    root.credential_used = None;
    root.category = delegraph_model::Category::AgentInvoke;
    root.links.push(delegraph_model::Link::TaskEnded {
        instance: id.clone(),
        at: delegraph_model::Timestamp::from_nanos(root.event_time.nanos() + 2 * MIN),
    });
    let used = ev(&format!("{i}-2"), t + 1, Some(&id), &key, "Boto3");
    vec![issue, root, used]
}

fn minute(m: i64) -> NormEvent {
    let mut e = ev(&format!("tick-{m}"), 0, None, "none", "Boto3");
    e.event_time = delegraph_model::Timestamp::from_nanos(
        ev("x", 0, None, "x", "x").event_time.nanos() + m * MIN,
    );
    e.credential_used = None;
    e
}

#[test]
fn a_credential_valid_far_longer_past_its_task_than_usual_is_flagged() {
    let mut events: Vec<NormEvent> = (0..20).flat_map(|i| task(i, 60)).collect();
    events.extend(task(20, 12 * 60));
    events.push(minute(20 * 10 + 60));
    let f = run(&events);
    let slack: Vec<_> = f
        .iter()
        .filter(|f| f.detector == "credential_lifetime")
        .collect();
    assert_eq!(slack.len(), 1, "{f:#?}");
    assert_eq!(slack[0].agent_instance.as_deref(), Some("X20"));
    assert!(
        slack[0].summary.contains("still valid 718 min"),
        "{}",
        slack[0].summary
    );
}

/// A policy decision of instance `X` at minute `m`.
fn decision(id: &str, m: i64, allowed: bool, cred: &str) -> NormEvent {
    let mut e = ev(id, m, Some("X"), cred, "gw");
    e.source = delegraph_model::Source::Opa;
    e.category = Category::PolicyDecision;
    e.resources = vec![delegraph_model::Resource {
        id: "db:hr.payroll".into(),
        kind: None,
        is_secret: false,
    }];
    e.decision = Some(Box::new(delegraph_model::PolicyDecision {
        decision_id: id.into(),
        engine: delegraph_model::PolicyEngine::Opa,
        policy: "agents/allow".into(),
        allowed: Some(allowed),
        action: Some("read_payroll".into()),
        policies: Vec::new(),
    }));
    e
}

#[test]
fn a_denied_request_granted_later_with_another_credential_is_drift() {
    let drift = |events: &[NormEvent]| {
        run(events)
            .into_iter()
            .filter(|f| f.detector == "policy_probe")
            .count()
    };
    // The same request retried with the same token: no way around.
    assert_eq!(
        drift(&[
            decision("d1", 1, false, "tok-A"),
            decision("d2", 2, true, "tok-A")
        ]),
        0
    );
    // Another token gets what the first was refused.
    let f = run(&[
        decision("d1", 1, false, "tok-A"),
        decision("d2", 2, true, "tok-B"),
    ]);
    let p: Vec<_> = f.iter().filter(|f| f.detector == "policy_probe").collect();
    assert_eq!(p.len(), 1, "{f:#?}");
    assert!(
        p[0].summary.contains("with credential tok-B"),
        "{}",
        p[0].summary
    );
    // Past the drift window it is a new request, not a way around.
    assert_eq!(
        drift(&[
            decision("d1", 1, false, "tok-A"),
            decision("d2", 30, true, "tok-B")
        ]),
        0
    );
}

/// Detectors that quarantine an instance with any finding, with no
/// warm-up, so one instance is enough to show what a verdict does.
fn strict() -> Detectors {
    Detectors::new(DetectConfig {
        learn_below_risk: 1,
        forgive_below_risk: 1,
        min_history: 0,
        ..DetectConfig::default()
    })
}

/// A session whose credential a person's browser also used (one finding).
fn shared(d: &mut Detectors, instance: &str, first_minute: i64) {
    let browser = "Mozilla/5.0 (Macintosh) console.amazonaws.com";
    let mut out = Vec::new();
    let cred = format!("ASIA{instance}");
    d.observe(
        &ev(
            &format!("{instance}1"),
            first_minute,
            Some(instance),
            &cred,
            "Boto3/1.35.0",
        ),
        &mut out,
    );
    d.observe(
        &ev(
            &format!("{instance}2"),
            first_minute + 1,
            Some(instance),
            &cred,
            browser,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:#?}");
}

fn verdict(seq: u64, instance: &str, disposition: Disposition) -> Verdict {
    Verdict {
        seq,
        finding_id: format!("f{seq}"),
        agent_instance: instance.to_owned(),
        disposition,
    }
}

fn close_all(d: &mut Detectors) {
    d.expire(i64::MAX / 2, &mut Vec::new());
}

#[test]
fn a_benign_verdict_learns_a_quarantined_instance_once() {
    let mut d = strict();
    shared(&mut d, "X", 1);
    close_all(&mut d);
    assert_eq!((d.history("a"), d.stats().quarantined), (0, 1));
    assert_eq!(d.verdicts.held_back(), 1);
    // Held back across a restart.
    let mut d = Detectors::restore(d.cfg.clone(), &d.save().unwrap()).unwrap();
    d.apply_verdict(&verdict(7, "X", Disposition::BenignPositive));
    assert_eq!(d.history("a"), 1);
    assert_eq!((d.verdicts.held_back(), d.verdicts.learned_benign), (0, 1));
    // The same verdict again (read from the log after a restart) and a
    // verdict on an instance nobody knows change nothing.
    d.apply_verdict(&verdict(7, "X", Disposition::BenignPositive));
    d.apply_verdict(&verdict(8, "nobody", Disposition::BenignPositive));
    assert_eq!((d.history("a"), d.verdicts.learned_benign), (1, 1));
}

#[test]
fn a_true_positive_verdict_keeps_an_instance_out_for_good() {
    let mut d = strict();
    shared(&mut d, "X", 1);
    close_all(&mut d);
    d.apply_verdict(&verdict(1, "X", Disposition::TruePositive));
    d.apply_verdict(&verdict(2, "X", Disposition::BenignPositive));
    assert_eq!(d.history("a"), 0);
    assert_eq!(d.verdicts.dropped_true_positive, 1);
    assert_eq!(d.verdicts.learned_benign, 0);
}

#[test]
fn a_verdict_on_an_open_instance_decides_when_it_closes() {
    let mut d = strict();
    shared(&mut d, "X", 1);
    shared(&mut d, "Y", 3);
    d.apply_verdict(&verdict(1, "X", Disposition::BenignPositive));
    d.apply_verdict(&verdict(2, "Y", Disposition::TruePositive));
    close_all(&mut d);
    // X learned despite its finding, Y neither learned nor held back.
    assert_eq!(d.history("a"), 1);
    assert_eq!((d.verdicts.learned_benign, d.verdicts.held_back()), (1, 0));
}

#[test]
fn state_saved_before_verdicts_existed_still_loads() {
    let d = strict();
    let parts: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let old = postcard::to_stdvec(&(&d.s, parts)).unwrap();
    let back = Detectors::restore(d.cfg.clone(), &old).unwrap();
    assert_eq!(back.verdicts.held_back(), 0);
}

/// The parts are written whole: the same bytes as a map of `u8`
/// sequences, so state saved before still loads.
#[test]
fn saved_parts_are_the_element_by_element_encoding_of_their_bytes() {
    let mut d = strict();
    shared(&mut d, "X", 1);
    let saved = d.save().unwrap();
    let (s, parts): (State, BTreeMap<String, Vec<u8>>) = postcard::from_bytes(&saved).unwrap();
    assert!(parts.values().any(|p| p.len() > 1), "{parts:?}");
    assert_eq!(postcard::to_stdvec(&(&s, &parts)).unwrap(), saved);
}

/// Timing every detector changes neither findings nor saved state, and
/// accounts for each registered detector, in registry order.
#[test]
fn timed_detectors_find_and_save_what_untimed_ones_do() {
    let mut plain = strict();
    let mut timed = strict();
    timed.time_detectors();
    for d in [&mut plain, &mut timed] {
        shared(d, "X", 1);
        shared(d, "Y", 3);
    }
    assert_eq!(plain.save().unwrap(), timed.save().unwrap());
    let (mut found, mut found_timed) = (Vec::new(), Vec::new());
    plain.expire(i64::MAX / 2, &mut found);
    timed.expire(i64::MAX / 2, &mut found_timed);
    assert_eq!(found, found_timed);
    assert_eq!(plain.save().unwrap(), timed.save().unwrap());
    assert!(plain.detector_timings().is_empty());
    let timings = timed.detector_timings();
    let keys: Vec<&str> = plain.detectors.iter().map(|d| d.state_key()).collect();
    let names: Vec<&str> = timings.iter().map(|t| t.name).collect();
    assert_eq!(names, keys);
    // Each looked at the events; each judged and forgot the closed ones.
    for t in &timings {
        assert!(
            t.events > Duration::ZERO && t.close > Duration::ZERO,
            "{t:?}"
        );
        assert!(t.learn > Duration::ZERO && t.total() > t.events, "{t:?}");
        assert!(t.calls >= 6, "{t:?}");
    }
}

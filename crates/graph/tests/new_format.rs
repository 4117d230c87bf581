//! A log format the graph has never heard of is attributed from its link
//! hints alone: a new format needs a decoder, not a change to the graph.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use delegraph_graph::{StitchConfig, Stitcher};
use delegraph_model::{
    ActorKind, Attribution, Bind, LinkHints, NormEvent, Origin, Resolve, SessionIssue, Source,
    Timestamp,
};

/// A made-up job runner's log, one record a line:
/// `second|kind|actor|arg`. Its decoder knows the runner's identity model
/// (a run is an instance, a sub-job runs under its parent's span, a token
/// issued to a sub-job's service session chains from it) and says so in
/// link hints only: no trace, session or credential fields are set.
struct JobRunnerDecoder {
    /// Which source value the events carry: the graph must not care.
    source: Source,
}

impl JobRunnerDecoder {
    fn decode(&self, line: &str) -> NormEvent {
        let [second, kind, actor, arg] = line.split('|').collect::<Vec<_>>()[..] else {
            panic!("bad test line {line}");
        };
        let at = Timestamp::parse_rfc3339("2026-05-06T10:00:00Z")
            .unwrap()
            .nanos()
            + second.parse::<i64>().unwrap() * 1_000_000_000;
        let mut e = NormEvent::new(
            self.source,
            format!("job-{second}"),
            kind.to_owned(),
            Timestamp(at),
            Origin::File {
                path: "jobs.log".into(),
                line: second.parse().unwrap(),
                index: None,
            },
            line.to_owned(),
        );
        e.actor.id = actor.to_owned();
        e.actor_kind = ActorKind::Workload;
        e.agent.agent_id = Some("job-runner".into());
        let h = &mut e.hints;
        match kind {
            // `arg` is the run id; the actor is the human who started it.
            "start" => {
                e.actor_kind = ActorKind::Human;
                h.resolve.push(Resolve::Instance {
                    id: arg.to_owned(),
                    human: Some(actor.to_owned()),
                    aliases: vec![format!("run:{arg}")],
                    basis: "job run started".into(),
                });
                h.bind.push(Bind::Span {
                    span: format!("{arg}/root"),
                });
            }
            // `arg` is the run id.
            "step" => h.resolve.push(Resolve::Session {
                key: format!("run:{arg}"),
                basis: "step of a run".into(),
            }),
            // `arg` is `parent-span>sub-job id`.
            "subjob" => {
                let (parent, id) = arg.split_once('>').unwrap();
                h.resolve.push(Resolve::SubAgent {
                    parent: parent.to_owned(),
                    instance: id.to_owned(),
                });
                h.bind.push(Bind::Span {
                    span: id.to_owned(),
                });
            }
            // `arg` is `span>token>service session`.
            "token" => {
                let [span, token, session] = arg.split('>').collect::<Vec<_>>()[..] else {
                    panic!("bad token line {line}");
                };
                h.resolve.push(Resolve::ChildSpan {
                    parent: span.to_owned(),
                    basis: "job span".into(),
                });
                h.issues = Some(Box::new(SessionIssue {
                    credential: token.to_owned(),
                    session: session.to_owned(),
                    name: session.to_owned(),
                    agent: Some("service-role".into()),
                    basis: "token exchange".into(),
                }));
            }
            // `arg` is the token the call was made with.
            "call" => {
                h.resolve.push(Resolve::Credential {
                    credential: arg.to_owned(),
                    basis: "token issued earlier".into(),
                });
                h.resolve.push(Resolve::Unresolved {
                    reason: format!("token {arg} never issued").into(),
                });
            }
            // An operator at the console.
            "console" => {
                e.actor_kind = ActorKind::Human;
                e.actor_kind_basis = "console login".into();
                h.resolve.push(Resolve::Human {
                    basis: "operator".into(),
                });
            }
            other => panic!("unknown kind {other}"),
        }
        e
    }
}

const LOG: &str = "\
0|start|dana@example.com|run-7
1|step|runner-1|run-7
2|subjob|runner-1|run-7/root>run-7/sub-1
3|token|runner-1|run-7/sub-1>tok-1>svc-session-1
4|call|svc|tok-1
5|call|svc|tok-unknown
6|console|ops@example.com|-";

fn attribute(source: Source) -> (Vec<Attribution>, Stitcher) {
    let decoder = JobRunnerDecoder { source };
    let mut s = Stitcher::new(StitchConfig::default());
    let mut out = Vec::new();
    for line in LOG.lines() {
        let mut e = decoder.decode(line);
        let context = s.attribute(&mut e);
        let a = *e.attribution.unwrap();
        if a.instance.is_some() {
            assert!(context.instance_since.is_some(), "{line}");
        }
        out.push(a);
    }
    (out, s)
}

#[test]
fn an_unknown_format_is_attributed_by_its_hints_alone() {
    let (a, s) = attribute(Source::Github);
    let human = "dana@example.com";
    // The run and its step: the root instance, for the human who started it.
    for x in &a[..2] {
        assert_eq!(x.instance.as_deref(), Some("run-7"));
        assert_eq!(x.root_instance.as_deref(), Some("run-7"));
        assert_eq!(x.initiator.as_deref(), Some(human));
        assert_eq!(x.chain, [human, "run-7"]);
        assert_eq!(x.depth, 0);
        assert_eq!(x.agent_id.as_deref(), Some("job-runner"));
    }
    assert_eq!(a[1].basis, "step of a run");
    // The sub-job: one level down, same root and human.
    assert_eq!(a[2].instance.as_deref(), Some("run-7/sub-1"));
    assert_eq!(a[2].root_instance.as_deref(), Some("run-7"));
    assert_eq!(a[2].chain, [human, "run-7", "run-7/sub-1"]);
    assert_eq!(a[2].depth, 1);
    assert_eq!(a[2].basis, "sub-agent of run-7");
    // The token it obtained chains its service session below it; calls made
    // with the token belong to the sub-job, one level deeper.
    assert_eq!(a[3].instance.as_deref(), Some("run-7/sub-1"));
    assert_eq!(a[4].instance.as_deref(), Some("run-7/sub-1"));
    assert_eq!(a[4].root_instance.as_deref(), Some("run-7"));
    assert_eq!(a[4].initiator.as_deref(), Some(human));
    assert_eq!(a[4].chain, [human, "run-7", "run-7/sub-1", "svc-session-1"]);
    assert_eq!(a[4].depth, 2);
    assert_eq!(a[4].basis, "token issued earlier");
    // What resolves nowhere says why; a human acts directly.
    assert_eq!(a[5].instance, None);
    assert_eq!(a[5].basis, "unattributed: token tok-unknown never issued");
    assert_eq!(a[6].instance, None);
    assert_eq!(a[6].initiator.as_deref(), Some("ops@example.com"));
    assert_eq!(a[6].basis, "operator (console login)");
    // The graph keeps the runs: the root's shows the sub-job it delegated to.
    let root = s.instances().get("run-7").unwrap();
    assert!(root.graph.node_weights().any(|n| n.label == "run-7/sub-1"));
    let st = s.stats();
    assert_eq!((st.attributed, st.human_direct, st.unattributed), (5, 1, 1));
    // Whatever source value the records carry, the result is the same.
    for other in [Source::Opa, Source::Cloudtrail, Source::Mcp] {
        assert_eq!(attribute(other).0, a, "{other}");
    }
}

#[test]
fn records_without_hints_stay_unattributed() {
    let mut s = Stitcher::new(StitchConfig::default());
    let mut e = JobRunnerDecoder {
        source: Source::Otlp,
    }
    .decode("0|step|runner-1|run-9");
    e.hints = LinkHints::default();
    s.attribute(&mut e);
    let a = e.attribution.unwrap();
    assert_eq!(a.instance, None);
    assert!(a.basis.starts_with("unattributed: "), "{}", a.basis);
}

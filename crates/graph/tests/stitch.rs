//! Attribution across sources, order independence and bounded state.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

mod common;

use common::Events;
use delegraph_decode::{DocumentDecoder, OriginBase};
use delegraph_graph::{ReorderBuffer, StitchConfig, Stitcher};
use delegraph_model::{Attribution, NormEvent, Timestamp};
use delegraph_testdata::stratus_files;

fn root() -> PathBuf {
    delegraph_testdata::checkout_root()
}

fn decode(paths: &[PathBuf]) -> Vec<NormEvent> {
    let mut out = Events::default();
    for p in paths {
        let bytes = std::fs::read(p).unwrap();
        let base = OriginBase::File {
            path: p.display().to_string(),
        };
        DocumentDecoder::default()
            .decode_document(&bytes, &base, &mut out)
            .expect("collecting never fails");
    }
    out.0
}

fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// Feed events in the given arrival order through reorder + stitch.
fn stitch(events: Vec<NormEvent>, cfg: StitchConfig) -> (Vec<NormEvent>, Stitcher) {
    let mut reorder = ReorderBuffer::new(cfg.lateness_ns);
    let mut s = Stitcher::new(cfg);
    let mut out = Vec::new();
    for e in events {
        let mut due = Vec::new();
        reorder.push(e, |x| due.push(x));
        for mut x in due {
            s.attribute(&mut x);
            out.push(x);
        }
    }
    let mut rest = Vec::new();
    reorder.flush(|x| rest.push(x));
    for mut x in rest {
        s.attribute(&mut x);
        out.push(x);
    }
    (out, s)
}

fn by_id(events: &[NormEvent]) -> BTreeMap<String, Attribution> {
    events
        .iter()
        .map(|e| (e.event_id.clone(), *e.attribution.clone().unwrap()))
        .collect()
}

#[test]
fn assume_role_chain_keeps_instance_and_human() {
    let (out, s) = stitch(
        decode(&[fixture("cloudtrail/assume-role-chain.jsonl")]),
        StitchConfig::default(),
    );
    let a = by_id(&out);
    let session = "arn:aws:sts::111111111111:assumed-role/support-agent/support-agent-7f3a";
    let chained =
        "arn:aws:sts::222222222222:assumed-role/billing-reader/support-agent-7f3a-billing";
    // alice assumes the agent's role herself.
    let first = &a["1917948f-3042-46ec-98e2-62865EXAMPLE"];
    assert_eq!(first.instance, None);
    assert_eq!(
        first.initiator.as_deref(),
        Some("arn:aws:iam::111111111111:user/alice")
    );
    // The agent's calls with the issued key, and through the role chain.
    for (id, depth) in [
        ("5b2c0d4e-7f58-4a6e-9f2e-0c8d3EXAMPLE", 0),
        ("8a9e4c1d-6f2b-4f0e-a1d3-9b7e2EXAMPLE", 0),
        ("f0e1d2c3-b4a5-4968-8776-655443EXAMPLE", 1),
        ("0a1b2c3d-4e5f-4a6b-9c8d-7e6f5EXAMPLE", 1),
    ] {
        let x = &a[id];
        assert_eq!(x.instance.as_deref(), Some(session), "{id}");
        assert_eq!(x.initiator.as_deref(), Some("alice@example.com"), "{id}");
        assert_eq!(x.depth, depth, "{id}");
        assert_eq!(
            x.agent_id.as_deref(),
            Some("arn:aws:iam::111111111111:role/support-agent")
        );
    }
    let deep = &a["f0e1d2c3-b4a5-4968-8776-655443EXAMPLE"];
    assert_eq!(deep.chain, ["alice@example.com", session, chained]);
    // The instance graph holds the chain, both keys and the secret.
    let inst = s.instances().get(session).unwrap();
    let labels: Vec<&str> = inst
        .graph
        .node_weights()
        .map(|n| n.label.as_str())
        .collect();
    for want in [
        "alice@example.com",
        chained,
        "ASIAWHOJDLGPOEXAMPLE",
        "ASIACQRSTUVWRAOEXAMPLE",
        "/billing/stripe-key",
    ] {
        assert!(labels.contains(&want), "graph lacks {want}: {labels:?}");
    }
}

#[test]
fn otel_sub_agents_nest_and_mcp_joins_by_traceparent() {
    let events = decode(&[
        fixture("otlp/agent-trace.jsonl"),
        fixture("mcp/gateway.jsonl"),
    ]);
    let (out, _) = stitch(events, StitchConfig::default());
    let root = "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7";
    let sub = "4bf92f3577b34da6a3ce929d0e0e4736:2b3c4d5e6f708192";
    let a = by_id(&out);
    let tool = &a["4bf92f3577b34da6a3ce929d0e0e4736:1a2b3c4d5e6f7081"];
    assert_eq!(tool.instance.as_deref(), Some(root));
    let refund = &a["4bf92f3577b34da6a3ce929d0e0e4736:3c4d5e6f70819203"];
    assert_eq!(refund.instance.as_deref(), Some(sub));
    assert_eq!(refund.root_instance.as_deref(), Some(root));
    assert_eq!(refund.depth, 1);
    assert_eq!(refund.initiator.as_deref(), Some("alice@example.com"));
    assert_eq!(refund.chain, ["alice@example.com", root, sub]);
    // The MCP session's first call carries the trace context; the whole
    // session then belongs to that instance.
    for rpc in [2, 3, 4, 5] {
        let m = &a[&format!("8267461134f24305af708e66b8eda71a:{rpc}")];
        assert_eq!(m.instance.as_deref(), Some(root), "rpc {rpc}");
    }
}

/// The MCP conventions' examples: client and server spans of a tool call
/// join the calling agent's instance through trace context, whatever the
/// transport; a server span with no traced client joins through its MCP
/// session.
#[test]
fn mcp_client_and_server_spans_join_the_calling_agent() {
    let (out, _) = stitch(
        decode(&[fixture("otlp/mcp-spec-examples.jsonl")]),
        StitchConfig::default(),
    );
    let a = by_id(&out);
    let stdio = "0af7651916cd43dd8448eb211c80319c";
    let http = "2d0a5f3e8c1b4a7f9e6d3c2b1a0f9e8d";
    for (trace, root, spans) in [
        (
            stdio,
            "b9c7c989f97918e1",
            &["e457b5a2e4d86bd1", "d75597dee50b0cac"][..],
        ),
        (
            http,
            "1000000000000001",
            &[
                "1000000000000004",
                "1000000000000005",
                "1000000000000006",
                "1000000000000007",
            ][..],
        ),
    ] {
        for span in spans {
            let x = &a[&format!("{trace}:{span}")];
            assert_eq!(
                x.instance.as_deref(),
                Some(format!("{trace}:{root}").as_str()),
                "{span}"
            );
            assert_eq!(x.depth, 0, "{span}");
        }
    }
    let alone = &a["6b1f0e2d3c4a4b5e9f8a7c6d5e4f3a2b:1100000000000007"];
    assert!(alone.instance.is_some(), "{}", alone.basis);
    assert_eq!(alone.basis, "MCP session");
    // One call, one tool call: the server's span under the client's is
    // its account of the call, not a second call.
    let tool_calls = out
        .iter()
        .filter(|e| e.category == delegraph_model::Category::ToolCall)
        .count();
    assert_eq!(tool_calls, 3, "two traced calls and one untraced");
}

#[test]
fn stratus_records_attribute_to_their_principals_and_sessions() {
    let (out, s) = stitch(decode(&stratus_files()), StitchConfig::default());
    assert_eq!(out.len(), 310);
    assert_eq!(s.stats().unattributed, 0);
    for e in &out {
        let a = e.attribution.as_ref().unwrap();
        match e.actor.vendor_type.as_deref() {
            Some("IAMUser") => {
                assert_eq!(a.instance, None, "{}", e.event_id);
                assert_eq!(a.initiator.as_deref(), Some(e.actor.id.as_str()));
            }
            Some("AssumedRole") => {
                // Either the role session itself or the session whose
                // issuance was seen in the data.
                let inst = a.instance.as_deref().unwrap();
                assert!(inst.contains(":assumed-role/"), "{inst}");
                let key = e.credential_used.as_ref().unwrap().id.as_str();
                let issued_here = out
                    .iter()
                    .any(|x| x.credential_issued.as_ref().is_some_and(|c| c.id == key));
                assert!(
                    issued_here || inst == e.actor.id,
                    "{} -> {inst}",
                    e.actor.id
                );
            }
            _ => assert!(a.instance.is_some() || a.initiator.is_some()),
        }
    }
}

/// xorshift: deterministic pseudo-random delays without a dependency.
fn jitter(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn arrival_order_within_lateness_does_not_change_results() {
    let mut paths = stratus_files();
    for f in [
        "cloudtrail/assume-role-chain.jsonl",
        "cloudtrail/eventbridge.json",
        "otlp/agent-trace.jsonl",
        "mcp/gateway.jsonl",
        "github/audit.jsonl",
        "okta/agent-event-hook.json",
        "entra/agent-signins.json",
    ] {
        paths.push(fixture(f));
    }
    let mut events = decode(&paths);
    events.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    let cfg = StitchConfig::default();
    let (in_order, s1) = stitch(events.clone(), cfg);
    let summary = |s: &Stitcher| {
        let mut v: Vec<_> = s
            .instances()
            .live()
            .map(|i| {
                (
                    i.id.clone(),
                    i.human.clone(),
                    i.first_seen,
                    i.last_seen,
                    i.events,
                    i.graph.node_count(),
                    i.graph.edge_count(),
                )
            })
            .collect();
        v.sort();
        v
    };
    for seed in [1u64, 7, 42, 1234] {
        let mut s = seed;
        let mut arrival: Vec<(Timestamp, NormEvent)> = events
            .iter()
            .map(|e| {
                let delay = (jitter(&mut s) % cfg.lateness_ns as u64) as i64;
                (Timestamp(e.event_time.nanos() + delay), e.clone())
            })
            .collect();
        arrival.sort_by_key(|(t, _)| *t);
        let (shuffled, s2) = stitch(arrival.into_iter().map(|(_, e)| e).collect(), cfg);
        assert_eq!(by_id(&in_order), by_id(&shuffled), "seed {seed}");
        assert_eq!(summary(&s1), summary(&s2), "seed {seed}");
    }
}

/// The cross-source scenarios under `fixtures/scenarios/`: `<name>.jsonl`
/// holds records of several formats, and `<name>.stitched.expected.json`
/// states for every one of them the instance, root instance, human and
/// depth it must get (and the chain where given). Checked in file order,
/// reversed and in jittered arrival orders (all within the lateness). A
/// new scenario is two new files.
#[test]
fn cross_source_scenarios_stitch_one_chain() {
    let dir = root().join("fixtures/scenarios");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no scenario under {}", dir.display());
    for input in inputs {
        let stem = input.file_stem().unwrap().to_string_lossy().to_string();
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{stem}.stitched.expected.json"))).unwrap(),
        )
        .unwrap();
        let want = want["events"].as_object().unwrap();
        let events = decode(std::slice::from_ref(&input));
        let mut reversed = events.clone();
        reversed.reverse();
        let mut orders = vec![("file order", events.clone()), ("reversed", reversed)];
        for seed in [3u64, 11] {
            let mut s = seed;
            let mut jittered: Vec<(i64, NormEvent)> = events
                .iter()
                .map(|e| {
                    let delay = (jitter(&mut s) % 60_000_000_000) as i64;
                    (e.event_time.nanos() + delay, e.clone())
                })
                .collect();
            jittered.sort_by_key(|(t, _)| *t);
            orders.push(("jittered", jittered.into_iter().map(|(_, e)| e).collect()));
        }
        for (order, arrival) in orders {
            let got = by_id(&stitch(arrival, StitchConfig::default()).0);
            let ids: Vec<&String> = got.keys().collect();
            let listed: Vec<&String> = want.keys().collect();
            assert_eq!(
                ids, listed,
                "{stem} ({order}): every record is expected, and only those"
            );
            for (id, a) in &got {
                let w = &want[id];
                let at = format!("{stem} ({order}) {id}: {}", a.basis);
                assert_eq!(a.instance.as_deref(), w["instance"].as_str(), "{at}");
                assert_eq!(a.root_instance.as_deref(), w["root"].as_str(), "{at}");
                assert_eq!(a.initiator.as_deref(), w["human"].as_str(), "{at}");
                assert_eq!(Some(u64::from(a.depth)), w["depth"].as_u64(), "{at}");
                if let Some(chain) = w.get("chain") {
                    let chain: Vec<&str> = chain
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|c| c.as_str())
                        .collect();
                    assert_eq!(a.chain, chain, "{at}");
                }
            }
        }
    }
}

#[test]
fn a_flood_of_distinct_instances_stays_under_the_caps() {
    let n: u64 = std::env::var("DELEGRAPH_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let template = decode(&[fixture("mcp/gateway.jsonl")]).remove(0);
    let cfg = StitchConfig {
        max_instances: 10_000,
        max_credentials: 10_000,
        max_spans: 10_000,
        max_sessions: 10_000,
        ..StitchConfig::default()
    };
    let mut s = Stitcher::new(cfg);
    let mut peak = 0;
    for i in 0..n {
        let mut e = template.clone();
        e.trace.session_id = Some(format!("flood-{i}"));
        e.agent.instance_id = Some(format!("instance-{i}"));
        e.credential_used.as_mut().unwrap().id = format!("tok-{i}");
        e.event_time = Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000);
        // The ids changed: state the hints again from them.
        delegraph_decode::relink(&mut e);
        s.attribute(&mut e);
        if i % 1024 == 0 {
            // As the pipeline does after each batch: evicted instances are
            // written out and let go.
            drop(s.drain_retired());
            peak = peak.max(s.entries());
        }
    }
    peak = peak.max(s.entries());
    assert!(peak <= 40_000, "state grew to {peak} entries");
    assert_eq!(s.instances().len(), 10_000);
    let st = s.stats();
    assert!(
        st.evicted_by_cap >= n - 10_000,
        "evictions not counted: {st:?}"
    );
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    eprintln!("flood of {n} instances: peak {peak} entries, {st:?}, peak RSS {hwm}");
}

#[test]
fn evicted_instances_stay_bounded_even_if_never_drained() {
    let template = decode(&[fixture("mcp/gateway.jsonl")]).remove(0);
    let cfg = StitchConfig {
        max_instances: 100,
        ..StitchConfig::default()
    };
    let mut s = Stitcher::new(cfg);
    for i in 0..10_000 {
        let mut e = template.clone();
        e.trace.session_id = Some(format!("s-{i}"));
        e.agent.instance_id = Some(format!("i-{i}"));
        delegraph_decode::relink(&mut e);
        s.attribute(&mut e);
    }
    assert_eq!(s.instances().len(), 100);
    assert!(s.instances().retired_dropped() >= 10_000 - 200);
    assert!(s.drain_retired().len() <= 100);
}

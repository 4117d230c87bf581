//! Instances (from the stitcher) as rows of the `agents` and `edges` tables.

use delegraph_graph::{EdgeKind, Instance, NodeKind};
use delegraph_store::{AgentRow, EdgeRow};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};

fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Human => "human",
        NodeKind::Instance => "instance",
        NodeKind::Credential => "credential",
        NodeKind::Tool => "tool",
        NodeKind::Resource => "resource",
        NodeKind::Approval => "approval",
        NodeKind::Decision => "decision",
    }
}

fn edge_name(k: EdgeKind) -> &'static str {
    match k {
        EdgeKind::Delegates => "delegates",
        EdgeKind::Uses => "uses",
        EdgeKind::Issued => "issued",
        EdgeKind::Calls => "calls",
        EdgeKind::Touches => "touches",
        EdgeKind::Approves => "approves",
        EdgeKind::Authorizes => "authorizes",
        EdgeKind::Requests => "requests",
    }
}

/// The `agents` row of an instance.
pub fn agent_row(i: &Instance) -> AgentRow {
    let labels = |kind: NodeKind| -> Vec<String> {
        let mut v: Vec<String> = i
            .graph
            .node_weights()
            .filter(|n| n.kind == kind)
            .map(|n| n.label.clone())
            .collect();
        v.sort();
        v
    };
    let mut sub_agents: Vec<String> = i
        .graph
        .edge_references()
        .filter(|e| e.weight().kind == EdgeKind::Delegates)
        .filter(|e| i.graph[e.source()].label == i.id)
        .map(|e| i.graph[e.target()].label.clone())
        .collect();
    sub_agents.sort();
    AgentRow {
        instance: i.id.clone(),
        root_instance: i.root.clone(),
        agent_id: i.agent_id.clone(),
        initiator: i.human.clone(),
        depth: i.depth,
        first_seen: i.first_seen,
        last_seen: i.last_seen,
        task_end: i.task_end,
        events: i.events,
        credentials: labels(NodeKind::Credential),
        tools: labels(NodeKind::Tool),
        resources: labels(NodeKind::Resource),
        sub_agents,
        envelopes: labels(NodeKind::Approval),
        decisions: labels(NodeKind::Decision),
    }
}

/// The `edges` rows of an instance, in a stable order.
pub fn edge_rows(i: &Instance) -> Vec<EdgeRow> {
    let mut rows: Vec<EdgeRow> = i
        .graph
        .edge_references()
        .map(|e| {
            let (a, b, w) = (&i.graph[e.source()], &i.graph[e.target()], e.weight());
            EdgeRow {
                instance: i.id.clone(),
                from_kind: kind_name(a.kind).into(),
                from: a.label.clone(),
                to_kind: kind_name(b.kind).into(),
                to: b.label.clone(),
                kind: edge_name(w.kind).into(),
                first_seen: w.first_seen,
                last_seen: w.last_seen,
                count: u64::from(w.count),
            }
        })
        .collect();
    rows.sort_by(|x, y| (&x.from, &x.to, &x.kind).cmp(&(&y.from, &y.to, &y.kind)));
    rows
}

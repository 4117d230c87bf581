//! The delegation chain of an instance drawn as SVG on the server, layered
//! left to right: human → approval → decision → instance → sub-agents (one
//! column per depth) → credential → tool → resource. Busy columns keep
//! their most active nodes and fold the rest into one "+N more" box;
//! parallel calls are one edge labelled "×N". Nodes the finding names
//! (its credential, or an id its summary or observation quotes) are
//! marked as the anomalous hop, and the finding's own instance as the
//! subject.
//!
//! Drawn here rather than in the browser so the page needs no script to
//! show it and the drawing can be checked as text.

use std::collections::{BTreeMap, BTreeSet};

use maud::{Markup, html};
use serde_json::Value;

/// Nodes one column shows before folding the rest.
const MAX_PER_COLUMN: usize = 10;
const COL_WIDTH: i64 = 200;
const BOX_WIDTH: i64 = 176;
const ROW_HEIGHT: i64 = 36;
const BOX_HEIGHT: i64 = 26;
/// Characters of a label shown; the full text is in the node's tooltip.
const LABEL_CHARS: usize = 24;

/// A graph to draw: nodes with their kind, edges with how often they were
/// used.
#[derive(Debug, Clone, Default)]
pub struct ChainGraph {
    /// Node id → kind (`human`, `approval`, `decision`, `instance`,
    /// `credential`, `tool`, `resource`).
    pub nodes: BTreeMap<String, String>,
    /// (from, to, edge name, events).
    pub edges: Vec<(String, String, String, u64)>,
}

impl ChainGraph {
    /// From the store's instance graph rows.
    pub fn from_rows(nodes: &BTreeMap<String, String>, edges: &[Value]) -> Self {
        let text = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
        Self {
            nodes: nodes.clone(),
            edges: edges
                .iter()
                .map(|r| {
                    (
                        text(r, "from_node"),
                        text(r, "to_node"),
                        text(r, "edge"),
                        r["events"].as_u64().unwrap_or(1),
                    )
                })
                .collect(),
        }
    }
}

/// Column of a kind, before instance depths are added.
fn base_column(kind: &str) -> usize {
    match kind {
        "human" => 0,
        "approval" => 1,
        "decision" => 2,
        "instance" => 3,
        // Instances take 3 + depth; the rest follow the deepest instance.
        _ => usize::MAX,
    }
}

fn tail_rank(kind: &str) -> usize {
    match kind {
        "credential" => 0,
        "tool" => 1,
        _ => 2,
    }
}

/// Depth of each instance below the instances no other instance points to.
fn instance_depths(g: &ChainGraph) -> BTreeMap<&str, usize> {
    let is_instance = |n: &str| g.nodes.get(n).is_some_and(|k| k == "instance");
    let mut depth: BTreeMap<&str, usize> = g
        .nodes
        .iter()
        .filter(|(_, k)| *k == "instance")
        .map(|(n, _)| (n.as_str(), 0))
        .collect();
    // Longest path by relaxation; a cycle stops after |nodes| rounds.
    for _ in 0..g.nodes.len() {
        let mut changed = false;
        for (from, to, _, _) in &g.edges {
            if is_instance(from) && is_instance(to) && from != to {
                let d = depth.get(from.as_str()).copied().unwrap_or(0) + 1;
                if depth.get(to.as_str()).is_some_and(|cur| *cur < d) {
                    depth.insert(to.as_str(), d);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

/// A placed node (or a fold of several).
struct Placed {
    x: i64,
    y: i64,
    label: String,
    title: String,
    kind: String,
    class: &'static str,
}

fn short(s: &str) -> String {
    let shown = delegraph_model::printable(s);
    if shown.chars().count() > LABEL_CHARS {
        let cut: String = shown.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        shown.into_owned()
    }
}

/// The SVG of `g`, marking `marked` nodes and the `subject` instance.
pub fn chain_svg(g: &ChainGraph, marked: &BTreeSet<String>, subject: Option<&str>) -> String {
    let depths = instance_depths(g);
    let deepest = depths.values().copied().max().unwrap_or(0);
    let column = |n: &str, kind: &str| match base_column(kind) {
        3 => 3 + depths.get(n).copied().unwrap_or(0),
        usize::MAX => 4 + deepest + tail_rank(kind),
        c => c,
    };
    // Activity per node, to keep the busiest when a column folds.
    let mut activity: BTreeMap<&str, u64> = BTreeMap::new();
    for (from, to, _, n) in &g.edges {
        *activity.entry(from).or_default() += n;
        *activity.entry(to).or_default() += n;
    }
    let mut columns: BTreeMap<usize, Vec<(&str, &str)>> = BTreeMap::new();
    for (n, kind) in &g.nodes {
        columns.entry(column(n, kind)).or_default().push((n, kind));
    }
    // Node id → index in `placed` (folded nodes point at their fold).
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut placed: Vec<Placed> = Vec::new();
    for (x_index, (_, members)) in columns.iter_mut().enumerate() {
        let x = i64::try_from(x_index).unwrap_or(0) * COL_WIDTH + 8;
        members.sort_by_key(|(n, _)| {
            (
                !marked.contains(*n) && Some(*n) != subject,
                std::cmp::Reverse(activity.get(n).copied().unwrap_or(0)),
                *n,
            )
        });
        let shown = if members.len() > MAX_PER_COLUMN {
            MAX_PER_COLUMN - 1
        } else {
            members.len()
        };
        for (row, (n, kind)) in members.iter().enumerate() {
            if row < shown {
                let class = if marked.contains(*n) {
                    "node mark"
                } else if Some(*n) == subject {
                    "node subject"
                } else {
                    "node"
                };
                at.insert(n, placed.len());
                placed.push(Placed {
                    x,
                    y: i64::try_from(row).unwrap_or(0) * ROW_HEIGHT + 28,
                    label: short(n),
                    title: format!("{kind}: {n}"),
                    kind: (*kind).to_owned(),
                    class,
                });
            } else {
                at.insert(n, placed.len());
            }
        }
        if members.len() > shown {
            let rest = members.len() - shown;
            placed.push(Placed {
                x,
                y: i64::try_from(shown).unwrap_or(0) * ROW_HEIGHT + 28,
                label: format!("+{rest} more"),
                title: format!("{rest} more not drawn"),
                kind: "more".into(),
                class: "node more",
            });
        }
    }
    // Edges between placed boxes, folded ones summed.
    let mut drawn: BTreeMap<(usize, usize), (u64, bool)> = BTreeMap::new();
    for (from, to, _, n) in &g.edges {
        if let (Some(a), Some(b)) = (at.get(from.as_str()), at.get(to.as_str()))
            && a != b
        {
            let e = drawn.entry((*a, *b)).or_default();
            e.0 += n;
            e.1 |= marked.contains(to) || marked.contains(from);
        }
    }
    let width = i64::try_from(columns.len().max(1)).unwrap_or(1) * COL_WIDTH + 16;
    let rows = columns
        .values()
        .map(|m| m.len().min(MAX_PER_COLUMN))
        .max()
        .unwrap_or(1);
    let height = i64::try_from(rows).unwrap_or(1) * ROW_HEIGHT + 40;
    let svg: Markup = html! {
        svg.chain xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) role="img" aria-label="Delegation chain" {
            @for ((a, b), (n, hot)) in &drawn {
                @let (p, q) = (&placed[*a], &placed[*b]);
                @let (x1, y1) = (p.x + BOX_WIDTH, p.y + BOX_HEIGHT / 2);
                @let (x2, y2) = (q.x, q.y + BOX_HEIGHT / 2);
                g class=(if *hot { "edge mark" } else { "edge" }) {
                    line x1=(x1) y1=(y1) x2=(x2) y2=(y2) {}
                    @if *n > 1 {
                        text.count x=((x1 + x2) / 2) y=((y1 + y2) / 2 - 3) { "×" (n) }
                    }
                }
            }
            @for p in &placed {
                g class=(p.class) data-kind=(p.kind) {
                    title { (p.title) }
                    rect x=(p.x) y=(p.y) width=(BOX_WIDTH) height=(BOX_HEIGHT) rx="5" {}
                    text x=(p.x + 8) y=(p.y + 17) { (p.label) }
                }
            }
        }
    };
    svg.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(tools: usize) -> ChainGraph {
        let mut g = ChainGraph::default();
        let mut node = |id: &str, kind: &str| {
            g.nodes.insert(id.to_owned(), kind.to_owned());
        };
        node("ana@example.com", "human");
        node("root", "instance");
        node("child", "instance");
        node("AKIA1", "credential");
        for t in 0..tools {
            node(&format!("tool-{t:03}"), "tool");
        }
        let mut edges = vec![
            (
                "ana@example.com".into(),
                "root".into(),
                "delegates".into(),
                1,
            ),
            ("root".into(), "child".into(), "spawns".into(), 1),
            ("child".into(), "AKIA1".into(), "uses".into(), 3),
        ];
        for t in 0..tools {
            edges.push((
                "AKIA1".into(),
                format!("tool-{t:03}"),
                "calls".into(),
                1 + t as u64 % 4,
            ));
        }
        g.edges = edges;
        g
    }

    #[test]
    fn layers_follow_the_chain_and_depth() {
        let svg = chain_svg(
            &graph(2),
            &BTreeSet::from(["AKIA1".to_owned()]),
            Some("child"),
        );
        let x_of = |label: &str| {
            let at = svg.find(&format!(">{label}</text>")).unwrap();
            let rect = svg[..at].rfind("<rect x=\"").unwrap();
            svg[rect + 9..]
                .split('"')
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        };
        assert!(x_of("ana@example.com") < x_of("root"));
        assert!(
            x_of("root") < x_of("child"),
            "a sub-agent sits right of its parent"
        );
        assert!(x_of("child") < x_of("AKIA1"));
        assert!(x_of("AKIA1") < x_of("tool-000"));
        assert!(svg.contains("class=\"node mark\""), "{svg}");
        assert!(svg.contains("class=\"node subject\""), "{svg}");
        assert!(svg.contains("×3"), "{svg}");
    }

    #[test]
    fn two_hundred_tool_calls_fold_into_one_box() {
        let svg = chain_svg(&graph(200), &BTreeSet::new(), None);
        assert!(svg.contains("+191 more"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 4 + 9 + 1);
        // Height stays that of one full column.
        assert!(svg.contains(&format!("height=\"{}\"", 10 * ROW_HEIGHT + 40)));
    }

    #[test]
    fn labels_are_escaped_text() {
        let mut g = graph(0);
        g.nodes
            .insert("<script>alert(1)</script>".into(), "resource".into());
        let svg = chain_svg(&g, &BTreeSet::new(), None);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
    }
}

//! A rule's named detections and condition, compiled.

use std::collections::HashMap;

use rsigma_parser::{
    ConditionExpr, Detection, Quantifier, SelectorPattern, detection_name_matches,
};

use crate::fields::{EventView, FieldRef};
use crate::matcher::{CompileError, Item};

/// A named detection (`selection`, `filter_main`, keywords).
#[derive(Debug, Clone)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Item(Item),
}

/// A condition over the detections, by index.
#[derive(Debug, Clone)]
enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Ref(usize),
    /// At least `n` of these detections.
    AtLeast(usize, Vec<usize>),
}

/// A rule's detection logic, ready to run.
#[derive(Debug, Clone)]
pub struct Logic {
    nodes: Vec<Node>,
    conditions: Vec<Cond>,
}

impl Logic {
    /// Compile named detections and conditions; errors name the detection.
    pub fn compile(
        named: &HashMap<String, Detection>,
        conditions: &[ConditionExpr],
    ) -> Result<Self, CompileError> {
        let mut names: Vec<&String> = named.keys().collect();
        names.sort();
        let mut nodes = Vec::with_capacity(names.len());
        for name in &names {
            let node = compile_detection(&named[*name]).map_err(|e| format!("{name}: {e}"))?;
            nodes.push(node);
        }
        let conditions = conditions
            .iter()
            .map(|c| compile_condition(c, &names))
            .collect::<Result<Vec<_>, _>>()?;
        if conditions.is_empty() {
            return Err("no condition".into());
        }
        Ok(Self { nodes, conditions })
    }

    /// Whether the event satisfies any of the rule's conditions.
    pub fn matches(&self, ev: &EventView<'_>) -> bool {
        let mut memo = vec![None; self.nodes.len()];
        self.conditions
            .iter()
            .any(|c| eval(c, &self.nodes, ev, &mut memo))
    }

    /// A field and values one of which the event must have for the rule to
    /// match (exact, case-insensitive), when the condition implies one.
    pub fn anchor(&self) -> Option<(&FieldRef, Vec<&str>)> {
        match self.conditions.as_slice() {
            [only] => anchor(only, &self.nodes),
            _ => None,
        }
    }
}

fn compile_detection(d: &Detection) -> Result<Node, CompileError> {
    Ok(match d {
        Detection::AllOf(items) => Node::All(
            items
                .iter()
                .map(|i| Item::compile(i).map(Node::Item))
                .collect::<Result<_, _>>()?,
        ),
        Detection::AnyOf(subs) => Node::Any(
            subs.iter()
                .map(compile_detection)
                .collect::<Result<_, _>>()?,
        ),
        Detection::And(subs) => Node::All(
            subs.iter()
                .map(compile_detection)
                .collect::<Result<_, _>>()?,
        ),
        Detection::Keywords(values) => {
            let item = rsigma_parser::DetectionItem {
                field: rsigma_parser::FieldSpec {
                    name: None,
                    modifiers: vec![rsigma_parser::Modifier::Contains],
                },
                values: values.clone(),
            };
            Node::Item(Item::compile(&item)?)
        }
        Detection::ArrayMatch { field, .. } => {
            return Err(format!(
                "array object-scope block `{field}[...]` is not supported; match the list's values directly"
            ));
        }
        Detection::Conditional { .. } => {
            return Err("element-scoped conditions are not supported".into());
        }
    })
}

fn compile_condition(c: &ConditionExpr, names: &[&String]) -> Result<Cond, CompileError> {
    let index = |n: &str| {
        names
            .iter()
            .position(|x| x.as_str() == n)
            .ok_or_else(|| format!("condition names `{n}`, which is not a detection"))
    };
    Ok(match c {
        ConditionExpr::And(xs) => Cond::And(
            xs.iter()
                .map(|x| compile_condition(x, names))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Or(xs) => Cond::Or(
            xs.iter()
                .map(|x| compile_condition(x, names))
                .collect::<Result<_, _>>()?,
        ),
        ConditionExpr::Not(x) => Cond::Not(Box::new(compile_condition(x, names)?)),
        ConditionExpr::Identifier(n) => Cond::Ref(index(n)?),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let picked: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| match pattern {
                    // `them` leaves out names starting with an underscore.
                    SelectorPattern::Them => !n.starts_with('_'),
                    SelectorPattern::Pattern(p) => detection_name_matches(p, n),
                })
                .map(|(i, _)| i)
                .collect();
            if picked.is_empty() {
                return Err(format!("`{c}` selects no detection"));
            }
            let n = match quantifier {
                Quantifier::Any => 1,
                Quantifier::All => picked.len(),
                Quantifier::Count(n) => *n as usize,
            };
            Cond::AtLeast(n, picked)
        }
    })
}

fn eval_node(n: &Node, ev: &EventView<'_>) -> bool {
    match n {
        Node::All(xs) => xs.iter().all(|x| eval_node(x, ev)),
        Node::Any(xs) => xs.iter().any(|x| eval_node(x, ev)),
        Node::Item(i) => i.matches(ev),
    }
}

fn eval(c: &Cond, nodes: &[Node], ev: &EventView<'_>, memo: &mut [Option<bool>]) -> bool {
    let get = |i: usize, memo: &mut [Option<bool>]| match memo[i] {
        Some(v) => v,
        None => {
            let v = eval_node(&nodes[i], ev);
            memo[i] = Some(v);
            v
        }
    };
    match c {
        Cond::And(xs) => xs.iter().all(|x| eval(x, nodes, ev, memo)),
        Cond::Or(xs) => xs.iter().any(|x| eval(x, nodes, ev, memo)),
        Cond::Not(x) => !eval(x, nodes, ev, memo),
        Cond::Ref(i) => get(*i, memo),
        Cond::AtLeast(n, xs) => {
            let mut hits = 0;
            for (k, i) in xs.iter().enumerate() {
                if get(*i, memo) {
                    hits += 1;
                }
                if hits >= *n {
                    return true;
                }
                if hits + (xs.len() - k - 1) < *n {
                    return false;
                }
            }
            hits >= *n
        }
    }
}

/// An exact-value requirement implied by the condition.
fn anchor<'a>(c: &Cond, nodes: &'a [Node]) -> Option<(&'a FieldRef, Vec<&'a str>)> {
    match c {
        Cond::Ref(i) => node_anchor(&nodes[*i]),
        Cond::And(xs) => xs.iter().find_map(|x| anchor(x, nodes)),
        Cond::AtLeast(n, xs) if *n == xs.len() => xs.iter().find_map(|i| node_anchor(&nodes[*i])),
        _ => None,
    }
}

fn node_anchor(n: &Node) -> Option<(&FieldRef, Vec<&str>)> {
    match n {
        Node::Item(i) => i.exact_values(),
        Node::All(xs) => xs.iter().find_map(node_anchor),
        Node::Any(_) => None,
    }
}

//! The delegation chain an attribution reads, root first: the human, the
//! approval between them and the instance, then the instances.

use delegraph_model::{Approval, NormEvent};

use crate::binding::Binding;

/// The human and chain of a record of instance `b`. On a binding shared by
/// a whole principal (or one that knows no human), the human the record
/// itself names is the one.
pub(crate) fn initiator_and_chain(e: &NormEvent, b: &Binding) -> (Option<String>, Vec<String>) {
    match &e.on_behalf_of {
        Some(h) if (b.per_principal || b.human.is_none()) && b.human.as_deref() != Some(h) => {
            let skip = usize::from(b.human.is_some());
            let mut chain = vec![h.clone()];
            chain.extend(b.chain.iter().skip(skip).map(|id| String::from(&**id)));
            (Some(h.clone()), chain)
        }
        _ => (
            b.human.as_deref().map(str::to_owned),
            b.chain.iter().map(|id| String::from(&**id)).collect(),
        ),
    }
}

/// The chain with the approval between the human and the instance:
/// human → approver (when another person) → envelope → decision → instances.
pub(crate) fn with_approval(chain: Vec<String>, human: Option<&str>, a: &Approval) -> Vec<String> {
    let split = usize::from(human.is_some() && chain.first().map(String::as_str) == human);
    let mut out = Vec::with_capacity(chain.len() + 3);
    let mut rest = chain.into_iter();
    out.extend(rest.by_ref().take(split));
    if let Some(by) = &a.approved_by
        && Some(by.as_str()) != human
    {
        out.push(by.clone());
    }
    if let Some(env) = &a.envelope_id {
        out.push(["envelope:", env].concat());
    }
    if let Some(d) = &a.decision_id {
        out.push(["decision:", d].concat());
    }
    out.extend(rest);
    out
}

/// The instances an approval may come from, nearest first: the instance,
/// those it was delegated from, its root.
pub(crate) fn lineage(b: &Binding) -> Vec<&str> {
    let mut lineage: Vec<&str> = vec![&b.instance];
    lineage.extend(b.chain.iter().rev().map(|id| &**id));
    lineage.push(&b.root);
    lineage
}

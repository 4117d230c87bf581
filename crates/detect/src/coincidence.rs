//! Who is really using a credential whose instance has finished?
//!
//! IAM logs name only a credential's owner. When the owner's task has
//! ended and the credential is still used, the calls are matched in time
//! against the tool calls of the agent's other instances: an instance whose
//! tool calls coincide (within a second of the span) with three or more such
//! uses is acting with the borrowed credential.

use std::collections::VecDeque;

use delegraph_model::Bounded;
use delegraph_model::Evidence;
use serde::{Deserialize, Serialize};

const SECOND: i64 = 1_000_000_000;
/// Slack around a tool span (IAM logs keep whole seconds).
const SLACK: i64 = SECOND;
/// How long uses and calls wait for a partner (event time).
const HORIZON: i64 = 30 * SECOND;
/// Most entries per ring.
const MAX_RING: usize = 512;
/// Coinciding uses needed before a match is believed.
pub const MIN_MATCHES: u32 = 3;

/// A tool call of some instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ToolUse {
    start: i64,
    end: i64,
    root: String,
    evidence: Evidence,
}

/// A use of a credential after its owner's task ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrphanUse {
    at: i64,
    credential: String,
    owner: String,
    evidence: Evidence,
}

/// A credential use matched to another instance's tool call.
#[derive(Debug, Clone)]
pub struct Match {
    /// The instance that appears to use the credential.
    pub user: String,
    /// The credential.
    pub credential: String,
    /// Its owner (whose task ended).
    pub owner: String,
    /// The credential use and the coinciding tool call.
    pub evidence: [Evidence; 2],
    /// Coinciding uses so far.
    pub count: u32,
}

/// Per-agent rings of recent tool calls and orphaned credential uses.
#[derive(Debug, Serialize, Deserialize)]
pub struct Coincidences {
    tools: std::collections::BTreeMap<String, VecDeque<ToolUse>>,
    orphans: std::collections::BTreeMap<String, VecDeque<OrphanUse>>,
    counts: Bounded<u32>,
}

fn prune<T>(ring: &mut VecDeque<T>, now: i64, at: impl Fn(&T) -> i64) {
    while ring.front().is_some_and(|x| at(x) < now - HORIZON) || ring.len() > MAX_RING {
        ring.pop_front();
    }
}

impl Coincidences {
    /// Empty rings.
    pub fn new() -> Self {
        Self {
            tools: Default::default(),
            orphans: Default::default(),
            counts: Bounded::new(100_000),
        }
    }

    fn bump(&mut self, user: &str, o: &OrphanUse, tool: &Evidence) -> Match {
        let key = format!("{}\0{user}", o.credential);
        let n = self.counts.peek(&key).copied().unwrap_or(0) + 1;
        self.counts.put(key, n);
        Match {
            user: user.to_owned(),
            credential: o.credential.clone(),
            owner: o.owner.clone(),
            evidence: [o.evidence.clone(), tool.clone()],
            count: n,
        }
    }

    /// A tool call by `root` (an instance of `agent`) spanning `start..end`.
    pub fn tool_call(
        &mut self,
        agent: &str,
        root: &str,
        start: i64,
        end: i64,
        evidence: Evidence,
    ) -> Vec<Match> {
        let orphans: Vec<OrphanUse> = self
            .orphans
            .get(agent)
            .into_iter()
            .flatten()
            .filter(|o| o.owner != root && o.at >= start - SLACK && o.at <= end + SLACK)
            .cloned()
            .collect();
        let found = orphans
            .iter()
            .map(|o| self.bump(root, o, &evidence))
            .collect();
        let ring = self.tools.entry(agent.to_owned()).or_default();
        ring.push_back(ToolUse {
            start,
            end,
            root: root.to_owned(),
            evidence,
        });
        prune(ring, start, |x| x.end);
        found
    }

    /// A use at `at` of `credential`, owned by the finished instance `owner`.
    pub fn orphan_use(
        &mut self,
        agent: &str,
        owner: &str,
        credential: &str,
        at: i64,
        evidence: Evidence,
    ) -> Vec<Match> {
        let o = OrphanUse {
            at,
            credential: credential.to_owned(),
            owner: owner.to_owned(),
            evidence,
        };
        let tools: Vec<ToolUse> = self
            .tools
            .get(agent)
            .into_iter()
            .flatten()
            .filter(|t| t.root != owner && at >= t.start - SLACK && at <= t.end + SLACK)
            .cloned()
            .collect();
        let found = tools
            .iter()
            .map(|t| self.bump(&t.root, &o, &t.evidence))
            .collect();
        let ring = self.orphans.entry(agent.to_owned()).or_default();
        ring.push_back(o);
        prune(ring, at, |x| x.at);
        found
    }
}

impl Default for Coincidences {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> Evidence {
        Evidence {
            event_id: id.into(),
            origin: "t".into(),
        }
    }

    #[test]
    fn uses_match_tool_calls_from_either_side() {
        let mut c = Coincidences::new();
        // The use arrives before the span (whole-second IAM time).
        assert!(
            c.orphan_use("a", "A", "K", 10 * SECOND, ev("u1"))
                .is_empty()
        );
        let m = c.tool_call("a", "B", 10 * SECOND + 300_000_000, 11 * SECOND, ev("s1"));
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].user.as_str(), m[0].count), ("B", 1));
        // And after it.
        c.tool_call("a", "B", 20 * SECOND, 21 * SECOND, ev("s2"));
        let m = c.orphan_use("a", "A", "K", 20 * SECOND + 400_000_000, ev("u2"));
        assert_eq!(m[0].count, 2);
        // The owner's own calls and far-apart calls never match.
        assert!(
            c.tool_call("a", "A", 20 * SECOND, 21 * SECOND, ev("s3"))
                .is_empty()
        );
        assert!(
            c.orphan_use("a", "A", "K", 90 * SECOND, ev("u3"))
                .is_empty()
        );
    }
}

//! `delegraph simulate`: realistic multi-source logs in the vendors' own
//! formats, with a ground-truth file, deterministic for a seed.
//!
//! A population of humans starts tasks with several kinds of agents. Each
//! task is one agent instance: an OTel GenAI trace (root `invoke_agent`,
//! `execute_tool` spans, sometimes sub-agents), an AWS role session the
//! agent runtime assumes for it (`roleSessionName` = instance id,
//! `sourceIdentity` = human) and the CloudTrail calls its tools make, MCP
//! gateway lines for tools behind the gateway (with `traceparent`), GitHub
//! agent events for coding agents, and Okta token grants. The platform of
//! most agent kinds also records approvals: a task envelope the human
//! approved and an OPA decision before every tool call (see `approvals`).
//! CloudTrail is written in delivery order (minutes late), as it arrives.
//! A fraction of
//! instances misbehave in labelled ways (see [`Scenario`]).

mod agents;
mod approvals;
mod aws;
mod chain;
mod credentials;
mod emit;
mod ids;
mod inject;
mod logs;
mod population;
mod scenario;
mod task;
mod tools;
mod world;

pub use scenario::Scenario;
pub use world::{DEFAULT_START, SimConfig, SimSummary, simulate};

/// Writing the simulated files failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SimError {
    /// The file being written.
    pub path: String,
    /// The OS error.
    pub source: std::io::Error,
}

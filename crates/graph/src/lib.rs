//! Identity resolution and per-instance delegation graphs.
//!
//! Pure logic, no I/O: events go in (in event-time order, via
//! [`ReorderBuffer`]), come out with an [`Attribution`](delegraph_model::Attribution),
//! and each agent instance keeps a petgraph graph of the human, instances,
//! credentials, tools and resources it involved. All state is bounded.
//!
//! The graph knows no log format: decoders state how a record ties to an
//! instance as [`LinkHints`](delegraph_model::LinkHints) and the stitcher
//! resolves those. Modules import one another, never this root, so the
//! files form no import cycle.

mod approval;
mod binding;
mod chain;
mod config;
mod index;
mod index_saved;
mod instance;
mod inventory;
mod issue;
mod reorder;
mod resolve;
mod stitcher;

pub use config::StitchConfig;
pub use instance::{
    Edge, EdgeKind, Instance, InstanceTable, MAX_NODES_PER_INSTANCE, Node, NodeKind,
};
pub use inventory::{Inventory, InventoryAgent, wildcard};
pub use reorder::ReorderBuffer;
pub use stitcher::{StateError, StitchStats, Stitcher};

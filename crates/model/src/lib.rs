//! The normalized audit event: the one shape every log format is decoded into.
//!
//! Every other crate speaks in these types, so they carry no I/O, no async and
//! no storage concerns. Field names follow OCSF (API Activity, Authentication)
//! where a field has an OCSF counterpart.

mod analyzer;
mod approval;
mod bounded;
mod event;
mod finding;
mod hint;
mod kinds;
mod link;
mod offset;
mod origin;
mod packed;
mod packed_bounded;
mod printable;
mod time;
mod triage;

pub use analyzer::{
    AgentContext, Analyzer, AnalyzerId, AnalyzerStateError, AnalyzerStats, AttributedEvent,
    EventSignals, ValueOrigin,
};
pub use approval::{
    Approval, Breach, EnvelopeChange, EnvelopeEvent, PolicyDecision, PolicyEngine, TaskEnvelope,
};
pub use bounded::{Bounded, load_lru, lru_entries, new_lru};
pub use event::{
    AgentRef, Attribution, Credential, NormEvent, Principal, RawText, Resource, ToolRef,
    TraceContext,
};
pub use finding::{Evidence, Finding, Severity, finding_id};
pub use hint::{Bind, HintText, LinkHints, Resolve, SessionIssue};
pub use kinds::{ActorKind, Category, CredentialKind, Outcome, Source};
pub use link::Link;
pub use offset::PartitionOffset;
pub use origin::Origin;
pub use packed::{IDLE_ROUNDS_BEFORE_PACKING, Packable, Seen, rounds_before_packing};
pub use packed_bounded::PackedBounded;
pub use printable::printable;
pub use time::{Timestamp, TimestampError};
pub use triage::{
    ActivityEntry, Disposition, MAX_ASSIGNEE_CHARS, MAX_NOTE_CHARS, TriageChange, TriageError,
    TriageState, TriageStatus, TriageTarget, Verdict,
};
mod dead_letter;
pub use dead_letter::DeadLetter;

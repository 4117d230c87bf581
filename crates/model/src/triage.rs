//! A finding's triage: where it is in the analyst's workflow (status) kept
//! apart from what it turned out to be (disposition), who holds it, and
//! every change as an append-only activity entry.
//!
//! Status and disposition are separate because tools that merge them
//! ("closed-false-positive") lose the difference between "done" and "we
//! were wrong", which is what detection engineers tune on.

use serde::{Deserialize, Serialize};

/// Where a finding is in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriageStatus {
    /// Nobody has looked at it yet.
    #[default]
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Done, with a disposition.
    Closed,
}

impl TriageStatus {
    /// Every status, in workflow order.
    pub const ALL: [TriageStatus; 3] = [Self::Open, Self::Acknowledged, Self::Closed];

    /// Stable name for tables, filters and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Closed => "closed",
        }
    }

    /// Inverse of [`TriageStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a closed finding turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Real misuse or compromise.
    TruePositive,
    /// The detector was right, and the activity was allowed.
    BenignPositive,
    /// The detector's logic was wrong for this case.
    FalsePositiveLogic,
    /// The input data was wrong (a broken log, a mis-attribution).
    FalsePositiveData,
    /// Another finding covers it.
    Duplicate,
    /// Could not be decided.
    Undetermined,
}

impl Disposition {
    /// Every disposition.
    pub const ALL: [Disposition; 6] = [
        Self::TruePositive,
        Self::BenignPositive,
        Self::FalsePositiveLogic,
        Self::FalsePositiveData,
        Self::Duplicate,
        Self::Undetermined,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TruePositive => "true_positive",
            Self::BenignPositive => "benign_positive",
            Self::FalsePositiveLogic => "false_positive_logic",
            Self::FalsePositiveData => "false_positive_data",
            Self::Duplicate => "duplicate",
            Self::Undetermined => "undetermined",
        }
    }

    /// Inverse of [`Disposition::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether closing with it needs a note: a benign or false positive
    /// tunes detection, and whoever tunes wants to know why.
    pub fn needs_note(self) -> bool {
        matches!(
            self,
            Self::BenignPositive | Self::FalsePositiveLogic | Self::FalsePositiveData
        )
    }

    /// Whether it counts as a false positive in the per-detector ratio.
    pub fn is_false_positive(self) -> bool {
        matches!(self, Self::FalsePositiveLogic | Self::FalsePositiveData)
    }
}

/// A finding's triage state now (the state an untouched finding has is
/// the default: open, nobody).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageState {
    /// Workflow status.
    pub status: TriageStatus,
    /// Set when closed; cleared on reopen.
    pub disposition: Option<Disposition>,
    /// Who holds it (a token name or any analyst's name).
    pub assignee: Option<String>,
}

/// What a caller asks to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageChange {
    /// New status (`open` reopens a closed finding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TriageStatus>,
    /// Required when closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// New holder; an empty string unassigns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// A note, kept in the activity log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Longest note.
pub const MAX_NOTE_CHARS: usize = 8192;
/// Longest assignee name.
pub const MAX_ASSIGNEE_CHARS: usize = 128;

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriageError {
    /// The change says nothing.
    #[error("nothing to change: give a status, disposition, assignee or note")]
    Empty,
    /// Closing needs a disposition.
    #[error("closing needs a disposition ({})", dispositions())]
    NoDisposition,
    /// A disposition outside closing.
    #[error("a disposition is given only when closing")]
    DispositionWithoutClose,
    /// Benign and false positives need a note.
    #[error("closing as {0} needs a note saying why")]
    NoteRequired(&'static str),
    /// Already in that status.
    #[error("the finding is already {0}")]
    Unchanged(&'static str),
    /// A closed finding changes only by reopening.
    #[error("the finding is closed; reopen it (status open) first")]
    Closed,
    /// Too long.
    #[error("{0} is longer than {1} characters")]
    TooLong(&'static str, usize),
}

fn dispositions() -> String {
    Disposition::ALL.map(Disposition::as_str).join(", ")
}

impl TriageChange {
    /// Check the change by itself (lengths, note rules), before any state.
    pub fn check(&self) -> Result<(), TriageError> {
        if self.status.is_none()
            && self.disposition.is_none()
            && self.assignee.is_none()
            && self.note.is_none()
        {
            return Err(TriageError::Empty);
        }
        if let Some(n) = &self.note
            && n.chars().count() > MAX_NOTE_CHARS
        {
            return Err(TriageError::TooLong("note", MAX_NOTE_CHARS));
        }
        if let Some(a) = &self.assignee
            && a.chars().count() > MAX_ASSIGNEE_CHARS
        {
            return Err(TriageError::TooLong("assignee", MAX_ASSIGNEE_CHARS));
        }
        match (self.status, self.disposition) {
            (Some(TriageStatus::Closed), None) => return Err(TriageError::NoDisposition),
            (Some(TriageStatus::Closed), Some(d)) if d.needs_note() && !self.has_note() => {
                return Err(TriageError::NoteRequired(d.as_str()));
            }
            (Some(TriageStatus::Closed), Some(_)) => {}
            (_, Some(_)) => return Err(TriageError::DispositionWithoutClose),
            _ => {}
        }
        Ok(())
    }

    fn has_note(&self) -> bool {
        self.note.as_deref().is_some_and(|n| !n.trim().is_empty())
    }

    /// The state after this change, or why it does not apply to `now`.
    /// A note alone applies in any status.
    pub fn apply(&self, now: &TriageState) -> Result<TriageState, TriageError> {
        self.check()?;
        self.transition(now)
    }

    /// [`TriageChange::apply`] for a change already [`check`](Self::check)ed:
    /// a bulk change checks once, then moves each finding.
    pub fn transition(&self, now: &TriageState) -> Result<TriageState, TriageError> {
        let mut next = now.clone();
        if let Some(status) = self.status {
            if status == now.status {
                return Err(TriageError::Unchanged(status.as_str()));
            }
            if now.status == TriageStatus::Closed && status != TriageStatus::Open {
                return Err(TriageError::Closed);
            }
            next.status = status;
            next.disposition = self.disposition;
        } else if now.status == TriageStatus::Closed && self.assignee.is_some() {
            return Err(TriageError::Closed);
        }
        if let Some(a) = &self.assignee {
            next.assignee = Some(a.trim().to_owned()).filter(|a| !a.is_empty());
        }
        Ok(next)
    }

    /// The activity entry's action: what kind of change this was.
    pub fn action(&self, before: &TriageState) -> &'static str {
        match self.status {
            Some(TriageStatus::Acknowledged) => "acknowledge",
            Some(TriageStatus::Closed) => "close",
            Some(TriageStatus::Open) if before.status == TriageStatus::Closed => "reopen",
            Some(TriageStatus::Open) => "unacknowledge",
            None if self.assignee.is_some() => "assign",
            None => "note",
        }
    }
}

/// One change to one finding, as appended to the activity log. It holds
/// the state after the change, so the current state is the latest entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// Order of the change in the store (unique, increasing).
    pub seq: u64,
    /// The finding.
    pub finding_id: String,
    /// Wall-clock time of the change (ns since the epoch).
    pub at: i64,
    /// Who made it (the token's name).
    pub actor: String,
    /// `acknowledge`, `close`, `reopen`, `unacknowledge`, `assign`, `note`.
    pub action: String,
    /// State after the change.
    pub state: TriageState,
    /// The note given with it.
    pub note: Option<String>,
    /// How it was made: `single`, `bulk`, or `silence:<id>`.
    pub via: String,
    /// The finding's agent instance, when it has one: what a verdict
    /// teaches the detectors about (see [`Verdict`]).
    pub agent_instance: Option<String>,
}

impl ActivityEntry {
    /// What this change teaches the analyzers: a close as benign or as a
    /// true positive of a finding that has an instance.
    pub fn verdict(&self) -> Option<Verdict> {
        let disposition = self.state.disposition?;
        let teaches = matches!(
            disposition,
            Disposition::BenignPositive | Disposition::TruePositive
        );
        if self.state.status != TriageStatus::Closed || self.action != "close" || !teaches {
            return None;
        }
        Some(Verdict {
            seq: self.seq,
            finding_id: self.finding_id.clone(),
            agent_instance: self.agent_instance.clone()?,
            disposition,
        })
    }
}

/// A finding a triage change is applied to, with the instance the
/// activity log records for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageTarget {
    /// The finding.
    pub finding_id: String,
    /// Its agent instance, if it has one.
    pub agent_instance: Option<String>,
}

/// An analyst's verdict on one finding of an agent instance, as analyzers
/// learn from it ([`crate::Analyzer::verdict`]): the detectors learn an
/// instance they held back when one of its findings is closed as benign,
/// and never learn it after a true-positive close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The activity entry's sequence number: verdicts arrive in this
    /// order, and the same one may arrive again after a restart.
    pub seq: u64,
    /// The finding closed.
    pub finding_id: String,
    /// Its instance.
    pub agent_instance: String,
    /// `benign_positive` or `true_positive`.
    pub disposition: Disposition,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(status: Option<TriageStatus>, d: Option<Disposition>, note: &str) -> TriageChange {
        TriageChange {
            status,
            disposition: d,
            assignee: None,
            note: Some(note.to_owned()).filter(|n| !n.is_empty()),
        }
    }

    #[test]
    fn lifecycle_open_ack_close_reopen() {
        let open = TriageState::default();
        let ack = change(Some(TriageStatus::Acknowledged), None, "")
            .apply(&open)
            .unwrap();
        assert_eq!(ack.status, TriageStatus::Acknowledged);
        let close = change(
            Some(TriageStatus::Closed),
            Some(Disposition::FalsePositiveLogic),
            "known batch job",
        );
        let closed = close.apply(&ack).unwrap();
        assert_eq!(closed.disposition, Some(Disposition::FalsePositiveLogic));
        assert_eq!(close.action(&ack), "close");
        // Closed changes only by reopening; reopening clears the disposition.
        assert_eq!(
            change(Some(TriageStatus::Acknowledged), None, "").apply(&closed),
            Err(TriageError::Closed)
        );
        let reopen = change(Some(TriageStatus::Open), None, "");
        assert_eq!(reopen.action(&closed), "reopen");
        let reopened = reopen.apply(&closed).unwrap();
        assert_eq!(reopened, TriageState::default());
    }

    #[test]
    fn closing_rules() {
        let open = TriageState::default();
        let no_d = change(Some(TriageStatus::Closed), None, "x");
        assert_eq!(no_d.apply(&open), Err(TriageError::NoDisposition));
        let fp = change(
            Some(TriageStatus::Closed),
            Some(Disposition::BenignPositive),
            "  ",
        );
        assert_eq!(
            fp.apply(&open),
            Err(TriageError::NoteRequired("benign_positive"))
        );
        let tp = change(
            Some(TriageStatus::Closed),
            Some(Disposition::TruePositive),
            "",
        );
        assert!(tp.apply(&open).is_ok());
        let stray = change(None, Some(Disposition::Duplicate), "");
        assert_eq!(
            stray.apply(&open),
            Err(TriageError::DispositionWithoutClose)
        );
        assert_eq!(
            change(Some(TriageStatus::Open), None, "").apply(&open),
            Err(TriageError::Unchanged("open"))
        );
        assert_eq!(TriageChange::default().check(), Err(TriageError::Empty));
    }

    #[test]
    fn assignment_and_notes() {
        let open = TriageState::default();
        let mut take = TriageChange {
            assignee: Some(" ana ".into()),
            ..Default::default()
        };
        let held = take.apply(&open).unwrap();
        assert_eq!(held.assignee.as_deref(), Some("ana"));
        assert_eq!(take.action(&open), "assign");
        take.assignee = Some(String::new());
        assert_eq!(take.apply(&held).unwrap().assignee, None);
        let note = change(None, None, "looked at it");
        assert_eq!(note.apply(&held).unwrap(), held);
        assert_eq!(note.action(&held), "note");
        for s in TriageStatus::ALL {
            assert_eq!(TriageStatus::parse(s.as_str()), Some(s));
        }
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
        }
    }
}

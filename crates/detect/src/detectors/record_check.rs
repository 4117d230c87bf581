//! A check of an instance's behaviour record alone: made whenever an event
//! changed what it reads, and once more when the instance closes, until it
//! raises its one finding for the instance. Such a detector keeps no state
//! of its own, so it is a registry line, not a type.

use super::Ctx;
use crate::DetectorId;
use crate::detector::{CloseCx, Detector, EventCx, Signal, state_codec};
use crate::instance::Changed;

pub(crate) struct RecordCheck {
    pub id: DetectorId,
    /// Whether an event's changes touch what the check reads.
    pub reads: fn(Changed) -> bool,
    pub check: fn(&Ctx<'_>) -> Option<Signal>,
}

impl Detector for RecordCheck {
    fn id(&self) -> DetectorId {
        self.id
    }

    fn observe(&mut self, cx: &EventCx<'_>, out: &mut Vec<Signal>) {
        if cx.is_open && (self.reads)(cx.changed) && !cx.raised(self.id) {
            out.extend((self.check)(&cx.ctx()));
        }
    }

    fn close(&mut self, cx: &CloseCx<'_>, out: &mut Vec<Signal>) {
        if !cx.raised(self.id) {
            out.extend((self.check)(&cx.ctx()));
        }
    }

    state_codec!();
}

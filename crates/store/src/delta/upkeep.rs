//! The store's upkeep as one policy: compaction of closed days, retention
//! per table, VACUUM. `serve` runs it on a timer; `delegraph store`
//! runs its parts on demand.

use std::path::Path;
use std::time::Duration;

use super::{compact_closed_days, expire_days_before, newest_day, vacuum};
use crate::{CURRENT_TABLES, StoreError, TABLES};

const HOUR: Duration = Duration::from_secs(3600);
const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// How the tables are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    /// A day is closed (compacted) once it ended this long ago: longer
    /// than any event may arrive late.
    pub closed_after: Duration,
    /// Files removed from a table are deleted after this long: longer than
    /// any query runs.
    pub vacuum_retention: Duration,
    /// Days of events kept.
    pub events_days: u32,
    /// Days of findings kept (by detection day).
    pub findings_days: u32,
    /// Days of instances and edges kept (by last seen).
    pub graph_days: u32,
    /// Days of dead letters kept (the `dead_letters` table, and the files of
    /// the layout before it).
    pub dead_letter_days: u32,
}

impl Default for Upkeep {
    fn default() -> Self {
        Self {
            closed_after: 24 * HOUR,
            vacuum_retention: HOUR,
            events_days: 90,
            findings_days: 400,
            graph_days: 90,
            dead_letter_days: 14,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpkeepReport {
    /// Closed days compacted, over all tables.
    pub days_compacted: usize,
    /// Files the compactions replaced.
    pub files_compacted: u64,
    /// Files of expired days removed from the tables.
    pub files_expired: usize,
    /// Files deleted by VACUUM.
    pub files_vacuumed: usize,
    /// Dead-letter files deleted.
    pub dead_letters_expired: usize,
}

impl Upkeep {
    /// Days a table keeps; `None` for the triage log, which keeps every
    /// analyst's decision as long as the store lasts.
    pub fn days(&self, table: &str) -> Option<u32> {
        match table {
            "events" => Some(self.events_days),
            "findings" | crate::EVIDENCE_TABLE => Some(self.findings_days),
            crate::DEAD_LETTER_TABLE => Some(self.dead_letter_days),
            crate::ACTIVITY_TABLE => None,
            _ => Some(self.graph_days),
        }
    }

    /// The first day `table` keeps at `now` (nanoseconds), counting back
    /// from today (the first day there is, for a table kept for ever).
    pub fn first_day_kept(&self, table: &str, now: i64) -> String {
        let back = self
            .days(table)
            .map_or(i64::MAX, |d| i64::from(d).saturating_mul(DAY_NS));
        crate::columns::day_name(now.saturating_sub(back))
    }

    /// The first day `table` keeps, counting back from its newest day
    /// (`YYYY-MM-DD`) when that is before today: a backfill of old logs, or
    /// a store whose stream stopped months ago, is not deleted merely for
    /// being old; a live stream's newest day is today, so it keeps exactly
    /// its retention.
    pub fn first_day_kept_from(&self, table: &str, now: i64, newest_day: Option<&str>) -> String {
        let by_clock = self.first_day_kept(table, now);
        let newest_end = newest_day
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .and_then(|t| t.and_utc().timestamp_nanos_opt());
        match newest_end {
            Some(end) => by_clock.min(self.first_day_kept(table, end)),
            None => by_clock,
        }
    }

    /// Remove `table`'s days older than its retention at `now` (see
    /// [`first_day_kept_from`](Self::first_day_kept_from)); returns the first
    /// day kept and the files removed. Events some finding names as
    /// evidence are copied to the `evidence` table first.
    pub fn expire(
        &self,
        data_dir: &Path,
        table: &str,
        now: i64,
    ) -> Result<(String, usize), StoreError> {
        if self.days(table).is_none() {
            return Ok((self.first_day_kept(table, now), 0));
        }
        let newest = newest_day(data_dir, table)?;
        let first = self.first_day_kept_from(table, now, newest.as_deref());
        if table == "events" {
            super::keep_evidence(data_dir, &first)?;
        }
        let removed = expire_days_before(data_dir, table, &first)?;
        Ok((first, removed))
    }

    /// The first day still open at `now`.
    pub fn first_open_day(&self, now: i64) -> String {
        let closed = i64::try_from(self.closed_after.as_nanos()).unwrap_or(i64::MAX);
        crate::columns::day_name(now.saturating_sub(closed))
    }

    /// One pass over every table at `now` (nanoseconds): compact, expire,
    /// vacuum (in that order, so one pass also deletes what the pass
    /// before it replaced).
    pub fn run(&self, data_dir: &Path, now: i64) -> Result<UpkeepReport, StoreError> {
        let mut report = UpkeepReport::default();
        let open = self.first_open_day(now);
        for table in TABLES {
            let c = compact_closed_days(data_dir, table, &open)?;
            report.days_compacted += c.days;
            report.files_compacted += c.files_removed;
            report.files_expired += self.expire(data_dir, table, now)?.1;
        }
        let current = CURRENT_TABLES.iter().map(|(_, live)| *live);
        for table in TABLES.into_iter().chain(current) {
            report.files_vacuumed += vacuum(data_dir, table, self.vacuum_retention)?;
        }
        report.dead_letters_expired = self.expire_dead_letters(data_dir, now)?;
        Ok(report)
    }

    /// Delete dead-letter files (JSON lines, the layout before the
    /// `dead_letters` table) last written before the retention.
    fn expire_dead_letters(&self, data_dir: &Path, now: i64) -> Result<usize, StoreError> {
        let dir = data_dir.join("dead_letter");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let keep_ns = i64::from(self.dead_letter_days).saturating_mul(DAY_NS);
        let cutoff = now.saturating_sub(keep_ns);
        let mut removed = 0;
        for entry in entries.flatten() {
            let written = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            if written.is_some_and(|w| w < cutoff) {
                crate::remove_if_present(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_counts_back_from_the_newest_day_when_that_is_older() {
        let u = Upkeep::default();
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or_default();
        let kept = |newest| u.first_day_kept_from("events", now, newest);
        assert_eq!(kept(None), "2026-09-03");
        assert_eq!(kept(Some("2026-12-02")), "2026-09-03");
        // A backfill whose newest day is in March keeps 90 days before it.
        assert_eq!(kept(Some("2026-03-02")), "2025-12-02");
        // A day after today never keeps less.
        assert_eq!(kept(Some("2027-01-01")), "2026-09-03");
        assert_eq!(u.first_day_kept_from("findings", now, None), "2025-10-28");
    }
}

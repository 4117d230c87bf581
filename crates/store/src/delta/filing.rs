//! Which day partition a row is filed under.
//!
//! A row goes to the UTC day of its time. A time no log can honestly carry
//! (before [`DayFiling::earliest`], or further into the future than the
//! allowed clock skew) would open a partition for 1970 or 2099 that
//! nothing prunes and retention never reaches; such a row is filed under
//! the day it was ingested instead. Its time is kept as it came, so the
//! row is flagged by the mismatch itself: `day <> date(time)`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};

use crate::StoreError;
use crate::columns::day_name;

/// 2000-01-01T00:00:00Z: no audit log delegraph reads is older.
const DEFAULT_EARLIEST_NS: i64 = 946_684_800 * 1_000_000_000;
/// A day of clock skew into the future is tolerated.
const DEFAULT_FUTURE_SKEW_NS: i64 = 86_400 * 1_000_000_000;

/// How far from its ingestion a row's time may lie and still be filed
/// under its own day (`[pipeline] future_skew` and `max_event_age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilingLimits {
    /// Clock skew tolerated into the future (default a day).
    pub future_skew_ns: i64,
    /// The oldest a time may be (`None`, the default: any time from 2000
    /// on, so a backfill of old logs lands in its own days).
    pub max_age_ns: Option<i64>,
}

impl Default for FilingLimits {
    fn default() -> Self {
        Self {
            future_skew_ns: DEFAULT_FUTURE_SKEW_NS,
            max_age_ns: None,
        }
    }
}

/// The times filed under their own day, and where the others go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFiling {
    /// Earliest time filed under its own day (nanoseconds).
    pub earliest: i64,
    /// Latest time filed under its own day (nanoseconds).
    pub latest: i64,
    /// When the rows were ingested (nanoseconds): the day of the others.
    pub ingested: i64,
}

impl DayFiling {
    /// Ingested at `now` (nanoseconds), tolerating `future_skew_ns` of
    /// clock skew and times from `earliest` on.
    pub fn at(now: i64, future_skew_ns: i64, earliest: i64) -> Self {
        Self {
            earliest,
            latest: now.saturating_add(future_skew_ns),
            ingested: now,
        }
    }

    /// The defaults, ingested now: times from 2000 on, up to a day ahead.
    pub fn now() -> Self {
        Self::now_within(&FilingLimits::default())
    }

    /// Ingested now, within `limits` (never earlier than 2000).
    pub fn now_within(limits: &FilingLimits) -> Self {
        let now = delegraph_model::Timestamp::now().nanos();
        let earliest = limits.max_age_ns.map_or(DEFAULT_EARLIEST_NS, |age| {
            now.saturating_sub(age).max(DEFAULT_EARLIEST_NS)
        });
        Self::at(now, limits.future_skew_ns.max(0), earliest)
    }

    fn files_own_day(&self, nanos: i64) -> bool {
        (self.earliest..=self.latest).contains(&nanos)
    }

    /// `batch` with the day of every row whose `time_column` lies outside
    /// the accepted range replaced by the ingest day (unchanged, and not
    /// copied, when every time is inside).
    pub(crate) fn refile(
        &self,
        batch: RecordBatch,
        time_column: &str,
        day_column: &str,
    ) -> Result<RecordBatch, StoreError> {
        let bad = |what: &str| StoreError::Encode(format!("filing by {time_column}: {what}"));
        let schema = batch.schema();
        let (Ok(time_at), Ok(day_at)) = (schema.index_of(time_column), schema.index_of(day_column))
        else {
            return Err(bad("the batch lacks the time or the day column"));
        };
        let times = batch
            .column(time_at)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| bad("not a time in microseconds"))?;
        let outside = |i: usize| {
            !times.is_null(i) && !self.files_own_day(times.value(i).saturating_mul(1_000))
        };
        if !(0..times.len()).any(outside) {
            return Ok(batch);
        }
        let days = batch
            .column(day_at)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad("the day is not text"))?;
        let ingest_day = day_name(self.ingested);
        let refiled: StringArray = (0..days.len())
            .map(|i| {
                if outside(i) {
                    Some(ingest_day.as_str())
                } else {
                    (!days.is_null(i)).then(|| days.value(i))
                }
            })
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[day_at] = Arc::new(refiled);
        RecordBatch::try_new(schema, columns).map_err(|e| bad(&e.to_string()))
    }
}

/// The column a table's day is taken from.
pub fn day_source(table: &str) -> Option<&'static str> {
    match table {
        "events" | crate::EVIDENCE_TABLE => Some("event_time"),
        crate::DEAD_LETTER_TABLE => Some("dead_at"),
        "findings" => Some("detected_at"),
        crate::ACTIVITY_TABLE => Some("at"),
        "agents" | "edges" | crate::AGENTS_LIVE | crate::EDGES_LIVE => Some("last_seen"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_times_are_filed_under_the_ingest_day_and_keep_their_time() {
        let day = 86_400 * 1_000_000_000i64;
        let now = 20_000 * day + 3_600 * 1_000_000_000;
        let filing = DayFiling::at(now, day, DEFAULT_EARLIEST_NS);
        // 1970, yesterday, now + 23 h, now + 3 days.
        let times = [0, now - day, now + day - 3_600_000_000_000, now + 3 * day];
        let micros: TimestampMicrosecondArray = times.iter().map(|t| Some(t / 1_000)).collect();
        let days: StringArray = times.iter().map(|t| Some(day_name(*t))).collect();
        let batch = RecordBatch::try_from_iter([
            ("time", Arc::new(micros.with_timezone("UTC")) as ArrayRef),
            ("day", Arc::new(days) as ArrayRef),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let out = filing
            .refile(batch.clone(), "time", "day")
            .unwrap_or_else(|e| panic!("{e}"));
        let filed: Vec<String> = (0..4)
            .map(|i| {
                out.column(1)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .map(|a| a.value(i).to_owned())
                    .unwrap_or_default()
            })
            .collect();
        let today = day_name(now);
        assert_eq!(
            filed,
            [
                today.clone(),
                day_name(now - day),
                day_name(now + day - 3_600_000_000_000),
                today
            ]
        );
        assert_eq!(
            out.column(0),
            batch.column(0),
            "times are kept as they came"
        );
    }
}

//! SQL views over the triage log, registered in every session so analysts,
//! dashboards and the API read the same definitions.
//!
//! - `finding_state`: each triaged finding's latest state (a finding with
//!   no entry is open and unassigned).
//! - `finding_triage`: every finding with its state, first acknowledgement
//!   and last close, and the seconds each took from detection.
//! - `triage_by_detector`: per detector or rule id — findings by status,
//!   mean time to acknowledge and to close, and the false-positive ratio
//!   among closed findings.
//!
//! Times to acknowledge and close are measured from `detected_at`, the
//! stream time at which the finding was raised: on a live stream that is
//! close to the wall clock, on a replay of old logs it is not, and the
//! figures then say how old the logs were rather than how fast anyone was.

use datafusion::prelude::SessionContext;

use crate::StoreError;

const VIEWS: [(&str, &str); 3] = [
    (
        "finding_state",
        "SELECT finding_id, status, disposition, assignee, at AS updated_at, actor AS updated_by \
         FROM (SELECT finding_id, status, disposition, assignee, at, actor, \
               row_number() OVER (PARTITION BY finding_id ORDER BY seq DESC) AS latest \
               FROM finding_activity) \
         WHERE latest = 1",
    ),
    (
        "finding_triage",
        "SELECT f.finding_id, coalesce(f.rule_id, f.detector) AS detector, f.severity, \
                f.detected_at, coalesce(s.status, 'open') AS status, s.disposition, s.assignee, \
                t.first_acknowledged_at, t.last_closed_at, \
                (CAST(t.first_acknowledged_at AS BIGINT) - CAST(f.detected_at AS BIGINT)) / 1e9 \
                  AS seconds_to_acknowledge, \
                CASE WHEN s.status = 'closed' THEN \
                  (CAST(t.last_closed_at AS BIGINT) - CAST(f.detected_at AS BIGINT)) / 1e9 END \
                  AS seconds_to_close \
         FROM findings f \
         LEFT JOIN finding_state s ON s.finding_id = f.finding_id \
         LEFT JOIN (SELECT finding_id, \
                      min(CASE WHEN status <> 'open' THEN at END) AS first_acknowledged_at, \
                      max(CASE WHEN action = 'close' THEN at END) AS last_closed_at \
                    FROM finding_activity GROUP BY finding_id) t \
           ON t.finding_id = f.finding_id",
    ),
    (
        "triage_by_detector",
        "SELECT detector, count(*) AS findings, \
                sum(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open, \
                sum(CASE WHEN status = 'acknowledged' THEN 1 ELSE 0 END) AS acknowledged, \
                sum(CASE WHEN status = 'closed' THEN 1 ELSE 0 END) AS closed, \
                avg(seconds_to_acknowledge) AS mean_seconds_to_acknowledge, \
                avg(seconds_to_close) AS mean_seconds_to_close, \
                CAST(sum(CASE WHEN status = 'closed' AND disposition LIKE 'false_positive%' \
                         THEN 1 ELSE 0 END) AS DOUBLE) \
                  / nullif(sum(CASE WHEN status = 'closed' THEN 1 ELSE 0 END), 0) \
                  AS false_positive_ratio \
         FROM finding_triage GROUP BY detector",
    ),
];

/// Names of the views, for listings and tests.
pub const TRIAGE_VIEWS: [&str; 3] = [VIEWS[0].0, VIEWS[1].0, VIEWS[2].0];

/// Define the views in `ctx` (its tables must be registered).
pub(crate) async fn register(ctx: &SessionContext) -> Result<(), StoreError> {
    for (name, body) in VIEWS {
        let plan = ctx
            .state()
            .create_logical_plan(body)
            .await
            .map_err(|e| StoreError::Storage(format!("view {name}: {e}")))?;
        let view = datafusion::datasource::ViewTable::new(plan, Some(body.to_owned()));
        ctx.register_table(name, std::sync::Arc::new(view))
            .map_err(|e| StoreError::Storage(format!("view {name}: {e}")))?;
    }
    Ok(())
}

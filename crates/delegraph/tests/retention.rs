//! Retention by day: expiry removes exactly the days past each table's
//! retention, counted back from the table's newest day, and a finding
//! still finds its evidence once the events' days are gone.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{bin, replay, run, simulate, sql_json};

/// Evidence ids of all findings that resolve to a stored event (kept or
/// not), and how many there are in all.
const RESOLVED: &str = "SELECT count(*) AS n FROM \
     (SELECT DISTINCT unnest(evidence) AS id FROM findings) f \
     WHERE f.id IN (SELECT event_id FROM events UNION ALL SELECT event_id FROM evidence)";

#[test]
fn expired_days_go_and_findings_keep_their_evidence() {
    let dir = tempfile::tempdir().unwrap();
    // Two and a half days of a simulated fleet: three day partitions.
    let files = simulate(&dir.path().join("sim"), 5, 200, 60.0);
    let data = dir.path().join("data");
    replay(&data, &files);
    let days = sql_json(&data, "SELECT DISTINCT day FROM events ORDER BY day");
    assert_eq!(days.len(), 3, "{days:?}");
    let resolved = sql_json(&data, RESOLVED)[0]["n"].as_i64().unwrap();
    let findings = sql_json(&data, "SELECT count(*) AS n FROM findings")[0]["n"].clone();
    assert!(resolved > 0, "no finding names a stored event");

    // Keep one day of events, counted back from the newest: the first day
    // goes, whatever today's date (the simulated days are months old).
    let out = run(bin()
        .args(["store", "expire", "--events-days", "1", "--data-dir"])
        .arg(&data));
    let said = String::from_utf8_lossy(&out.stdout);
    let first_kept = days[1]["day"].as_str().unwrap();
    assert!(
        said.contains(&format!("events: days before {first_kept} removed")),
        "{said}"
    );
    let left = sql_json(&data, "SELECT DISTINCT day FROM events ORDER BY day");
    assert_eq!(left, days[1..], "{said}");

    // Findings are all there, and every evidence event they named still
    // resolves: the expired ones from the evidence table.
    assert_eq!(
        sql_json(&data, "SELECT count(*) AS n FROM findings")[0]["n"],
        findings
    );
    assert_eq!(sql_json(&data, RESOLVED)[0]["n"], resolved);
    let kept = sql_json(
        &data,
        "SELECT count(*) AS n, min(day) AS lo, max(day) AS hi FROM evidence",
    );
    assert!(kept[0]["n"].as_i64().unwrap() > 0, "{kept:?}");
    assert_eq!(kept[0]["lo"], days[0]["day"]);
    assert_eq!(kept[0]["hi"], days[0]["day"]);

    // Run again: nothing more to remove, nothing copied twice.
    run(bin()
        .args(["store", "expire", "--events-days", "1", "--data-dir"])
        .arg(&data));
    assert_eq!(
        sql_json(&data, "SELECT count(*) AS n FROM evidence"),
        sql_json(&data, "SELECT count(DISTINCT event_id) AS n FROM evidence")
    );
    assert_eq!(
        sql_json(&data, "SELECT count(*) AS n FROM evidence")[0]["n"],
        kept[0]["n"]
    );
}

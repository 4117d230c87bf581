//! A run killed while creating a table leaves its log directory without a
//! version (the commit being written is still a `_commit_*` temporary).
//! The next run must create the table there, not refuse the directory as
//! a table it cannot read.

#![allow(clippy::unwrap_used)]

use delegraph_store::{
    CommitTag, DayFiling, EdgeRow, Redo, TableAppend, edges_batch, edges_schema, is_delta_table,
};

#[test]
fn a_log_left_without_a_version_is_created_over() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("edges").join("_delta_log");
    std::fs::create_dir_all(&log).unwrap();
    std::fs::write(log.join("_commit_0d4c.json.tmp"), "{\"protocol\":").unwrap();
    assert!(!is_delta_table(dir.path(), "edges"));

    let mut t = TableAppend::open(dir.path(), "edges", edges_schema(), DayFiling::now()).unwrap();
    let row = EdgeRow {
        instance: "i-1".into(),
        from: "a".into(),
        to: "b".into(),
        ..EdgeRow::default()
    };
    t.write(edges_batch(&[row]).unwrap()).unwrap();
    let tag = CommitTag {
        app_id: "redo".into(),
        version: 0,
        redo: Redo::Skip,
    };
    t.commit(&tag).unwrap();
    assert!(is_delta_table(dir.path(), "edges"));
    assert_eq!(
        TableAppend::open(dir.path(), "edges", edges_schema(), DayFiling::now())
            .unwrap()
            .rows(),
        0,
        "a table that opens again"
    );
}

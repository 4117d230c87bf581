#![allow(clippy::unwrap_used)]
use super::*;

fn offset(topic: &str, partition: i32, next: i64) -> PartitionOffset {
    PartitionOffset {
        topic: topic.into(),
        partition,
        next,
    }
}

/// A stream's state over a fresh data directory, nothing assigned yet.
fn stream_state(data_dir: &std::path::Path) -> StreamState {
    let cfg = Arc::new(StreamConfig::new(data_dir, KafkaSettings::default()));
    let mut pipeline = cfg
        .analysis
        .open_pipeline(data_dir, &epoch_name(1), true, None)
        .unwrap();
    pipeline.keep_outputs();
    let metrics = Arc::new(StreamMetrics::default());
    StreamState::new(cfg, pipeline, None, 0, Positions::default(), metrics).unwrap()
}

/// Records of a published sample, one per line.
fn sample() -> String {
    std::fs::read_to_string(crate::fixture("mcp/gateway.jsonl")).unwrap()
}

/// An epoch that ends while messages are still being decoded (a full
/// batch sent, a short one still filling) holds them all: the offsets it
/// saves and commits are past every message handed over, never past a
/// message whose records it does not hold.
#[test]
fn an_epoch_ends_with_every_message_handed_over_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = stream_state(dir.path());
    st.owned
        .extend([("audit".to_owned(), 0), ("audit".to_owned(), 1)]);
    let text = sample();
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..150 {
        let line = lines[i % lines.len()];
        st.accept_message("audit", (i % 2) as i32, (i / 2) as i64, line.as_bytes())
            .unwrap();
    }
    assert!(st.lane.in_flight() > 0, "nothing was still being decoded");
    let offsets = st.seal().unwrap();
    let expected = vec![offset("audit", 0, 75), offset("audit", 1, 75)];
    assert_eq!(offsets, expected);
    assert_eq!(st.lane.in_flight(), 0);
    assert_eq!(st.pipeline.stats().documents, 150);
    assert_eq!(
        Checkpoint::load(dir.path()).unwrap().unwrap().offsets,
        expected
    );

    // A message the store already holds (redelivered after a crash or a
    // rebalance) is not handed over again.
    st.accept_message("audit", 0, 10, lines[0].as_bytes())
        .unwrap();
    assert_eq!(st.lane.in_flight(), 0);
    assert_eq!(st.seal().unwrap(), expected);
    assert_eq!(st.pipeline.stats().documents, 150);
}

#[test]
fn offsets_are_stored_as_the_tuples_earlier_checkpoints_held() {
    let tuples = vec![("audit".to_owned(), 3i32, 42i64), ("okta".to_owned(), 0, 7)];
    let offsets = vec![offset("audit", 3, 42), offset("okta", 0, 7)];
    let bytes = postcard::to_stdvec(&tuples).unwrap();
    assert_eq!(postcard::to_stdvec(&offsets).unwrap(), bytes);
    assert_eq!(
        postcard::from_bytes::<Vec<PartitionOffset>>(&bytes).unwrap(),
        offsets
    );
}

#[test]
fn positions_stay_sorted_by_partition_with_one_entry_each() {
    let mut p = Positions::from_checkpoint(&[offset("b", 0, 5), offset("a", 1, 9)]);
    p.set("a", 0, 3);
    p.set("b", 0, 6);
    assert_eq!(p.next("b", 0), Some(6));
    assert_eq!(p.next("a", 2), None);
    assert_eq!(
        p.to_vec(),
        vec![offset("a", 0, 3), offset("a", 1, 9), offset("b", 0, 6)]
    );
}

/// A revoked partition's offset is committed by the epoch its revocation
/// ends, and never again: a later commit would move its new owner's
/// committed offset back. A broken stream commits nothing, not even when
/// leaving the group revokes its partitions.
#[test]
fn only_assigned_partitions_are_committed_and_a_broken_stream_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared(Mutex::new(stream_state(dir.path())));
    let both = [("audit".to_owned(), 0), ("audit".to_owned(), 1)];
    shared.assigned(&both);
    let text = sample();
    let line = text.lines().next().unwrap().as_bytes();
    for i in 0..10 {
        let mut st = shared.lock();
        st.accept_message("audit", i % 2, i64::from(i / 2), line)
            .unwrap();
    }
    let at_revocation = shared.revoking(&both[1..]);
    assert_eq!(
        at_revocation,
        vec![offset("audit", 0, 5), offset("audit", 1, 5)]
    );
    {
        let mut st = shared.lock();
        st.accept_message("audit", 0, 5, line).unwrap();
        assert_eq!(st.seal().unwrap(), vec![offset("audit", 0, 6)]);
        st.accept_message("audit", 0, 6, line).unwrap();
        st.broken = true;
    }
    assert!(shared.revoking(&both[..1]).is_empty());
    assert!(shared.lock().failed.is_some());
    assert_eq!(
        Checkpoint::load(dir.path()).unwrap().unwrap().offsets,
        vec![offset("audit", 0, 6), offset("audit", 1, 5)],
        "the broken epoch saved nothing"
    );
}

/// The loop takes messages while the epoch before is made durable on its
/// own thread: that epoch's checkpoint and the offsets committed for it
/// stop where it was sealed, and what came after belongs to the next.
#[test]
fn messages_taken_while_an_epoch_is_made_durable_belong_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = stream_state(dir.path());
    st.owned.insert(("audit".to_owned(), 0));
    let text = sample();
    let line = text.lines().next().unwrap().as_bytes();
    for i in 0..20 {
        st.accept_message("audit", 0, i, line).unwrap();
    }
    assert!(st.start_seal().unwrap());
    assert!(st.sealing.is_some());
    for i in 20..30 {
        st.accept_message("audit", 0, i, line).unwrap();
    }
    st.take_all_decoded().unwrap();
    assert_eq!(st.pending, 10, "the next epoch took them in");
    let first = loop {
        if let Some(offsets) = st.collect_durable(false).unwrap() {
            break offsets;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(first, vec![offset("audit", 0, 20)]);
    assert_eq!(
        Checkpoint::load(dir.path()).unwrap().unwrap().offsets,
        vec![offset("audit", 0, 20)]
    );
    assert_eq!(st.seal().unwrap(), vec![offset("audit", 0, 30)]);
    assert!(st.sealing.is_none());
    assert_eq!(st.pipeline.stats().documents, 30);
    let saved = Checkpoint::load(dir.path()).unwrap().unwrap();
    assert_eq!(
        (saved.epoch, saved.offsets),
        (2, vec![offset("audit", 0, 30)])
    );
}

/// An epoch that fails where it is made durable (here its checkpoint
/// cannot be written) breaks the stream: the offsets committed stay those
/// of the last durable epoch, and nothing is sealed or committed after,
/// not even by a revocation.
#[test]
fn an_epoch_that_fails_to_become_durable_breaks_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared(Mutex::new(stream_state(dir.path())));
    shared.assigned(&[("audit".to_owned(), 0)]);
    let text = sample();
    let line = text.lines().next().unwrap().as_bytes();
    let mut st = shared.lock();
    for i in 0..5 {
        st.accept_message("audit", 0, i, line).unwrap();
    }
    assert_eq!(st.seal().unwrap(), vec![offset("audit", 0, 5)]);
    // A directory where the checkpoint file goes: storing it fails.
    let path = crate::checkpoint::checkpoint_path(dir.path());
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    for i in 5..10 {
        st.accept_message("audit", 0, i, line).unwrap();
    }
    assert!(st.seal().is_err());
    assert!(st.broken);
    assert!(st.sealing.is_none());
    assert_eq!(st.committable(), vec![offset("audit", 0, 5)]);
    drop(st);
    assert!(shared.revoking(&[("audit".to_owned(), 0)]).is_empty());
    assert!(shared.lock().failed.is_some());
}

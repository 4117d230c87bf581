//! The merged replay's guard against inputs that change under it.

// Test helpers panic on purpose: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use super::*;

#[test]
fn an_input_growing_between_the_passes_stops_the_run_before_it_saves_anything() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("trail.jsonl");
    std::fs::copy(crate::fixture("cloudtrail/assume-role-chain.jsonl"), &input).unwrap();
    let mut config = ReplayConfig::new(dir.path().join("data"));
    config.in_memory_bytes = 0;
    config.piece_bytes = 1;
    let path = input.to_str().unwrap().to_owned();
    let e = replay_files(std::slice::from_ref(&path), &config, |p| {
        if p.indexing {
            // A log still being written: a record lands after the index.
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&input)
                .unwrap();
            f.write_all(b"{\"eventID\":\"late\"}\n").unwrap();
        }
    })
    .unwrap_err();
    assert!(matches!(e, PipelineError::InputChanged { .. }), "{e}");
    assert!(e.to_string().starts_with(&path), "{e}");
    assert!(Checkpoint::load(&config.data_dir).unwrap().is_none());
    // Once complete, it replays.
    let stats = replay_files(&[path], &config, |_| {}).unwrap();
    assert!(stats.merged.is_some_and(|m| m.pieces > 1), "{stats}");
    assert!(stats.events() > 0);
}

/// A replayed piece's events keep their raw records as slices of the
/// piece's own buffer (moved, not copied, into shared text); in an input
/// that is not UTF-8 throughout they are copies, read line by line.
#[test]
fn a_piece_decoded_alone_lends_its_bytes_to_its_events() {
    let bytes = std::fs::read(crate::fixture("cloudtrail/assume-role-chain.jsonl")).unwrap();
    let decoder = delegraph_decode::DocumentDecoder::default();
    for utf8 in [true, false] {
        let file = inputs::InputFile {
            path: "trail.jsonl".into(),
            raw_len: bytes.len() as u64,
            utf8,
            damage: None,
            pieces: Vec::new(),
        };
        let piece = delegraph_ingest::Piece {
            bytes: bytes.clone(),
            first_line: 0,
        };
        let start = piece.bytes.as_ptr() as usize;
        let end = start + piece.bytes.len();
        let decoded = file.decode_alone(&decoder, piece);
        let raws: Vec<_> = decoded.events().map(|e| e.raw.clone()).collect();
        assert!(raws.len() > 1, "{} events", raws.len());
        for raw in raws {
            let at = raw.as_ptr() as usize;
            let inside = at >= start && at + raw.len() <= end;
            assert_eq!(inside, utf8, "utf8 {utf8}: {raw}");
        }
    }
}

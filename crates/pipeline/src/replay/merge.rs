//! A replay's second pass over inputs too large to hold: their pieces are
//! read again and fed in the order of the earliest time still to come in
//! each input (a k-way merge by event time), and before each piece every
//! held event older than any piece still unread is released. The order is
//! the one a replay of the whole input held in memory gives; what is held
//! at a time is what the inputs' pieces overlap in time (delivery files of
//! the same hours, an export that is roughly in time order).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use delegraph_decode::{DocumentDecoder, OriginBase};
use delegraph_ingest::{DocumentPieces, Piece};

use super::inputs::InputFile;
use crate::{EventPipeline, PipelineError};

/// What the second pass needs.
pub(super) struct MergeSettings<'a> {
    pub decoder: &'a DocumentDecoder,
    pub max_file_bytes: u64,
    pub piece_bytes: usize,
}

/// One input being read again.
struct Cursor<'f> {
    file: &'f InputFile,
    reader: Option<DocumentPieces>,
    next: usize,
    /// The input place of its next event.
    place: u64,
    /// For each piece, the earliest time of it and every later piece.
    earliest_from: Vec<i64>,
}

/// Feed every indexed input's pieces to `pipeline` in time order (see the
/// module doc); `progress` is called after each piece.
pub(super) fn replay_in_time_order(
    pipeline: &mut EventPipeline,
    files: &[InputFile],
    settings: &MergeSettings,
    mut progress: impl FnMut(&EventPipeline),
) -> Result<crate::stats::MergedReplay, PipelineError> {
    let mut cursors: Vec<Cursor> = files
        .iter()
        .enumerate()
        .map(|(index, file)| {
            let mut earliest_from: Vec<i64> = file.pieces.iter().map(|p| p.earliest).collect();
            for i in (0..earliest_from.len().saturating_sub(1)).rev() {
                earliest_from[i] = earliest_from[i].min(earliest_from[i + 1]);
            }
            Cursor {
                file,
                reader: None,
                next: 0,
                place: super::input_place(index),
                earliest_from,
            }
        })
        .collect();
    // (earliest time still to come, input): the smallest first, ties in
    // the order the inputs were given.
    let mut queue: BinaryHeap<Reverse<(i64, usize)>> = cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.earliest_from.first().map(|t| Reverse((*t, i))))
        .collect();
    let mut merged = crate::stats::MergedReplay::default();
    while let Some(Reverse((from, i))) = queue.pop() {
        pipeline.release_before(from)?;
        let cursor = &mut cursors[i];
        let piece = next_piece(cursor, pipeline, settings)?;
        let base = OriginBase::File {
            path: cursor.file.path.clone(),
        };
        pipeline.set_input_place(cursor.place);
        pipeline.ingest_piece(settings.decoder, &piece, cursor.file.utf8, &base)?;
        cursor.place = pipeline.input_place();
        merged.pieces += 1;
        merged.most_held = merged.most_held.max(pipeline.held_events() as u64);
        cursor.next += 1;
        if let Some(t) = cursor.earliest_from.get(cursor.next) {
            queue.push(Reverse((*t, i)));
        } else {
            finish_input(cursor, pipeline)?;
        }
        progress(pipeline);
    }
    Ok(merged)
}

/// The cursor's next piece, opening its input on the first; the piece must
/// be the one the first pass indexed.
fn next_piece(
    cursor: &mut Cursor,
    pipeline: &mut EventPipeline,
    settings: &MergeSettings,
) -> Result<Piece, PipelineError> {
    let file = cursor.file;
    let changed = |detail: String| PipelineError::InputChanged {
        path: file.path.clone(),
        detail,
    };
    let reader = match &mut cursor.reader {
        Some(reader) => reader,
        slot => {
            pipeline.count_document(file.raw_len);
            slot.insert(DocumentPieces::open(
                &file.path,
                settings.max_file_bytes,
                settings.piece_bytes,
            )?)
        }
    };
    let piece = reader
        .next_piece()
        .map_err(|e| changed(e.to_string()))?
        .ok_or_else(|| changed(format!("it ends before piece {}", cursor.next + 1)))?;
    let expected = file.pieces.get(cursor.next).map(|p| p.digest);
    if expected != Some(xxhash_rust::xxh3::xxh3_64(&piece.bytes)) {
        return Err(changed(format!(
            "piece {} (from line {}) differs",
            cursor.next + 1,
            piece.first_line + 1
        )));
    }
    Ok(piece)
}

/// An input's last piece was fed: close it (it must end there), and say
/// why it ended early when it did (what decompressed before the break was
/// decoded).
fn finish_input(cursor: &mut Cursor, pipeline: &mut EventPipeline) -> Result<(), PipelineError> {
    let Some(mut reader) = cursor.reader.take() else {
        return Ok(());
    };
    if !matches!(reader.next_piece(), Ok(None)) {
        return Err(PipelineError::InputChanged {
            path: cursor.file.path.clone(),
            detail: format!("it goes on past piece {}", cursor.next),
        });
    }
    if let Some(damage) = reader.damage() {
        pipeline.reject_input(&cursor.file.path, "truncated_input", damage.to_owned())?;
    }
    Ok(())
}

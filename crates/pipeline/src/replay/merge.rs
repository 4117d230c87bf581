//! A replay's second pass over inputs too large to hold: their pieces are
//! read again and fed in the order of the earliest time still to come in
//! each input (a k-way merge by event time), and before each piece every
//! held event older than any piece still unread is released. The order is
//! the one a replay of the whole input held in memory gives; what is held
//! at a time is what the inputs' pieces overlap in time (delivery files of
//! the same hours, an export that is roughly in time order).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use delegraph_decode::DocumentDecoder;
use delegraph_ingest::{DocumentPieces, Piece};

use super::inputs::InputFile;
use crate::{EventPipeline, PipelineError};

/// What the second pass needs.
pub(super) struct MergeSettings<'a> {
    pub decoder: &'a DocumentDecoder,
    pub max_file_bytes: u64,
    pub piece_bytes: usize,
    /// Threads reading and decoding pieces ahead of the pipeline.
    pub workers: usize,
}

/// One input being read again.
struct Cursor<'f> {
    file: &'f InputFile,
    reader: Option<DocumentPieces>,
    next: usize,
    /// For each piece, the earliest time of it and every later piece.
    earliest_from: Vec<i64>,
}

/// A piece to feed, in merge order: which input, and the earliest time
/// still to come in it (nothing older is then still to come anywhere).
struct Turn {
    input: usize,
    from: i64,
}

/// A piece read (on a worker) for its turn, then decoded.
struct Read<P> {
    turn: Turn,
    /// The input was opened for this piece (its first).
    opened: bool,
    piece: Result<P, PipelineError>,
    /// After its input's last piece: why the input ended early, if it did.
    end: Option<Result<Option<String>, PipelineError>>,
}

/// The order pieces are fed in: a k-way merge on the earliest time still
/// to come in each input, which the first pass indexed (it does not depend
/// on what the pieces decode to now).
fn merge_order(cursors: &[Cursor]) -> Vec<Turn> {
    // (earliest time still to come, input): the smallest first, ties in
    // the order the inputs were given.
    let mut queue: BinaryHeap<Reverse<(i64, usize, usize)>> = cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.earliest_from.first().map(|t| Reverse((*t, i, 0))))
        .collect();
    let mut order = Vec::new();
    while let Some(Reverse((from, input, piece))) = queue.pop() {
        order.push(Turn { input, from });
        if let Some(t) = cursors[input].earliest_from.get(piece + 1) {
            queue.push(Reverse((*t, input, piece + 1)));
        }
    }
    order
}

/// Feed every indexed input's pieces to `pipeline` in time order (see the
/// module doc), read and decoded ahead on `settings.workers` threads;
/// `progress` is called after each piece.
pub(super) fn replay_in_time_order(
    pipeline: &mut EventPipeline,
    files: &[InputFile],
    settings: &MergeSettings,
    mut progress: impl FnMut(&EventPipeline),
) -> Result<crate::stats::MergedReplay, PipelineError> {
    let mut cursors: Vec<Cursor> = files
        .iter()
        .map(|file| {
            let mut earliest_from: Vec<i64> = file.pieces.iter().map(|p| p.earliest).collect();
            for i in (0..earliest_from.len().saturating_sub(1)).rev() {
                earliest_from[i] = earliest_from[i].min(earliest_from[i + 1]);
            }
            Cursor {
                file,
                reader: None,
                next: 0,
                earliest_from,
            }
        })
        .collect();
    let order = merge_order(&cursors);
    // Reading stays in order (one reader per input, under the jobs' lock);
    // decoding runs on the workers.
    let reads = order.into_iter().map(move |turn| {
        let cursor = &mut cursors[turn.input];
        let opened = cursor.reader.is_none();
        let piece = next_piece(cursor, settings);
        cursor.next += 1;
        let end = (cursor.next == cursor.earliest_from.len()).then(|| finish_input(cursor));
        Read {
            turn,
            opened,
            piece,
            end,
        }
    });
    let decode = |read: Read<Piece>| {
        let Read {
            turn,
            opened,
            piece,
            end,
        } = read;
        let file = &files[turn.input];
        let piece = piece.map(|piece| file.decode_alone(settings.decoder, piece));
        Read {
            turn,
            opened,
            piece,
            end,
        }
    };
    let mut places: Vec<u64> = (0..files.len()).map(super::input_place).collect();
    let mut merged = crate::stats::MergedReplay::default();
    let workers = settings.workers;
    crate::in_order::map_in_order(reads, workers, 2 * workers, decode, |read| {
        let input = read.turn.input;
        if read.opened {
            pipeline.count_document(files[input].raw_len);
        }
        pipeline.release_before(read.turn.from)?;
        pipeline.set_input_place(places[input]);
        pipeline.ingest_decoded(read.piece?)?;
        places[input] = pipeline.input_place();
        merged.pieces += 1;
        merged.most_held = merged.most_held.max(pipeline.held_events() as u64);
        if let Some(damage) = read.end.transpose()?.flatten() {
            pipeline.reject_input(&files[input].path, "truncated_input", damage)?;
        }
        progress(pipeline);
        Ok::<_, PipelineError>(())
    })?;
    Ok(merged)
}

/// The cursor's next piece, opening its input on the first; the piece must
/// be the one the first pass indexed.
fn next_piece(cursor: &mut Cursor, settings: &MergeSettings) -> Result<Piece, PipelineError> {
    let file = cursor.file;
    let changed = |detail: String| PipelineError::InputChanged {
        path: file.path.clone(),
        detail,
    };
    let reader = match &mut cursor.reader {
        Some(reader) => reader,
        slot => slot.insert(DocumentPieces::open(
            &file.path,
            settings.max_file_bytes,
            settings.piece_bytes,
        )?),
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

/// An input's last piece was read: close it (it must end there), and say
/// why it ended early when it did (what decompressed before the break was
/// decoded).
fn finish_input(cursor: &mut Cursor) -> Result<Option<String>, PipelineError> {
    let Some(mut reader) = cursor.reader.take() else {
        return Ok(None);
    };
    if !matches!(reader.next_piece(), Ok(None)) {
        return Err(PipelineError::InputChanged {
            path: cursor.file.path.clone(),
            detail: format!("it goes on past piece {}", cursor.next),
        });
    }
    Ok(reader.damage().map(str::to_owned))
}

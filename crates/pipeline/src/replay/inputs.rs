//! A replay's first pass: every input read once, in pieces, to name the
//! run (a hash of the inputs) and to decide how it is ordered. Inputs that
//! fit the in-memory budget are kept, and decoded meanwhile
//! (`replay::ahead`); past it, each piece is decoded only
//! to learn its earliest event time, so the second pass can merge the
//! inputs in time order holding only what overlaps in time.

use delegraph_decode::{Collected, DecodeError, DocumentDecoder, EventSink, OriginBase, SinkError};
use delegraph_ingest::{DocumentPieces, Piece};
use delegraph_model::{NormEvent, Origin, RawText};
use xxhash_rust::xxh3::Xxh3;

use super::ahead::DecodeAhead;
use crate::PipelineError;

/// What the first pass learned.
pub(super) struct Inputs {
    /// Hash of every input's name and content (and why an unread one was
    /// not read), in order.
    pub hasher: Xxh3,
    /// Inputs set aside whole: (path, reason, detail).
    pub unread: Vec<(String, &'static str, String)>,
    /// The inputs that were read, in the order given.
    pub files: Vec<InputFile>,
    /// Whether the pieces' bytes are held (under the budget) or only their
    /// index.
    pub held: bool,
}

/// One input read.
pub(super) struct InputFile {
    pub path: String,
    /// Size on disk.
    pub raw_len: u64,
    /// Every piece is UTF-8 (else the document is read line by line).
    pub utf8: bool,
    /// Why it ended early (a gzip stream cut short).
    pub damage: Option<String>,
    /// Its pieces: bytes while held, else their index.
    pub pieces: Vec<PieceEntry>,
}

impl InputFile {
    /// Decode one of its pieces on its own (on a worker): what the
    /// pipeline is to be handed, in order. The piece's bytes become its
    /// events' raw records, shared instead of copied, when the input is
    /// UTF-8 throughout (else it is read line by line, copying).
    pub fn decode_alone(&self, decoder: &DocumentDecoder, piece: Piece) -> Collected {
        let base = OriginBase::File {
            path: self.path.clone(),
        };
        let first_line = piece.first_line;
        let text = match self.utf8 {
            true => String::from_utf8(piece.bytes).map_err(|e| e.into_bytes()),
            false => Err(piece.bytes),
        };
        Collected::gather(|sink| match text {
            Ok(text) => decoder.decode_shared(&RawText::from(text), first_line, &base, sink),
            Err(bytes) => decoder.decode_piece(&bytes, first_line, self.utf8, &base, sink),
        })
    }
}

/// A piece of an input.
pub(super) struct PieceEntry {
    /// While held (until fed or indexed): how.
    pub held: Option<Kept>,
    /// Its length in bytes.
    pub len: u64,
    /// Earliest event time (ns) the piece decodes to; `i64::MAX` when it
    /// holds none. Known once indexed.
    pub earliest: i64,
    /// Latest event time it decodes to; `i64::MIN` when it holds none,
    /// `i64::MAX` when not known (a file read line by line).
    pub latest: i64,
    /// Hash of its bytes, to notice an input that changed between passes.
    pub digest: u64,
}

impl PieceEntry {
    /// Held rather than indexed.
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }
}

/// How a piece is held.
pub(super) enum Kept {
    /// As bytes: a piece of an input not UTF-8 throughout (decoded when
    /// fed), or one past the budget not yet indexed.
    Piece(Piece),
    /// Handed to be decoded ahead (`replay::ahead`): its slot there.
    Ahead(usize),
}

/// What the first pass needs.
pub(super) struct ReadSettings<'a> {
    pub decoder: &'a DocumentDecoder,
    pub max_file_bytes: u64,
    pub piece_bytes: usize,
    /// Decompressed bytes held before the replay orders by index instead.
    pub in_memory_bytes: u64,
    /// Threads decoding pieces to index them.
    pub workers: usize,
    /// Where pieces kept whole are decoded while reading goes on.
    pub ahead: &'a DecodeAhead<'a>,
}

/// Read every input once (see the module doc). `progress` gets the bytes
/// on disk read so far after each input. An input too large or a bomb is
/// set aside; one that cannot be opened stops the run.
pub(super) fn read_inputs(
    paths: &[String],
    settings: &ReadSettings,
    mut progress: impl FnMut(u64),
) -> Result<Inputs, PipelineError> {
    let mut inputs = Inputs {
        hasher: Xxh3::new(),
        unread: Vec::new(),
        files: Vec::new(),
        held: true,
    };
    let mut held_bytes = 0u64;
    let mut read_raw = 0u64;
    for path in paths {
        // Hashed as if the file had been read whole, then whole or not at
        // all: the run's name does not depend on how it was read.
        let mut hasher = inputs.hasher.clone();
        hasher.update(path.as_bytes());
        let mut reader = DocumentPieces::open(path, settings.max_file_bytes, settings.piece_bytes)?;
        let mut file = InputFile {
            path: path.clone(),
            raw_len: reader.raw_len(),
            utf8: true,
            damage: None,
            pieces: Vec::new(),
        };
        let read = loop {
            match reader.next_piece() {
                Ok(Some(piece)) => {
                    hasher.update(&piece.bytes);
                    let len = piece.bytes.len() as u64;
                    let digest = xxhash_rust::xxh3::xxh3_64(&piece.bytes);
                    let kept = match inputs.held {
                        // Once an input is known not to be UTF-8 throughout,
                        // its pieces are decoded line by line when fed.
                        true if file.utf8 => match String::from_utf8(piece.bytes) {
                            Ok(text) => {
                                let text = RawText::from(text);
                                Kept::Ahead(settings.ahead.hand(path, text, piece.first_line))
                            }
                            Err(e) => {
                                file.utf8 = false;
                                Kept::Piece(Piece {
                                    bytes: e.into_bytes(),
                                    first_line: piece.first_line,
                                })
                            }
                        },
                        _ => {
                            file.utf8 &= std::str::from_utf8(&piece.bytes).is_ok();
                            Kept::Piece(piece)
                        }
                    };
                    file.pieces.push(PieceEntry {
                        digest,
                        held: Some(kept),
                        len,
                        earliest: i64::MIN,
                        latest: i64::MAX,
                    });
                    if inputs.held {
                        held_bytes += len;
                        if held_bytes > settings.in_memory_bytes {
                            inputs.held = false;
                            for earlier in &mut inputs.files {
                                index_pieces(earlier, settings);
                            }
                        }
                    }
                    // Indexed a few pieces at a time, one per worker: the
                    // pieces not yet indexed are the last ones read.
                    if !inputs.held && unindexed_at_end(&file) >= 2 * settings.workers {
                        index_pieces(&mut file, settings);
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        read_raw += file.raw_len;
        match read {
            Ok(()) => {
                if !inputs.held {
                    index_pieces(&mut file, settings);
                }
                inputs.hasher = hasher;
                file.damage = reader.damage().map(str::to_owned);
                if !inputs.held && !file.utf8 {
                    before_anything(&mut file);
                }
                inputs.files.push(file);
            }
            Err(e) => {
                let Some(reason) = e.input_reason() else {
                    return Err(e.into());
                };
                held_bytes -= file
                    .pieces
                    .iter()
                    .filter(|p| p.is_held())
                    .map(|p| p.len)
                    .sum::<u64>();
                let detail = e.to_string();
                inputs.hasher.update(path.as_bytes());
                inputs.hasher.update(detail.as_bytes());
                inputs.unread.push((path.clone(), reason, detail));
            }
        }
        progress(read_raw);
    }
    Ok(inputs)
}

/// Replace a file's held pieces by their index: each piece's earliest
/// and latest event time, decoded as UTF-8 text on `settings.workers`
/// threads (see [`before_anything`] for a file that turns out not to be).
fn index_pieces(file: &mut InputFile, settings: &ReadSettings) {
    let base = OriginBase::File {
        path: file.path.clone(),
    };
    let index = |entry: &mut PieceEntry| {
        let mut span = TimeSpan {
            earliest: i64::MAX,
            latest: i64::MIN,
        };
        // This sink never fails.
        match entry.held.take() {
            // Decoded ahead: its events say.
            Some(Kept::Ahead(slot)) => {
                let _ = settings.ahead.take(slot).collected.replay_into(&mut span);
            }
            Some(Kept::Piece(piece)) => {
                let decoder = settings.decoder;
                let _ =
                    decoder.decode_piece(&piece.bytes, piece.first_line, true, &base, &mut span);
            }
            None => return,
        }
        entry.earliest = span.earliest;
        entry.latest = span.latest;
    };
    let unindexed = file.pieces.iter_mut().filter(|p| p.is_held());
    let workers = settings.workers;
    // Nothing is taken: each piece's index is written in place.
    let _ = crate::in_order::map_in_order(unindexed, workers, 2 * workers, index, |()| {
        Ok::<_, std::convert::Infallible>(())
    });
    if !file.utf8 {
        before_anything(file);
    }
}

/// How many of a file's last pieces are held, not yet indexed.
fn unindexed_at_end(file: &InputFile) -> usize {
    let held = file.pieces.iter().rev().take_while(|p| p.is_held());
    held.count()
}

/// A file that is not all UTF-8 is read line by line, where a line may
/// decode to a record its piece as a whole does not hold: its pieces are
/// indexed as starting before anything, so nothing is released ahead of
/// them, and as ending who knows when.
fn before_anything(file: &mut InputFile) {
    for entry in &mut file.pieces {
        entry.earliest = i64::MIN;
        entry.latest = i64::MAX;
    }
}

/// The newest event time of indexed inputs (`i64::MAX` if one is not
/// known, `None` when the inputs are held whole, unindexed).
pub(super) fn newest(files: &[InputFile]) -> Option<i64> {
    let mut pieces = files.iter().flat_map(|f| &f.pieces).peekable();
    if pieces.peek().is_some_and(|p| p.is_held()) {
        return None;
    }
    Some(pieces.map(|p| p.latest).max().unwrap_or(i64::MIN))
}

/// A sink that keeps only the earliest and latest event time.
struct TimeSpan {
    earliest: i64,
    latest: i64,
}

impl EventSink for TimeSpan {
    fn event(&mut self, event: NormEvent) -> Result<(), SinkError> {
        let t = event.event_time.nanos();
        self.earliest = self.earliest.min(t);
        self.latest = self.latest.max(t);
        Ok(())
    }

    fn reject(&mut self, _: DecodeError, _: Origin, _: &str) -> Result<(), SinkError> {
        Ok(())
    }
}

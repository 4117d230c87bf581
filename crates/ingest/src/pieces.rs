//! Reading a file in pieces, for inputs too large to hold whole.
//!
//! A piece ends where a top-level JSON value has ended and the next line
//! starts a new one at its first column: the same places the framing
//! resumes after a broken value, so decoding the pieces one by one gives
//! the records, lines and dead letters decoding the whole file gives. A
//! document that never returns to the top level there (one pretty-printed
//! object, one array) is a single piece. The gzip and size checks are
//! [`read_document`](crate::read_document)'s, applied as the bytes stream.

use std::fs::File;
use std::io::{self, BufReader, Read};

use flate2::read::MultiGzDecoder;

use crate::IngestError;
use crate::file::{GZIP_MAGIC, MAX_GZIP_RATIO, MIN_GZIP_ALLOWANCE};

/// One piece of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Its bytes (decompressed), whole top-level values.
    pub bytes: Vec<u8>,
    /// Lines of the file before it (its first line is `first_line + 1`).
    pub first_line: u64,
}

/// A file (or standard input, `-`) read piece by piece.
pub struct DocumentPieces {
    path: String,
    reader: Box<dyn Read + Send>,
    /// Size on disk (compressed size for gzip).
    raw_len: u64,
    /// Most decompressed bytes allowed, and whether passing it is a bomb
    /// (a gzip ratio) rather than a file over the limit.
    cap: u64,
    bomb_cap: bool,
    gzip: bool,
    limit: u64,
    piece_bytes: usize,
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned, and the scan's state there.
    scanned: usize,
    scan: Scan,
    /// The first place in `buf` the piece may end, once it is long enough.
    cut: Option<usize>,
    cuts_allowed: bool,
    total: u64,
    lines_before: u64,
    damage: Option<String>,
    ended: bool,
}

/// Where the scan stands in the JSON text.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    depth: u64,
    in_string: bool,
    escaped: bool,
}

const READ_BYTES: usize = 1 << 16;

/// Most a piece's buffer reserves before its bytes arrive.
const MAX_RESERVED_BYTES: usize = 16 << 20;

impl DocumentPieces {
    /// Open `path` for reading in pieces of about `piece_bytes` (more when
    /// a value is longer), gunzipping by content. Errors as
    /// [`read_document`](crate::read_document)'s: a file that cannot be
    /// opened here, one too large or a bomb from
    /// [`next_piece`](Self::next_piece).
    pub fn open(path: &str, limit: u64, piece_bytes: usize) -> Result<Self, IngestError> {
        let io_err = |source: io::Error| IngestError::Io {
            path: path.to_owned(),
            source,
        };
        let (mut raw, raw_len): (Box<dyn Read + Send>, u64) = if path == "-" {
            // Its size is known only once read: standard input is held raw.
            let mut held = Vec::new();
            io::stdin()
                .lock()
                .take(limit + 1)
                .read_to_end(&mut held)
                .map_err(io_err)?;
            let len = held.len() as u64;
            (Box::new(io::Cursor::new(held)), len)
        } else {
            let file = File::open(path).map_err(io_err)?;
            let len = file.metadata().map_err(io_err)?.len();
            (Box::new(BufReader::new(file)), len)
        };
        let mut head = Vec::with_capacity(2);
        (&mut raw).take(2).read_to_end(&mut head).map_err(io_err)?;
        let gzip = head == GZIP_MAGIC;
        let raw = io::Cursor::new(head).chain(raw);
        let (reader, cap, bomb_cap): (Box<dyn Read + Send>, u64, bool) = if gzip {
            let ratio_cap = raw_len
                .saturating_mul(MAX_GZIP_RATIO)
                .max(MIN_GZIP_ALLOWANCE);
            (
                Box::new(MultiGzDecoder::new(raw)),
                limit.min(ratio_cap),
                ratio_cap < limit,
            )
        } else {
            (Box::new(raw), limit, false)
        };
        Ok(Self {
            path: path.to_owned(),
            reader,
            raw_len,
            cap,
            bomb_cap,
            gzip,
            limit,
            piece_bytes: piece_bytes.max(1),
            buf: Vec::new(),
            scanned: 0,
            scan: Scan::default(),
            cut: None,
            cuts_allowed: true,
            total: 0,
            lines_before: 0,
            damage: None,
            ended: false,
        })
    }

    /// Size on disk (compressed size for gzip).
    pub fn raw_len(&self) -> u64 {
        self.raw_len
    }

    /// Why the input ended early (a gzip stream cut short or corrupt), once
    /// the last piece is read; what decompressed before the damage was
    /// handed out.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// The next piece, or `None` at the end of the input.
    pub fn next_piece(&mut self) -> Result<Option<Piece>, IngestError> {
        while !self.ended && self.cut.is_none() {
            self.fill()?;
        }
        let end = match self.cut {
            Some(c) => c,
            None if self.buf.is_empty() => return Ok(None),
            None => self.buf.len(),
        };
        // The piece keeps the buffer; what follows the cut starts the next
        // one, made room for a whole piece at once so it grows by no copy
        // (exactly its size once the input has ended: nothing is read on).
        let mut rest = Vec::with_capacity(if self.ended {
            self.buf.len() - end
        } else {
            self.piece_capacity()
        });
        rest.extend_from_slice(&self.buf[end..]);
        self.buf.truncate(end);
        let mut bytes = std::mem::replace(&mut self.buf, rest);
        if bytes.capacity() > 2 * bytes.len() {
            // A short piece (a small file's only one) holds what it uses.
            bytes.shrink_to_fit();
        }
        let first_line = self.lines_before;
        self.lines_before += memchr::memchr_iter(b'\n', &bytes).count() as u64;
        // The rest is scanned again from the cut, where the scan stood at
        // the top level, for the next place to cut.
        let scanned = self.scanned.saturating_sub(end);
        self.scanned = 0;
        self.scan = Scan::default();
        self.cuts_allowed = true;
        self.cut = None;
        self.scan_to(scanned);
        Ok(Some(Piece { bytes, first_line }))
    }

    /// Room a piece's buffer is given up front: the piece, and the read
    /// that passes its end; never more than a bound (pieces asked to be
    /// huge, a whole file's one, grow) nor than a plain file holds.
    fn piece_capacity(&self) -> usize {
        let mut piece = self.piece_bytes.min(MAX_RESERVED_BYTES);
        if !self.gzip {
            piece = piece.min(usize::try_from(self.raw_len).unwrap_or(usize::MAX));
        }
        piece + 2 * READ_BYTES
    }

    /// Read more bytes and scan them for places to cut.
    fn fill(&mut self) -> Result<(), IngestError> {
        if self.buf.capacity() == 0 {
            self.buf.reserve(self.piece_capacity());
        }
        // Read into the buffer's spare capacity: `read_to_end` does not
        // zero it first (a plain file reads into it as it is), where a
        // `read` into a resized buffer zero-filled every byte first.
        let start = self.buf.len();
        let read = (&mut self.reader)
            .take(READ_BYTES as u64)
            .read_to_end(&mut self.buf);
        let n = self.buf.len() - start;
        let broke = match read {
            Ok(_) => false,
            // As for a whole read: a gzip stream that breaks off keeps
            // what decompressed before the break, with the damage named.
            Err(e) if self.gzip => {
                self.damage = Some(format!(
                    "gzip stream broken after {} decompressed bytes: {e}",
                    self.total + n as u64
                ));
                true
            }
            Err(source) => {
                return Err(IngestError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        self.total += n as u64;
        if self.total > self.cap {
            return Err(if self.bomb_cap {
                IngestError::Bomb {
                    path: self.path.clone(),
                    compressed: self.raw_len,
                    ratio: MAX_GZIP_RATIO,
                }
            } else {
                IngestError::TooLarge {
                    path: self.path.clone(),
                    limit: self.limit,
                }
            });
        }
        if n == 0 || broke {
            self.ended = true;
        }
        // A newline's cut depends on the byte after it: the last byte
        // waits for the next read, unless there is none.
        let len = self.buf.len() - usize::from(!self.ended && !self.buf.is_empty());
        self.scan_to(len);
        Ok(())
    }

    /// Scan `buf` up to `end`, noting the first place past `piece_bytes` a
    /// piece may end: a newline at the top level that a line starting an
    /// object follows.
    fn scan_to(&mut self, end: usize) {
        let mut s = self.scan;
        let mut i = self.scanned;
        while i < end {
            if s.in_string && !s.escaped {
                // Most of a log record is string content: jump to the next
                // byte that can change the state.
                match memchr::memchr3(b'\\', b'"', b'\n', &self.buf[i..end]) {
                    Some(skip) => i += skip,
                    None => break,
                }
            }
            let b = self.buf[i];
            i += 1;
            if s.in_string {
                if s.escaped {
                    s.escaped = false;
                } else if b == b'\\' {
                    s.escaped = true;
                } else if b == b'"' {
                    s.in_string = false;
                } else if b == b'\n' {
                    // A raw newline never belongs to a JSON string: the
                    // value is broken, and the framing resumes at a line
                    // start, so the scan does too.
                    s = Scan::default();
                }
                continue;
            }
            match b {
                b'"' => s.in_string = true,
                b'[' if s.depth == 0 => {
                    // Elements of top-level arrays are numbered through
                    // the whole document: past one, the file is one piece.
                    s.depth = 1;
                    self.cuts_allowed = false;
                }
                b'{' | b'[' => s.depth += 1,
                b'}' | b']' => s.depth = s.depth.saturating_sub(1),
                // Not before `[`: an array opening a document is read as
                // its elements, one further on as one value.
                b'\n'
                    if s.depth == 0
                        && self.cuts_allowed
                        && self.cut.is_none()
                        && i >= self.piece_bytes
                        && self.buf.get(i) == Some(&b'{') =>
                {
                    self.cut = Some(i);
                }
                _ => {}
            }
        }
        self.scan = s;
        self.scanned = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pieces_of(bytes: &[u8], piece_bytes: usize) -> (Vec<Piece>, Option<String>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in");
        std::fs::write(&p, bytes).unwrap();
        let mut r = DocumentPieces::open(p.to_str().unwrap(), 1 << 30, piece_bytes).unwrap();
        let mut out = Vec::new();
        while let Some(piece) = r.next_piece().unwrap() {
            out.push(piece);
        }
        (out, r.damage().map(str::to_owned))
    }

    fn joined(pieces: &[Piece]) -> Vec<u8> {
        pieces.iter().flat_map(|p| p.bytes.clone()).collect()
    }

    #[test]
    fn json_lines_are_cut_between_records_and_pieces_know_their_lines() {
        let doc = b"{\"a\":1}\n{\"b\":\"x}\\\"{\"}\n\n{\"c\":[1,\n2]}\n{\"d\":4}";
        let (pieces, _) = pieces_of(doc, 1);
        assert_eq!(joined(&pieces), doc);
        let starts: Vec<(u64, &[u8])> = pieces
            .iter()
            .map(|p| (p.first_line, &p.bytes[..4]))
            .collect();
        assert_eq!(
            starts,
            [
                (0, &b"{\"a\""[..]),
                (1, &b"{\"b\""[..]),
                (3, &b"{\"c\""[..]),
                (5, &b"{\"d\""[..])
            ]
        );
        let (whole, _) = pieces_of(doc, 1 << 20);
        assert_eq!(whole.len(), 1, "one piece when it fits");
    }

    #[test]
    fn a_value_spanning_lines_or_a_top_level_array_is_never_cut() {
        let pretty = b"{\n\"Records\": [\n{\"a\": 1},\n{\"b\": 2}\n]\n}\n";
        assert_eq!(pieces_of(pretty, 1).0.len(), 1);
        let array = b"[\n{\"a\": 1},\n{\"b\": 2}\n]\n{\"c\": 3}\n{\"d\": 4}\n";
        assert_eq!(pieces_of(array, 1).0.len(), 1);
        // Before an array: cut; from it on: not.
        let late = b"{\"a\": 1}\n{\"b\": 2}\n[3]\n{\"d\": 4}\n";
        let (pieces, _) = pieces_of(late, 1);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[1].bytes, b"{\"b\": 2}\n[3]\n{\"d\": 4}\n");
    }

    #[test]
    fn a_string_broken_by_a_newline_does_not_stop_the_cutting() {
        let doc = b"{\"a\": \"cut short\n{\"b\": 2}\n{\"c\": 3}\n";
        let (pieces, _) = pieces_of(doc, 1);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        assert_eq!(pieces[1].bytes, b"{\"c\": 3}\n");
        assert_eq!(pieces[1].first_line, 2);
    }

    #[test]
    fn gzip_damage_and_limits_match_a_whole_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..20_000 {
            writeln!(gz, "{{\"n\":{i}}}").unwrap();
        }
        let whole = gz.finish().unwrap();
        let cut = dir.path().join("cut.gz");
        std::fs::write(&cut, &whole[..whole.len() * 6 / 10]).unwrap();
        let path = cut.to_str().unwrap();
        let (pieces, damage) = pieces_of(&std::fs::read(&cut).unwrap(), 4096);
        let read = crate::read_document(path, 1 << 30).unwrap();
        assert!(pieces.len() > 10);
        assert_eq!(joined(&pieces), read.bytes);
        assert_eq!(damage, read.damage);
        let mut too_small = DocumentPieces::open(path, 1000, 100).unwrap();
        let e = std::iter::from_fn(|| too_small.next_piece().transpose())
            .find_map(Result::err)
            .unwrap();
        assert!(matches!(e, IngestError::TooLarge { .. }), "{e}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 50 << 20]).unwrap();
        let bomb = dir.path().join("bomb.gz");
        std::fs::write(&bomb, gz.finish().unwrap()).unwrap();
        let mut r = DocumentPieces::open(bomb.to_str().unwrap(), 4 << 30, 1 << 20).unwrap();
        let e = std::iter::from_fn(|| r.next_piece().transpose())
            .find_map(Result::err)
            .unwrap();
        assert!(matches!(e, IngestError::Bomb { .. }), "{e}");
    }
}

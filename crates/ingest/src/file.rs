//! Whole-file reads with transparent gzip.

use crate::{DocumentPieces, IngestError};

/// A file's decompressed bytes and the name records will cite as origin.
pub struct FileDocument {
    /// Path as given (`-` for standard input).
    pub path: String,
    /// The content, gunzipped when it was gzip.
    pub bytes: Vec<u8>,
    /// Size on disk (compressed size for gzip), for throughput figures.
    pub raw_len: u64,
    /// Why only a prefix could be read (a gzip stream cut short or
    /// corrupt); `bytes` then holds what decompressed before the damage.
    pub damage: Option<String>,
}

pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Most a gzip input may expand, as a multiple of its compressed size
/// (JSON logs compress 5–30 times); a bomb expands thousands of times.
pub const MAX_GZIP_RATIO: u64 = 100;
/// Expansion always allowed, whatever the ratio (small files).
pub(crate) const MIN_GZIP_ALLOWANCE: u64 = 1 << 20;

/// Read `path` (or standard input for `-`), gunzipping by content, not by
/// name, and refusing more than `limit` bytes after decompression, or an
/// expansion beyond [`MAX_GZIP_RATIO`], so a gzip bomb cannot exhaust
/// memory or time. A gzip stream that breaks off keeps what decompressed
/// before the break, with the damage named. The whole file is one piece of
/// [`DocumentPieces`], which applies those checks as the bytes stream.
pub fn read_document(path: &str, limit: u64) -> Result<FileDocument, IngestError> {
    let mut pieces = DocumentPieces::open(path, limit, usize::MAX)?;
    // No piece is ever long enough to cut: one piece, moved, not copied.
    let mut bytes = Vec::new();
    while let Some(piece) = pieces.next_piece()? {
        if bytes.is_empty() {
            bytes = piece.bytes;
        } else {
            bytes.extend(piece.bytes);
        }
    }
    Ok(FileDocument {
        path: path.to_owned(),
        bytes,
        raw_len: pieces.raw_len(),
        damage: pieces.damage().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_detected_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n").unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        let d = read_document(p.to_str().unwrap(), 1 << 20).unwrap();
        assert_eq!(d.bytes, b"{\"a\":1}\n");
    }

    #[test]
    fn limit_applies_after_decompression() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bomb.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 100_000]).unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        let e = read_document(p.to_str().unwrap(), 10_000).err().unwrap();
        assert!(e.to_string().contains("input limit"), "{e}");
    }

    #[test]
    fn a_bomb_is_refused_by_its_ratio_and_a_cut_stream_keeps_its_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bomb.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 50 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 100_000, "{}", bomb.len());
        std::fs::write(&p, &bomb).unwrap();
        let started = std::time::Instant::now();
        let e = read_document(p.to_str().unwrap(), 4 << 30).err().unwrap();
        assert!(matches!(e, IngestError::Bomb { .. }), "{e}");
        assert!(started.elapsed().as_secs() < 5);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..20_000 {
            writeln!(gz, "{{\"n\":{i}}}").unwrap();
        }
        let whole = gz.finish().unwrap();
        let cut = dir.path().join("cut.gz");
        std::fs::write(&cut, &whole[..whole.len() * 6 / 10]).unwrap();
        let d = read_document(cut.to_str().unwrap(), 1 << 30).unwrap();
        assert!(
            d.damage.as_deref().unwrap().contains("gzip stream broken"),
            "{:?}",
            d.damage
        );
        assert!(d.bytes.starts_with(b"{\"n\":0}\n") && d.bytes.len() > 1000);
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = read_document("/nonexistent/x.json", 10).err().unwrap();
        assert!(e.to_string().starts_with("/nonexistent/x.json"), "{e}");
    }
}

//! Whole-file reads with transparent gzip.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::IngestError;

/// A file's decompressed bytes and the name records will cite as origin.
pub struct FileDocument {
    /// Path as given (`-` for standard input).
    pub path: String,
    /// The content, gunzipped when it was gzip.
    pub bytes: Vec<u8>,
    /// Size on disk (compressed size for gzip), for throughput figures.
    pub raw_len: u64,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Read `path` (or standard input for `-`), gunzipping by content, not by
/// name, and refusing more than `limit` bytes after decompression so a gzip
/// bomb cannot exhaust memory.
pub fn read_document(path: &str, limit: u64) -> Result<FileDocument, IngestError> {
    let io_err = |source: io::Error| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let mut raw = Vec::new();
    if path == "-" {
        io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut raw)
            .map_err(io_err)?;
    } else {
        File::open(Path::new(path))
            .map_err(io_err)?
            .take(limit + 1)
            .read_to_end(&mut raw)
            .map_err(io_err)?;
    }
    let raw_len = raw.len() as u64;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        MultiGzDecoder::new(raw.as_slice())
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(io_err)?;
        out
    } else {
        raw
    };
    if bytes.len() as u64 > limit {
        return Err(IngestError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(FileDocument {
        path: path.to_owned(),
        bytes,
        raw_len,
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
    fn missing_file_names_the_path() {
        let e = read_document("/nonexistent/x.json", 10).err().unwrap();
        assert!(e.to_string().starts_with("/nonexistent/x.json"), "{e}");
    }
}

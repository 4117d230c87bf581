//! How the tables' Parquet files are written, and atomic files outside the
//! tables (the checkpoint, the tables' location).
//!
//! An atomic file is written under a hidden temporary name, synced, then
//! renamed into place (rename is atomic on one file system) and the
//! directory is synced. An interrupted write leaves only a hidden
//! `.partial` file; the next run removes those the layout before Delta
//! Lake left in table directories.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::StoreError;

const PARTIAL_SUFFIX: &str = ".partial";

/// Rows per row group: small enough that time and id pruning skip most of
/// a large file, large enough to compress well.
const ROW_GROUP_ROWS: usize = 32 * 1024;

/// Id columns looked up one value at a time, given bloom filters (sized
/// for a full row group at 1% false positives, folded down to what the
/// row group holds when it is written).
const BLOOM_COLUMNS: [&str; 4] = [
    "event_id",
    "finding_id",
    "agent_instance",
    "delegation_root",
];

/// Columns whose values are (nearly) all different: a dictionary would
/// only hash every value (a whole raw record) before giving up on it.
const PLAIN_COLUMNS: [&str; 5] = ["event_id", "finding_id", "raw", "origin", "input_messages"];

/// Long free text no query filters by range: minimum and maximum values
/// would only cost a comparison of every value as it is written and put
/// whole records into the files' metadata.
const UNSTATISTICAL_COLUMNS: [&str; 3] = ["raw", "origin", "input_messages"];

/// How every table's Parquet files are written: zstd, bounded row groups,
/// bloom filters on the id columns point lookups use. zstd level 1, not 3:
/// a replay of 100,000 CloudTrail records took 2.72 s instead of 3.06 s
/// (compression was a tenth of its time) for an `events` table 16% larger
/// (19.9 MB instead of 17.2 MB for 134 MB of records).
pub(crate) fn writer_properties(schema: &SchemaRef) -> Result<WriterProperties, StoreError> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| StoreError::Encode(e.to_string()))?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    // Point lookups (a finding, its evidence events, an instance's events
    // and edges) skip every row group whose bloom filter says the id is
    // not there, instead of decoding the whole table.
    for field in schema.fields() {
        let name = field.name().as_str();
        if PLAIN_COLUMNS.contains(&name) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
        if UNSTATISTICAL_COLUMNS.contains(&name) {
            props = props
                .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
        }
        if BLOOM_COLUMNS.contains(&name) {
            let col = ColumnPath::from(name);
            props = props
                .set_column_bloom_filter_enabled(col.clone(), true)
                .set_column_bloom_filter_max_ndv(col.clone(), ROW_GROUP_ROWS as u64)
                .set_column_bloom_filter_fpp(col, 0.01);
        }
    }
    Ok(props.build())
}

/// Remove `path`; a file that is not there is not an error.
pub fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Replace `path` with `bytes` atomically (write aside, sync, rename, sync
/// the directory): a crash leaves the old file or the new one, never half.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_file_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_file_atomic`] for contents written in parts by `write` (a large
/// file need not be assembled in memory first). Its writes are buffered.
pub fn write_file_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    write_aside(path, write)?.put_in_place()
}

/// The first half of [`write_file_atomic_with`]: the contents written by
/// `write` beside `path` and synced, not yet in its place. The caller
/// puts them there ([`WrittenAside::put_in_place`]) once whatever the file
/// must follow is durable; the slow part (writing and syncing a large file)
/// can so run beside that. Dropped unplaced (the epoch it belonged to
/// failed), the file aside is removed.
pub fn write_aside(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<WrittenAside, StoreError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}{PARTIAL_SUFFIX}"));
    let f = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, f);
    write(&mut buffered)
        .and_then(|()| buffered.flush())
        .map_err(|e| StoreError::io(&tmp, e))?;
    let f = buffered
        .into_inner()
        .map_err(|e| StoreError::io(&tmp, e.into_error()))?;
    f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
    let bytes = f.metadata().map(|m| m.len()).unwrap_or_default();
    Ok(WrittenAside {
        tmp,
        path: path.to_owned(),
        bytes,
    })
}

/// A file written and synced beside its place ([`write_aside`]).
#[derive(Debug)]
#[must_use = "the file is not in its place until put there"]
pub struct WrittenAside {
    /// Empty once put in place (nothing left aside to remove).
    tmp: PathBuf,
    path: PathBuf,
    bytes: u64,
}

impl WrittenAside {
    /// Replace the file at its place with this one (rename, then sync the
    /// directory): a crash leaves the old file or the new one, never half.
    /// A rename that fails leaves the file aside, removed with this.
    pub fn put_in_place(mut self) -> Result<(), StoreError> {
        fs::rename(&self.tmp, &self.path).map_err(|e| StoreError::io(&self.path, e))?;
        self.tmp = PathBuf::new();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(dir, e))
    }

    /// Where the file will be once put in place.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for WrittenAside {
    /// A file never put in place is of no use to anyone: leaving it would
    /// only hold its disk space until the next run's clean-up.
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Remove `.partial` files left by interrupted writes in `DIR/<table>/`.
pub fn remove_partials(data_dir: &Path, table: &str) -> Result<usize, StoreError> {
    let dir = data_dir.join(table);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(PARTIAL_SUFFIX) {
            fs::remove_file(entry.path()).map_err(|e| StoreError::io(&entry.path(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Written aside, the file is synced but not at its place: a reader
    /// (or a crash) still finds the old contents until it is put there.
    #[test]
    fn a_file_written_aside_replaces_the_old_one_only_once_put_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("checkpoint.bin");
        write_file_atomic(&path, b"old").unwrap();
        let aside = write_aside(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(aside.path(), path);
        aside.put_in_place().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let left: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("checkpoint.bin")]);
    }

    /// A write aside never put in place (its epoch failed) leaves nothing
    /// behind, neither at the place nor beside it.
    #[test]
    fn a_file_dropped_aside_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        let aside = write_aside(&path, |w| w.write_all(b"abandoned")).unwrap();
        assert_eq!(aside.bytes(), 9);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(aside);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_aside(&path, |w| w.write_all(b"kept"))
            .unwrap()
            .put_in_place()
            .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"kept");
    }

    /// A file that cannot be put in place (here a directory holds its
    /// place) is not left beside it either.
    #[test]
    fn a_file_that_cannot_be_put_in_place_leaves_nothing_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        fs::create_dir_all(path.join("occupied")).unwrap();
        let aside = write_aside(&path, |w| w.write_all(b"new")).unwrap();
        assert!(aside.put_in_place().is_err());
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("checkpoint.bin")]);
    }
}

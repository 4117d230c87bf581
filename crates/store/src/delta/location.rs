//! Where a data directory's tables live.
//!
//! By default under the data directory itself. `delegraph store init
//! --tables s3://bucket/prefix` records an object-storage location in
//! `DATA_DIR/tables.url` instead; every command that opens the data
//! directory then reads and writes the Delta tables there, while the
//! checkpoint, dead letters, triage log and silences stay in the local
//! directory (as Quickwit keeps its `data_dir` local beside an
//! `index_root_uri` on S3). Credentials, region and endpoint come from the
//! standard `AWS_*` variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), never from a file.
//!
//! Commits need the store to refuse a second write of the same log entry:
//! S3 and S3-compatible servers do with `If-None-Match: *`, which
//! `object_store` sends for delta-rs's create-only puts.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError};
use url::Url;

use crate::StoreError;

/// The file under a data directory naming where its tables live.
pub const LOCATION_FILE: &str = "tables.url";

/// The object-storage location recorded for `data_dir`, if any.
pub fn recorded_location(data_dir: &Path) -> Result<Option<Url>, StoreError> {
    let path = data_dir.join(LOCATION_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let url = parse_location(text.trim())
        .map_err(|why| StoreError::Storage(format!("{}: {why}", path.display())))?;
    register_s3();
    Ok(Some(url))
}

/// `s3://bucket/prefix`, with a trailing slash so tables join under it.
fn parse_location(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if url.scheme() != "s3" {
        return Err(format!(
            "{text:?}: only s3:// locations are supported (S3 or an S3-compatible server)"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no bucket"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Record `location` as where `data_dir`'s tables live. Refused when
/// tables already exist under the directory, or another location is
/// recorded (moving tables is a copy, not a setting).
pub fn record_location(data_dir: &Path, location: &str) -> Result<Url, StoreError> {
    let url = parse_location(location).map_err(StoreError::Storage)?;
    if let Some(existing) = recorded_location(data_dir)? {
        if existing == url {
            return Ok(url);
        }
        return Err(StoreError::Storage(format!(
            "{}: its tables already live at {existing}",
            data_dir.display()
        )));
    }
    let local: Vec<&str> = crate::TABLES
        .into_iter()
        .filter(|t| data_dir.join(t).join("_delta_log").is_dir())
        .collect();
    if !local.is_empty() {
        return Err(StoreError::Storage(format!(
            "{}: tables {} already live in the directory",
            data_dir.display(),
            local.join(", ")
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
    crate::write_file_atomic(&data_dir.join(LOCATION_FILE), url.as_str().as_bytes())?;
    register_s3();
    Ok(url)
}

/// Builds S3 stores for `s3://` tables from the `AWS_*` variables.
struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, deltalake::Path)> {
        use deltalake::logstore::object_store::aws::AmazonS3Builder;
        let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
        for (key, value) in &config.raw {
            if let Ok(k) = key.to_ascii_lowercase().parse() {
                builder = builder.with_config(k, value);
            }
        }
        let store = builder
            .build()
            .map_err(|e| DeltaTableError::Generic(format!("S3 store for {url}: {e}")))?;
        let prefix = deltalake::Path::from_url_path(url.path())
            .map_err(|e| DeltaTableError::Generic(format!("{url}: {e}")))?;
        Ok((Arc::new(store), prefix))
    }
}

/// The default log store over an S3 store (commits by create-only put).
struct S3Logs;

impl LogStoreFactory for S3Logs {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// Teach delta-rs the `s3://` scheme, once per process.
fn register_s3() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // Parsing a constant URL cannot fail.
        if let Ok(scheme) = Url::parse("s3://") {
            object_store_factories().insert(scheme.clone(), Arc::new(S3Stores));
            logstore_factories().insert(scheme, Arc::new(S3Logs));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_s3_with_a_bucket_and_end_in_a_slash() {
        let u = parse_location("s3://bucket/some/prefix").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.as_str(), "s3://bucket/some/prefix/");
        assert!(parse_location("gs://bucket/x").is_err());
        assert!(parse_location("s3:///x").is_err());
        assert!(parse_location("not a url").is_err());
    }
}

//! Registering the pipeline's Delta tables with a query session.
//!
//! Each table is read at the snapshot its log shows when the session opens:
//! files a writer adds, compacts or removes afterwards do not change what a
//! running query reads. The tables stay loaded for the life of the process
//! ([`TableCache`]) and are brought up to date from the log's new commits
//! only, so opening a session does not read a table's whole log again.
//! `agents` and `edges` are the retired instances'
//! table and the current-state table together (one `UNION ALL` view).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use super::shallow_filters::ShallowFilters;
use super::{delta_err, table_exists, table_url};
use crate::StoreError;

/// The tables a process has opened, kept loaded and refreshed from their
/// logs' new commits.
#[derive(Clone, Default)]
pub(crate) struct TableCache(Arc<tokio::sync::Mutex<HashMap<PathBuf, DeltaTable>>>);

impl TableCache {
    /// Table `name` at its latest version, if it exists.
    async fn latest(&self, data_dir: &Path, name: &str) -> Result<Option<DeltaTable>, StoreError> {
        let err = delta_err(name);
        let key = data_dir.join(name);
        let mut tables = self.0.lock().await;
        if let Some(table) = tables.get_mut(&key) {
            table.update_incremental(None).await.map_err(&err)?;
            return Ok(Some(table.clone()));
        }
        if !table_exists(data_dir, name).await? {
            return Ok(None);
        }
        let table = DeltaTable::try_from_url(table_url(data_dir, name)?)
            .await
            .map_err(&err)?;
        if table.version().is_none() {
            return Ok(None);
        }
        tables.insert(key, table.clone());
        Ok(Some(table))
    }
}

/// A provider over the latest snapshot of table `name`, if it exists, and
/// that snapshot's version.
pub(crate) async fn snapshot_provider(
    ctx: &SessionContext,
    cache: &TableCache,
    data_dir: &Path,
    name: &str,
) -> Result<Option<(Arc<dyn TableProvider>, u64)>, StoreError> {
    let Some(table) = cache.latest(data_dir, name).await? else {
        return Ok(None);
    };
    let version = table.version().unwrap_or(0);
    let provider = table
        .table_provider()
        .with_session(Arc::new(ctx.state()))
        .await
        .map_err(|e| StoreError::Storage(format!("table {name}: {e}")))?;
    Ok(Some((Arc::new(ShallowFilters(provider)), version)))
}

/// Register pipeline table `name` (with its current-state companion
/// `live`, if any); returns the snapshot versions registered, by table
/// (none: nothing was there to register).
pub(crate) async fn register_pipeline_table(
    ctx: &SessionContext,
    cache: &TableCache,
    data_dir: &Path,
    name: &str,
    live: Option<&str>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let err =
        |e: datafusion::error::DataFusionError| StoreError::Storage(format!("table {name}: {e}"));
    let mut versions = Vec::new();
    let retired = snapshot_provider(ctx, cache, data_dir, name)
        .await?
        .map(|(p, v)| {
            versions.push((name.to_owned(), v));
            p
        });
    let current = match live {
        Some(l) => snapshot_provider(ctx, cache, data_dir, l)
            .await?
            .map(|(p, v)| {
                versions.push((l.to_owned(), v));
                p
            }),
        None => None,
    };
    if let (Some(l), Some(p)) = (live, &current) {
        ctx.register_table(l, p.clone()).map_err(err)?;
    }
    let provider: Arc<dyn TableProvider> = match (retired, current) {
        (None, None) => return Ok(versions),
        (Some(p), None) | (None, Some(p)) => p,
        (Some(r), Some(c)) => {
            let live_name = live.unwrap_or(name);
            let current = LogicalPlanBuilder::scan(live_name, provider_as_source(c), None)
                .and_then(LogicalPlanBuilder::build)
                .map_err(err)?;
            let plan = LogicalPlanBuilder::scan(name, provider_as_source(r), None)
                .and_then(|b| b.union(current))
                .and_then(LogicalPlanBuilder::build)
                .map_err(err)?;
            Arc::new(ViewTable::new(plan, None))
        }
    };
    ctx.register_table(name, provider).map_err(err)?;
    Ok(versions)
}

//! Read-only SQL over the stored tables.
//!
//! Analysts and dashboards get full SELECT power over `events` (and the
//! other tables as they appear) but nothing that writes, defines tables,
//! changes settings or reads files outside the data directory, and every
//! query runs under a time and a memory limit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::execution::cache::cache_manager::{
    CacheManagerConfig, FileMetadataCache, FileStatisticsCache,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::result_cache::{ResultCache, fingerprint};
use crate::{StoreError, TABLES, events_schema};

/// Limits every query runs under.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Wall-clock limit for planning, execution and collecting the rows.
    pub timeout: Duration,
    /// Memory the queries sharing one [`QueryRuntime`] may reserve
    /// together: their operators (sorts, joins, aggregates) and the rows
    /// they collect.
    pub memory_bytes: usize,
    /// Most rows one query may return.
    pub max_rows: usize,
    /// Most bytes (in memory, as Arrow) of rows one query may return.
    pub max_result_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_bytes: 2 << 30,
            max_rows: 100_000,
            max_result_bytes: 256 << 20,
        }
    }
}

/// What every query of a process shares (a server's requests share it,
/// so parallel queries cannot each take the whole memory limit):
///
/// - the memory pool;
/// - the Parquet footers and page indexes read so far, and the files'
///   statistics: without them every request parses the footer of every
///   file it touches again (a cold detail panel spent most of its time
///   there). Entries are checked against the file's size and modification
///   time before use, so a replaced file (the live snapshot) is read anew;
/// - the answers of delegraph's own statements per store version
///   ([`crate::result_cache`]);
/// - the Delta tables, loaded once and brought up to date from their
///   logs' new commits when an engine opens.
///
/// File listings are not shared: each engine gets its own runtime, which
/// lists the tables when it opens, so an engine sees the files as they
/// are at that moment.
#[derive(Clone)]
pub struct QueryRuntime {
    pool: Arc<dyn MemoryPool>,
    file_metadata: Arc<FileMetadataCache>,
    file_statistics: Arc<FileStatisticsCache>,
    pub(crate) cache: Arc<ResultCache>,
    /// The Delta tables opened so far, refreshed from their logs.
    tables: crate::delta::TableCache,
}

/// Bytes of Parquet footers and page indexes kept per process.
const FILE_METADATA_CACHE_BYTES: usize = 64 << 20;
/// Bytes of per-file statistics kept per process.
const FILE_STATISTICS_CACHE_BYTES: usize = 16 << 20;

impl QueryRuntime {
    /// A pool of `limits.memory_bytes`, empty caches.
    pub fn new(limits: &QueryLimits) -> Self {
        Self {
            pool: Arc::new(GreedyMemoryPool::new(limits.memory_bytes)),
            file_metadata: Arc::new(
                DefaultCache::new(FILE_METADATA_CACHE_BYTES).with_name("delegraph file metadata"),
            ),
            file_statistics: Arc::new(
                DefaultCache::new(FILE_STATISTICS_CACHE_BYTES)
                    .with_name("delegraph file statistics"),
            ),
            cache: Arc::new(ResultCache::default()),
            tables: crate::delta::TableCache::default(),
        }
    }

    fn runtime(&self) -> Result<Arc<RuntimeEnv>, StoreError> {
        let caches = CacheManagerConfig::default()
            .with_file_metadata_cache(Some(self.file_metadata.clone()))
            .with_metadata_cache_limit(FILE_METADATA_CACHE_BYTES)
            .with_file_statistics_cache(Some(self.file_statistics.clone()))
            .with_file_statistics_cache_limit(FILE_STATISTICS_CACHE_BYTES);
        RuntimeEnvBuilder::new()
            .with_memory_pool(self.pool.clone())
            .with_cache_manager(caches)
            .build_arc()
            .map_err(|e| StoreError::Query(e.to_string()))
    }
}

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// A JSON array of row objects.
    Json,
    /// CSV with a header row.
    Csv,
}

/// A DataFusion session over one data directory, refusing anything but reads.
pub struct SqlEngine {
    ctx: SessionContext,
    limits: QueryLimits,
    pub(crate) runtime: QueryRuntime,
    /// The store's version when this engine opened.
    pub(crate) version: u64,
}

impl SqlEngine {
    /// Register every table present under `data_dir` (`events` always, empty
    /// when nothing was stored yet).
    pub async fn open(data_dir: &Path, limits: QueryLimits) -> Result<Self, StoreError> {
        Self::open_in(data_dir, limits, &QueryRuntime::new(&limits)).await
    }

    /// The same, with queries drawing on a shared memory pool.
    pub async fn open_in(
        data_dir: &Path,
        limits: QueryLimits,
        runtime: &QueryRuntime,
    ) -> Result<Self, StoreError> {
        // Tables by the snapshot versions registered: an answer is never
        // remembered under a version newer than what it was read from.
        let mut snapshots: Vec<(String, u64)> = Vec::new();
        // Filters run inside the Parquet scan (late materialization): a
        // lookup by id decodes the other columns only of the rows it
        // keeps, and the files' bloom filters skip row groups without it.
        let mut config = SessionConfig::new().with_information_schema(true);
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = true;
        parquet.reorder_filters = true;
        let ctx = SessionContext::new_with_config_rt(config, runtime.runtime()?);
        crate::layout::refuse_old_layout(data_dir)?;
        for table in TABLES {
            let live = crate::CURRENT_TABLES
                .iter()
                .find(|(t, _)| *t == table)
                .map(|(_, l)| *l);
            let registered =
                crate::delta::register_pipeline_table(&ctx, &runtime.tables, data_dir, table, live)
                    .await?;
            if !registered.is_empty() {
                snapshots.extend(registered);
                continue;
            }
            // Nothing stored yet: the table is there, empty, so queries
            // and views over it still plan.
            if let Some(schema) = known_schema(table) {
                let empty = MemTable::try_new(schema, vec![vec![]])
                    .map_err(|e| StoreError::Storage(e.to_string()))?;
                ctx.register_table(table, Arc::new(empty))
                    .map_err(|e| StoreError::Storage(e.to_string()))?;
            }
        }
        crate::triage_views::register(&ctx).await?;
        let version = fingerprint(&snapshots);
        Ok(Self {
            ctx,
            limits,
            runtime: runtime.clone(),
            version,
        })
    }

    /// Run one read-only statement written by a user and collect its rows;
    /// it is checked against the size and depth limits before planning.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
        crate::sql_guard::check_sql(sql)?;
        self.run(sql).await
    }

    /// Run one of delegraph's own statements (views, metrics): built with a
    /// flat structure (silences as one IN list, however many), so not
    /// refused for its length; its failure is never the caller's fault.
    pub async fn query_own(&self, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
        self.run(sql).await.map_err(|e| match e {
            StoreError::Query(m) | StoreError::Refused(m) => {
                StoreError::Storage(format!("delegraph's own query failed: {m}"))
            }
            other => other,
        })
    }

    /// Collect a statement's rows within the time limit. Tables are read
    /// at the snapshot registered when the engine opened: a writer's
    /// commits, compactions and VACUUMs (which deletes only files removed
    /// from the log longer ago than any query runs) never change the files
    /// under a running query.
    async fn run(&self, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
        tokio::time::timeout(self.limits.timeout, self.query_once(sql))
            .await
            .map_err(|_| StoreError::Timeout(self.limits.timeout))?
    }

    async fn query_once(&self, sql: &str) -> Result<Vec<RecordBatch>, StoreError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = self
            .ctx
            .sql_with_options(sql, options)
            .await
            .map_err(classify)?;
        let mut stream = df.execute_stream().await.map_err(classify)?;
        // The rows collected draw on the same pool as the operators, and
        // stop at the caps: a huge result fails fast instead of growing
        // outside every limit.
        let reservation = MemoryConsumer::new("sql result").register(&self.runtime.pool);
        let (mut batches, mut rows) = (Vec::new(), 0usize);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(classify)?;
            rows += batch.num_rows();
            if rows > self.limits.max_rows {
                return Err(StoreError::Refused(format!(
                    "more than {} rows; add a LIMIT or aggregate",
                    self.limits.max_rows
                )));
            }
            let size = batch.get_array_memory_size();
            if reservation.size() + size > self.limits.max_result_bytes {
                return Err(StoreError::Refused(format!(
                    "result larger than {} MiB; add a LIMIT, select fewer columns or aggregate",
                    self.limits.max_result_bytes >> 20
                )));
            }
            reservation.try_grow(size).map_err(classify)?;
            batches.push(batch);
        }
        Ok(batches)
    }

    /// Run a statement and render its rows as text.
    pub async fn query_to_string(
        &self,
        sql: &str,
        format: OutputFormat,
    ) -> Result<String, StoreError> {
        let batches = self.query(sql).await?;
        render(&batches, format)
    }

    /// Whether the store can be opened for queries (the tables are
    /// readable); runs nothing.
    pub async fn check(data_dir: &Path, limits: QueryLimits) -> Result<(), StoreError> {
        Self::open(data_dir, limits).await.map(|_| ())
    }
}

/// The schema of a table delegraph writes, so an empty table still has its columns.
fn known_schema(table: &str) -> Option<arrow::datatypes::SchemaRef> {
    match table {
        "events" | crate::EVIDENCE_TABLE => Some(events_schema()),
        crate::DEAD_LETTER_TABLE => Some(crate::dead_letters_schema()),
        "agents" => Some(crate::agents_schema()),
        "edges" => Some(crate::edges_schema()),
        "findings" => Some(crate::findings_schema()),
        crate::ACTIVITY_TABLE => Some(crate::activity_schema()),
        _ => None,
    }
}

/// Separate "you may not do that" and "that statement is wrong" from "the
/// store failed" and "memory is taken": the first two are the caller's to
/// fix (400), the others are not (500, or 503 to retry).
fn classify(e: datafusion::error::DataFusionError) -> StoreError {
    use datafusion::error::DataFusionError as E;
    let text = e.to_string();
    match e.find_root() {
        E::ResourcesExhausted(_) => return StoreError::Exhausted(text),
        E::ParquetError(_) | E::ObjectStore(_) | E::IoError(_) => {
            return StoreError::Storage(text);
        }
        _ => {}
    }
    let refused = ["not supported", "DDL", "DML", "Statement not supported"];
    if refused.iter().any(|r| text.contains(r)) {
        StoreError::Refused(format!("only read-only queries are allowed ({text})"))
    } else {
        StoreError::Query(text)
    }
}

/// Render batches as a table, JSON or CSV.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String, StoreError> {
    let enc = |e: arrow::error::ArrowError| StoreError::Encode(e.to_string());
    match format {
        OutputFormat::Table => {
            let shown = printable_batches(batches, |_| true).map_err(enc)?;
            arrow::util::pretty::pretty_format_batches(&shown)
                .map(|t| t.to_string())
                .map_err(enc)
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(Vec::new());
            for b in batches {
                w.write(b).map_err(enc)?;
            }
            w.finish().map_err(enc)?;
            let bytes = w.into_inner();
            let text = String::from_utf8(bytes).map_err(|e| StoreError::Encode(e.to_string()))?;
            Ok(if text.is_empty() { "[]".into() } else { text })
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            // Text columns only: numbers and times print as they always
            // did, and cannot carry an escape sequence.
            let text = |t: &DataType| {
                matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            };
            for b in printable_batches(batches, text).map_err(enc)? {
                w.write(&b).map_err(enc)?;
            }
            String::from_utf8(w.into_inner()).map_err(|e| StoreError::Encode(e.to_string()))
        }
    }
}

/// `batches` with the columns `pick` chooses turned into text with
/// control characters made visible ([`delegraph_model::printable`]): what
/// tables and CSV show people must not act on their terminal.
fn printable_batches(
    batches: &[RecordBatch],
    pick: impl Fn(&DataType) -> bool,
) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    let options = FormatOptions::default();
    batches
        .iter()
        .map(|b| {
            let schema = b.schema();
            let mut fields = Vec::with_capacity(b.num_columns());
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
            for (field, col) in schema.fields().iter().zip(b.columns()) {
                if !pick(field.data_type()) {
                    fields.push(field.as_ref().clone());
                    columns.push(col.clone());
                    continue;
                }
                let fmt = ArrayFormatter::try_new(col.as_ref(), &options)?;
                let text: StringArray = (0..col.len())
                    .map(|i| {
                        (!col.is_null(i)).then(|| {
                            delegraph_model::printable(&fmt.value(i).to_string()).into_owned()
                        })
                    })
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(text));
            }
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        })
        .collect()
}

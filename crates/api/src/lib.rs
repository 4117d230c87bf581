//! delegraph's HTTP API (axum, JSON, `/api/v1`): findings, one finding with
//! its evidence and chain, instance graphs (JSON and DOT), risk
//! leaderboards, read-only SQL, silences, health, Prometheus metrics and an
//! OpenAPI document. Bearer tokens with roles guard every data route.
//!
//! The only crate that knows axum; it reads through `delegraph-store`.

mod auth;
mod error;
mod metrics;
mod openapi;
mod openapi_schemas;
mod openapi_triage;
mod routes;
mod rules;
mod server;
mod silences;
mod triage;
mod ui;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use delegraph_store::{QueryLimits, QueryRuntime, SqlEngine};

pub use auth::{Role, Tokens, digest};
pub use error::ApiError;
pub use metrics::Metrics;
pub use openapi::openapi;
pub use rules::default_rules_dir;
pub use server::{ServeLimits, serve};
pub use silences::{Silence, SilenceMatch};
pub use ui::{ChainGraph, chain_svg, finding_chain_svg};

/// The wall clock, ns since the epoch (when a change was made, when a
/// silence ends).
pub(crate) fn now_ns() -> i64 {
    delegraph_model::Timestamp::now().nanos()
}

/// Queries one server runs at once (each may use every core).
const MAX_RUNNING_QUERIES: usize = 4;
/// How long a request waits for a query slot before it is turned away.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often `serve` refreshes the store's gauges for `/metrics`.
pub const STORE_GAUGES_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);
/// How soon a failed count of the store's gauges is tried again.
pub const STORE_GAUGES_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// A SQL engine holding a query slot.
struct Engine {
    engine: SqlEngine,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl std::ops::Deref for Engine {
    type Target = SqlEngine;
    fn deref(&self) -> &SqlEngine {
        &self.engine
    }
}

/// How long a successful open of the store answers `/healthz`.
const HEALTH_OPEN_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    tokens: Tokens,
    limits: QueryLimits,
    /// One memory pool for every request's queries.
    runtime: QueryRuntime,
    /// Queries running at once; more wait briefly, then get 503.
    running: Arc<tokio::sync::Semaphore>,
    /// The store's gauges for `/metrics`, as of the last refresh: a scrape
    /// reads memory only, so a scrape flood runs no query.
    gauges: std::sync::RwLock<String>,
    /// Whether the last refresh of the gauges could read the store:
    /// `/healthz` reports it without reading anything itself.
    store_readable: std::sync::atomic::AtomicBool,
    /// When `/healthz` last opened the store: checks within
    /// [`HEALTH_OPEN_REUSE`] of it answer from that open, and checks that
    /// arrive together wait for one open instead of each opening every
    /// table (a flood of health checks cost more than one of queries).
    health_opened: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// Opens `/healthz` has made.
    health_opens: std::sync::atomic::AtomicU64,
    metrics: Metrics,
    silences: tokio::sync::Mutex<()>,
    /// Every finding's triage state, loaded from the log on first use;
    /// held for the whole of a change, so changes land one after another.
    triage: tokio::sync::Mutex<Option<triage::TriageBook>>,
    /// Held from an upload's check to its write, so two uploads cannot
    /// each pass against a directory without the other.
    rule_files: tokio::sync::Mutex<()>,
    /// The triage page's signed-in browsers.
    ui_sessions: ui::Sessions,
    live: Option<LiveMetrics>,
    rules_dir: PathBuf,
    /// Grafana's address as a browser reaches it, for the detail panel's
    /// link to the findings dashboard; none, no link.
    grafana_url: Option<String>,
}

/// Renders the metrics of whatever feeds the store in this process (the
/// streaming loop), appended to `/metrics`.
pub type LiveMetrics = Arc<dyn Fn(&mut String) + Send + Sync>;

impl AppState {
    /// Serve the store under `data_dir` to holders of `tokens`.
    pub fn new(data_dir: PathBuf, tokens: Tokens, limits: QueryLimits) -> Self {
        let runtime = QueryRuntime::new(&limits);
        Self {
            inner: Arc::new(Inner {
                tokens,
                limits,
                runtime,
                running: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING_QUERIES)),
                gauges: std::sync::RwLock::new(String::new()),
                store_readable: std::sync::atomic::AtomicBool::new(true),
                health_opened: tokio::sync::Mutex::new(None),
                health_opens: std::sync::atomic::AtomicU64::new(0),
                metrics: Metrics::default(),
                silences: tokio::sync::Mutex::new(()),
                triage: tokio::sync::Mutex::new(None),
                rule_files: tokio::sync::Mutex::new(()),
                ui_sessions: ui::Sessions::default(),
                live: None,
                grafana_url: None,
                rules_dir: default_rules_dir(&data_dir),
                data_dir,
            }),
        }
    }

    /// The same, with the ingest loop's metrics on `/metrics`.
    pub fn with_live_metrics(
        data_dir: PathBuf,
        tokens: Tokens,
        limits: QueryLimits,
        live: LiveMetrics,
    ) -> Self {
        let mut st = Self::new(data_dir, tokens, limits);
        if let Some(inner) = Arc::get_mut(&mut st.inner) {
            inner.live = Some(live);
        }
        st
    }

    /// Keep rule files in `dir` (default: DATA_DIR/rules).
    pub fn with_rules_dir(mut self, dir: PathBuf) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.rules_dir = dir;
        }
        self
    }

    /// Link the detail panel to the findings dashboard of the Grafana at
    /// `url` (`http://` or `https://`, as a browser reaches it). Like every
    /// `with_` setting, before the state is cloned.
    pub fn with_grafana_url(mut self, url: String) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.grafana_url = Some(url);
        }
        self
    }

    /// Grafana's address, when configured.
    pub(crate) fn grafana_url(&self) -> Option<&str> {
        self.inner.grafana_url.as_deref()
    }

    /// Append the ingest loop's metrics, if one runs here.
    pub(crate) fn render_live(&self, out: &mut String) {
        if let Some(f) = &self.inner.live {
            f(out);
        }
    }

    /// A SQL engine over the store as it is now (new files included),
    /// holding one of the [`MAX_RUNNING_QUERIES`] slots while it lives; a
    /// request that waits [`QUEUE_WAIT`] for a slot is turned away (503
    /// with `Retry-After`) rather than left to time out.
    async fn engine(&self) -> Result<Engine, ApiError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, self.inner.running.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Busy)?
            .map_err(|_| ApiError::Busy)?;
        let engine =
            SqlEngine::open_in(&self.inner.data_dir, self.inner.limits, &self.inner.runtime)
                .await?;
        Ok(Engine {
            engine,
            _slot: permit,
        })
    }

    /// The triage book, loaded from the store's log if not yet, locked.
    async fn triage_book(
        &self,
    ) -> Result<tokio::sync::MappedMutexGuard<'_, triage::TriageBook>, ApiError> {
        let mut book = self.inner.triage.lock().await;
        if book.is_none() {
            *book = Some(triage::TriageBook::load(&self.inner.data_dir)?);
        }
        tokio::sync::MutexGuard::try_map(book, Option::as_mut)
            .map_err(|_| ApiError::Internal("triage log not loaded".into()))
    }

    /// Count the store's events and findings again for `/metrics` (the
    /// server calls this every [`STORE_GAUGES_PERIOD`], not per scrape).
    pub async fn refresh_store_gauges(&self) -> Result<(), ApiError> {
        let counted = routes::store_gauges(self).await;
        // Only a failure to read the files says the store is damaged; a
        // count that waited for a slot, ran out of time or of memory on a
        // big store says nothing about them.
        let readable = match &counted {
            Ok(_) => Some(true),
            Err(ApiError::Store(delegraph_store::StoreError::Storage(_))) => Some(false),
            Err(_) => None,
        };
        if let Some(readable) = readable {
            self.inner
                .store_readable
                .store(readable, std::sync::atomic::Ordering::Relaxed);
        }
        let text = counted?;
        if let Ok(mut g) = self.inner.gauges.write() {
            *g = text;
        }
        Ok(())
    }

    /// Refresh the store's gauges now and then every
    /// [`STORE_GAUGES_PERIOD`], for as long as the returned future runs.
    /// A failed count is tried again after [`STORE_GAUGES_RETRY`] (a
    /// stream creates the data directory only as it starts), so the
    /// gauges do not stay missing for a whole period.
    pub async fn keep_store_gauges_fresh(self) {
        loop {
            let wait = match self.refresh_store_gauges().await {
                Ok(()) => STORE_GAUGES_PERIOD,
                Err(e) => {
                    tracing::warn!(error = %e, "counting the store for /metrics");
                    STORE_GAUGES_RETRY
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The store's gauges as of the last refresh.
    pub(crate) fn store_gauges(&self) -> String {
        self.inner
            .gauges
            .read()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Whether the store can be opened (no query, no slot) and its files
    /// could be read at the last periodic count.
    async fn check_store(&self) -> Result<(), ApiError> {
        {
            let mut opened = self.inner.health_opened.lock().await;
            if !opened.is_some_and(|at| at.elapsed() < HEALTH_OPEN_REUSE) {
                self.inner
                    .health_opens
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                SqlEngine::check(&self.inner.data_dir, self.inner.limits).await?;
                *opened = Some(std::time::Instant::now());
            }
        }
        if !self
            .inner
            .store_readable
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(ApiError::Unhealthy(
                "the store's files could not be read at the last check; the server log has the details"
                    .into(),
            ));
        }
        Ok(())
    }

    /// How many times `/healthz` has opened the store.
    pub fn health_store_opens(&self) -> u64 {
        self.inner
            .health_opens
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The data directory it serves.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }

    /// Counters shared with the serving loop.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

/// The caller of a data route, by bearer token.
pub struct Caller {
    /// Its role.
    pub role: Role,
    /// The token's name (for audit fields such as a silence's author).
    pub name: String,
}

impl Caller {
    /// Refuse unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(self.role.as_str()))
        }
    }
}

/// Extractors for a caller holding at least a role, checked from the
/// headers before any body is read: a body from a caller without the role
/// is refused (403) unread.
macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require($role)?;
                Ok($name(caller))
            }
        }
    };
}

role_extractor!(
    /// A caller who may triage.
    Analyst,
    Role::Analyst
);
role_extractor!(
    /// A caller who may write rules.
    Engineer,
    Role::Engineer
);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (role, name) = state.inner.tokens.role(header)?;
        Ok(Caller { role, name })
    }
}

/// Every route, with its state. `/metrics` here needs a bearer token of
/// any role; [`ops_router`] serves it without one on a separate address.
pub fn router(state: AppState) -> Router {
    layered(routes::all().merge(ui::routes()), state)
}

/// `/healthz` and `/metrics` without tokens, for an operations address
/// that only the monitoring network reaches (`[api] metrics_listen`). Its
/// connections are its own, so probes still answer while the data
/// address is flooded.
pub fn ops_router(state: AppState) -> Router {
    layered(routes::ops(), state)
}

fn layered(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::count,
        ))
        .layer(axum::middleware::from_fn(routes::hygiene))
        .with_state(state)
}

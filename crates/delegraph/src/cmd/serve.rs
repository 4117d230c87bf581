//! `delegraph serve`: the HTTP API over a data directory and, with a
//! `[kafka]` section in its config, the streaming pipeline that fills it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use delegraph_api::{AppState, Role, ServeLimits, Tokens, router};
use delegraph_pipeline::{StreamMetrics, run_stream};
use delegraph_store::QueryLimits;

use super::serve_config::{ApiSection, ServeConfig};

/// Arguments of `delegraph serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Service settings (`delegraph.toml`: data_dir, [api], [kafka],
    /// [pipeline]; see delegraph.example.toml). Flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory holding the tables (API only, no Kafka).
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Token file (`[[token]] name, role = "viewer"|"analyst"|"engineer", sha256`);
    /// `delegraph token` makes entries.
    #[arg(long, conflicts_with = "token_env")]
    tokens: Option<PathBuf>,
    /// Take a single engineer token from this environment variable instead
    /// (the demo's way).
    #[arg(long)]
    token_env: Option<String>,
    /// Also serve /healthz and /metrics without a token on this address
    /// (for the monitoring network); on `--listen`, /metrics needs a token.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Seconds a SQL query may run (default 30).
    #[arg(long)]
    query_timeout: Option<u64>,
    /// Where rule files are listed from and uploaded to (default:
    /// DATA_DIR/rules).
    #[arg(long)]
    rules_dir: Option<PathBuf>,
    /// Grafana as a browser reaches it (`http://127.0.0.1:3000`): the
    /// triage page links each finding to the findings dashboard there.
    #[arg(long)]
    grafana_url: Option<String>,
    /// Check the settings (files it names included), print what would
    /// run, and exit.
    #[arg(long)]
    check: bool,
}

fn load_tokens(api: &ApiSection) -> anyhow::Result<Tokens> {
    match (&api.tokens, &api.token_env) {
        (Some(path), _) => Tokens::from_toml(&super::settings::read_text(path)?)
            .map_err(|e| anyhow::anyhow!("{}: invalid token file: {e}", path.display())),
        (None, Some(var)) => {
            let token =
                std::env::var(var).with_context(|| format!("environment variable {var}"))?;
            Ok(Tokens::single("demo", Role::Engineer, &token))
        }
        (None, None) => {
            anyhow::bail!("give --tokens FILE or --token-env VAR: no token, no data")
        }
    }
}

/// The settings file with the flags applied over it.
fn settings(a: Args) -> anyhow::Result<ServeConfig> {
    let mut c = match (&a.config, a.data_dir) {
        (Some(path), _) => ServeConfig::load(path)?,
        (None, Some(data_dir)) => ServeConfig {
            data_dir,
            api: ApiSection::default(),
            kafka: None,
            pipeline: Default::default(),
            decoders: Default::default(),
            store: Default::default(),
        },
        (None, None) => anyhow::bail!("give --config FILE or --data-dir DIR"),
    };
    if let Some(l) = a.listen {
        c.api.listen = l;
    }
    if a.tokens.is_some() || a.token_env.is_some() {
        c.api.tokens = a.tokens;
        c.api.token_env = a.token_env;
    }
    if let Some(m) = a.metrics_listen {
        c.api.metrics_listen = Some(m);
    }
    if let Some(t) = a.query_timeout {
        c.api.query_timeout_secs = t;
    }
    if let Some(d) = a.rules_dir {
        c.api.rules_dir = Some(d);
    }
    if let Some(g) = a.grafana_url {
        c.api.grafana_url = Some(g);
    }
    c.api.check_grafana_url()?;
    Ok(c)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let check = a.check;
    let config = settings(a)?;
    if check {
        let stream = config.stream()?;
        println!("data_dir: {}", config.data_dir.display());
        println!("api: http://{}/api/v1", config.api.listen);
        if let Some(m) = config.api.metrics_listen {
            println!("metrics (no token): http://{m}/metrics");
        }
        if let Some(g) = &config.api.grafana_url {
            println!("grafana links: {g}");
        }
        if let Some(tables) = &config.store.tables {
            println!("tables: {tables}");
        }
        let (_, upkeep_every) = config.store.upkeep()?;
        match upkeep_every {
            Some(every) => println!("store upkeep: every {}s", every.as_secs()),
            None => println!("store upkeep: off"),
        }
        match stream {
            Some(s) => {
                let topics: Vec<&str> = s.topics.iter().map(|t| t.topic.as_str()).collect();
                println!(
                    "kafka: {} group {} topics {}",
                    s.kafka.brokers,
                    s.kafka.group_id,
                    topics.join(", ")
                );
                match &s.findings_topic {
                    Some(t) => println!(
                        "findings: to {t}, {}",
                        match s.findings_release {
                            delegraph_pipeline::FindingsRelease::AtSeal =>
                                "once their epoch's tables are committed",
                            delegraph_pipeline::FindingsRelease::AsFound => "as found",
                        }
                    ),
                    None => println!("findings: not published to Kafka"),
                }
            }
            None => println!("kafka: none (API only)"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(tables) = &config.store.tables {
        delegraph_store::record_location(&config.data_dir, tables)?;
    }
    let tokens = load_tokens(&config.api)?;
    let limits = QueryLimits {
        timeout: std::time::Duration::from_secs(config.api.query_timeout_secs),
        ..QueryLimits::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(tokio::sync::Notify::new());
    {
        let (stop, wake) = (stop.clone(), wake.clone());
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::Relaxed);
            wake.notify_one();
        })
        .context("installing the SIGINT/SIGTERM handler")?;
    }
    let (upkeep, upkeep_every) = config.store.upkeep()?;
    let upkeep = match upkeep_every {
        Some(every) => Some(super::serve_upkeep::spawn(
            config.data_dir.clone(),
            upkeep,
            every,
            stop.clone(),
        )?),
        None => None,
    };
    let metrics = Arc::new(StreamMetrics::default());
    let stream = match config.stream()? {
        Some(stream_cfg) => {
            let (stop, wake, metrics) = (stop.clone(), wake.clone(), metrics.clone());
            Some(
                std::thread::Builder::new()
                    .name("ingest".into())
                    .spawn(move || {
                        let result = run_stream(stream_cfg, stop.clone(), metrics);
                        // The API stops with the stream, whatever ended it.
                        stop.store(true, Ordering::Relaxed);
                        wake.notify_one();
                        result
                    })?,
            )
        }
        None => None,
    };
    let live: delegraph_api::LiveMetrics = {
        let m = metrics.clone();
        Arc::new(move |out: &mut String| m.render(out))
    };
    let state = if stream.is_some() {
        AppState::with_live_metrics(config.data_dir.clone(), tokens, limits, live)
    } else {
        AppState::new(config.data_dir.clone(), tokens, limits)
    };
    let state = match &config.api.rules_dir {
        Some(dir) => state.with_rules_dir(dir.clone()),
        None => state,
    };
    let state = match &config.api.grafana_url {
        Some(url) => state.with_grafana_url(url.clone()),
        None => state,
    };
    let app = router(state.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (listen, metrics_listen) = (config.api.listen, config.api.metrics_listen);
    let served = rt.block_on(async {
        if let Some(addr) = metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} (metrics_listen)"))?;
            eprintln!(
                "delegraph /healthz and /metrics (no token) on http://{}",
                listener.local_addr()?
            );
            let ops = delegraph_api::ops_router(state.clone());
            let limits = ServeLimits::default();
            tokio::spawn(delegraph_api::serve(listener, ops, limits, std::future::pending()));
        }
        // Ends with the runtime.
        tokio::spawn(state.keep_store_gauges_fresh());
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "delegraph API on http://{}/api/v1 (OpenAPI: /api/v1/openapi.json, metrics with a token: /metrics)",
            listener.local_addr()?
        );
        delegraph_api::serve(listener, app, ServeLimits::default(), async move {
            wake.notified().await
        })
        .await;
        anyhow::Ok(())
    });
    // Stop the stream too if the API ended first (bind error).
    stop.store(true, Ordering::Relaxed);
    if let Some(handle) = upkeep {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("the upkeep thread panicked"))?;
    }
    if let Some(handle) = stream {
        let stats = handle
            .join()
            .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))?
            .context("streaming from Kafka")?;
        eprintln!("stream stopped; this run:\n{stats}");
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

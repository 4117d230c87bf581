//! `delegraph serve`: the HTTP API over a data directory. (Kafka sources
//! join this command; today it serves what replays stored.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use delegraph_api::{AppState, Role, Tokens, router};
use delegraph_store::QueryLimits;

/// Arguments of `delegraph serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory holding the tables.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Token file (`[[token]] name, role = "analyst"|"engineer", sha256`);
    /// `delegraph token` makes entries.
    #[arg(long, conflicts_with = "token_env")]
    tokens: Option<PathBuf>,
    /// Take a single engineer token from this environment variable instead
    /// (the demo's way).
    #[arg(long)]
    token_env: Option<String>,
    /// Seconds a SQL query may run.
    #[arg(long, default_value_t = 30)]
    query_timeout: u64,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let tokens = match (&a.tokens, &a.token_env) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Tokens::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: invalid token file: {e}", path.display()))?
        }
        (None, Some(var)) => {
            let token =
                std::env::var(var).with_context(|| format!("environment variable {var}"))?;
            Tokens::single("demo", Role::Engineer, &token)
        }
        (None, None) => anyhow::bail!("give --tokens FILE or --token-env VAR: no token, no data"),
    };
    let limits = QueryLimits {
        timeout: std::time::Duration::from_secs(a.query_timeout),
        ..QueryLimits::default()
    };
    let app = router(AppState::new(a.data_dir.clone(), tokens, limits));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        eprintln!(
            "delegraph API on http://{}/api/v1 (OpenAPI: /api/v1/openapi.json, metrics: /metrics)",
            listener.local_addr()?
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
            .context("serving")?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM (the handler runs on its own thread and wakes the
/// server, which then stops accepting and finishes requests in flight).
async fn shutdown() {
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let wake = stop.clone();
    if ctrlc::set_handler(move || wake.notify_one()).is_err() {
        // Another handler is installed: serve until killed.
        std::future::pending::<()>().await;
    }
    stop.notified().await;
}

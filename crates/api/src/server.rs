//! The listening loop. `axum::serve` sets no timer on its connections, so a
//! client that opens a connection and trickles its request headers (or
//! never sends any) holds it for ever: two hundred of them exhausted a
//! server. Here every connection is HTTP/1 with a header-read timeout that
//! also closes idle keep-alive connections, connections are capped, and one
//! over the cap is answered 503 at once rather than queued.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// What one server allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Time a client has to send a request's headers, and that an idle
    /// keep-alive connection stays open.
    pub header_read: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Longest a connection lives, whatever it does.
    pub max_connection_age: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            max_connections: 512,
            max_connection_age: Duration::from_secs(600),
        }
    }
}

/// Serve `app` on `listener` until `shutdown` completes; then stop
/// accepting and give open connections a moment to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut last_refusal_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: pause, go on.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream, &mut last_refusal_logged, limits.max_connections);
            continue;
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(limits.max_connection_age, connection).await;
        });
    }
    // In-flight requests get a moment; idle connections are not waited for.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(2), slots.acquire_many(all)).await;
}

/// Answer a connection over the cap with a 503 the client can act on
/// (Retry-After) instead of a reset, then close it: at most a second of
/// trying, off the accept loop; refusals are logged at most once a second.
fn refuse(mut stream: TcpStream, last_logged: &mut Option<Instant>, max: usize) {
    if last_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
        tracing::warn!(max, "connections over the cap are answered 503");
        *last_logged = Some(Instant::now());
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let body = r#"{"error":"too many connections; retry shortly"}"#;
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await
        })
        .await;
    });
}

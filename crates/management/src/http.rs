//! The HTTP connection loop of the management door: hyper's HTTP/1 under axum's router, with
//! what a broker's door needs and `axum::serve` lacks — a deadline for a request's head (a
//! client that sends half a request and waits is dropped, rather than holding its socket
//! forever), a bound on open HTTP connections, and a graceful shutdown that lets answers in
//! progress finish for a moment.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::{Service, ServiceExt};

/// How long a client may take to send a request's head (line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP connections served at once; more are closed as they come, with a log line. Room for
/// the 1,000 test-control waits a test suite may hold open (`/api/warren/wait/...`) beside the
/// rest of the API; each idle connection holds a few KiB of buffers.
pub const MAX_CONNECTIONS: usize = 2048;

/// How long answers in progress may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

type Request = hyper::Request<Incoming>;

/// Serves `app` on `listener` until `shutdown` turns true. Each request carries the client's
/// address (`ConnectInfo`), which the loopback-only users are checked against.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()>
where
    S: Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was accepted: the
                    // listener goes on.
                    tracing::warn!(%error, "management API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, "management API: {MAX_CONNECTIONS} connections open already; closing this one");
            continue;
        };
        let app = app.clone();
        let service = tower::service_fn(move |mut request: Request| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "management API: connection ended");
            }
            drop(slot);
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
    Ok(())
}

/// Until `shutdown` turns true (or its sender is gone: the server is going away too).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

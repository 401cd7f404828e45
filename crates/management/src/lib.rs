//! warren-management: the management door. RabbitMQ's management HTTP API (`/api/...`, the
//! paths, JSON, status codes and authorisation of RabbitMQ 3.x's management plugin) and its
//! Prometheus endpoint (`/metrics`), served by axum over the broker's model: they read the
//! model's snapshots and act through its verbs, as an AMQP session does, and hold no state of
//! their own but the samples that rates are computed from.
//!
//! Where things are: [`routes`] maps paths to handlers, one module per kind of object;
//! [`render`] turns snapshots into RabbitMQ's JSON; [`listing`] sorts, pages and picks the
//! columns of a list; [`path`] reads request paths as RabbitMQ does; [`auth`] is HTTP basic
//! auth and the user tags; [`stats`] samples the counters for rates; [`prometheus`] is the
//! metrics endpoint.

pub mod auth;
pub mod error;
pub mod http;
pub mod listing;
pub mod page;
pub mod path;
pub mod process;
pub mod prometheus;
pub mod render;
pub mod routes;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use warren_broker::Broker;

/// What the handlers share: the broker, where its doors listen, and the rate samples.
#[derive(Debug)]
pub struct Context {
    pub broker: Arc<Broker>,
    pub listeners: Listeners,
    /// Where the memory alarm goes off (the node's `mem_limit`), if anywhere.
    pub memory_limit: Option<u64>,
    pub started: Instant,
    pub started_at: SystemTime,
    pub samples: stats::Samples,
}

/// Where the broker's doors listen, as `GET /api/overview` lists them and the port-listener
/// health check tests them.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    pub amqp: Vec<SocketAddr>,
    pub amqps: Vec<SocketAddr>,
    pub management: Option<SocketAddr>,
    pub prometheus: Option<SocketAddr>,
}

impl Context {
    pub fn new(broker: Arc<Broker>, listeners: Listeners, memory_limit: Option<u64>) -> Arc<Self> {
        Arc::new(Context {
            broker,
            listeners,
            memory_limit,
            started: Instant::now(),
            started_at: SystemTime::now(),
            samples: stats::Samples::default(),
        })
    }
}

/// Serves the management API on `listener` until `shutdown` turns true. Samples the counters
/// for rates meanwhile (only while the API is served: the AMQP path pays nothing).
pub async fn serve_api(
    listener: TcpListener,
    context: Arc<Context>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let sampler = tokio::spawn(stats::sample_every_interval(
        Arc::clone(&context),
        shutdown.clone(),
    ));
    // Paths are read as RabbitMQ reads them (a trailing slash dropped, an empty exchange
    // name the default exchange's) before routing.
    // RabbitMQ's `Allow` and `OPTIONS` are answered around the router, which writes `Allow` last.
    let app = axum::middleware::from_fn(routes::methods_as_rabbitmq).layer(routes::api(context));
    let app = tower::ServiceBuilder::new()
        .map_request(path::as_rabbitmq)
        .map_request(|request: hyper::Request<hyper::body::Incoming>| {
            request.map(axum::body::Body::new)
        })
        .service(app);
    let served = http::serve(listener, app, shutdown).await;
    sampler.abort();
    served
}

/// Serves Prometheus's `/metrics` and `/metrics/per-object` on `listener`.
pub async fn serve_metrics(
    listener: TcpListener,
    context: Arc<Context>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    http::serve(listener, prometheus::routes(context), shutdown).await
}

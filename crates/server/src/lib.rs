//! warren-server: Warren on tokio. Listeners, one task per connection, heartbeats, batched
//! writes, graceful shutdown, and the handle a program or a test embeds the broker with:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = warren_server::Server::builder().bind("127.0.0.1:0".parse().unwrap()).start().await?;
//! println!("amqp://guest:guest@{}/", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod connection;
mod handshakes;
mod listener;
mod memory;
mod tls;

pub use handshakes::DEFAULT_MAX_HANDSHAKES;
pub use memory::{parse_size, Watermark};
pub use tls::{TlsConfig, TlsError, DEFAULT_TLS_PORT};
pub use warren_broker::Limits;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use warren_broker::{Broker, BrokerConfig};
use warren_management::{Context, Listeners};

use crate::handshakes::Handshakes;

/// How long a client may take from TCP connect to `connection.open` (RabbitMQ: 10 s).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the connection tasks.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    pub handshake_timeout: Duration,
    pub memory_high_watermark: Watermark,
    /// How many connections may be between TCP accept and `connection.open` at once.
    pub max_handshakes: usize,
}

pub struct Server;

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addresses: Vec::new(),
            listeners: Vec::new(),
            tls_addresses: Vec::new(),
            tls_listeners: Vec::new(),
            tls: None,
            broker: BrokerConfig::default(),
            management: None,
            prometheus: None,
            url_credentials: ("guest".into(), "guest".into()),
            settings: ConnectionSettings {
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                memory_high_watermark: Watermark::default(),
                max_handshakes: DEFAULT_MAX_HANDSHAKES,
            },
        }
    }
}

pub struct ServerBuilder {
    addresses: Vec<SocketAddr>,
    listeners: Vec<TcpListener>,
    tls_addresses: Vec<SocketAddr>,
    tls_listeners: Vec<TcpListener>,
    tls: Option<TlsConfig>,
    broker: BrokerConfig,
    /// Where the management HTTP API listens, if anywhere.
    management: Option<SocketAddr>,
    /// Where Prometheus's `/metrics` listens, if anywhere.
    prometheus: Option<SocketAddr>,
    /// Who [`ServerHandle::amqp_url`] logs in as (the broker keeps only password hashes).
    url_credentials: (String, String),
    settings: ConnectionSettings,
}

impl ServerBuilder {
    /// Listens on `address` (port 0 picks a free port; see [`ServerHandle::local_addr`]).
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.addresses.push(address);
        self
    }

    /// Serves on a listener the caller has bound already.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Listens for amqps (AMQP over TLS) on `address`; needs [`ServerBuilder::tls`].
    pub fn bind_tls(mut self, address: SocketAddr) -> Self {
        self.tls_addresses.push(address);
        self
    }

    /// Serves amqps on a listener the caller has bound already; needs [`ServerBuilder::tls`].
    pub fn tls_listener(mut self, listener: TcpListener) -> Self {
        self.tls_listeners.push(listener);
        self
    }

    /// Serves RabbitMQ's management HTTP API on `address` (port 0 picks a free port; see
    /// [`ServerHandle::management_url`]). Off unless asked for.
    pub fn management(mut self, address: SocketAddr) -> Self {
        self.management = Some(address);
        self
    }

    /// Serves Prometheus metrics (`/metrics`, `/metrics/per-object`) on `address`. Off unless
    /// asked for.
    pub fn prometheus(mut self, address: SocketAddr) -> Self {
        self.prometheus = Some(address);
        self
    }

    /// The certificate and key of the amqps listeners.
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Replaces the users (guest/guest by default) with this one, with every permission on
    /// the vhost `/`.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        let (name, password) = (name.into(), password.into());
        self.replace_config(BrokerConfig::single_user(name.clone(), &password));
        self.url_credentials = (name, password);
        self
    }

    /// Users, vhosts and permissions (e.g. from a definitions file), replacing guest/guest.
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.replace_config(config);
        self
    }

    /// Users, vhosts and permissions change; the limits set on this builder stay.
    fn replace_config(&mut self, config: BrokerConfig) {
        let limits = std::mem::take(&mut self.broker.limits);
        self.broker = BrokerConfig { limits, ..config };
    }

    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings.handshake_timeout = timeout;
        self
    }

    /// Where the memory alarm goes off (default: 0.4 of RAM, as RabbitMQ).
    pub fn memory_high_watermark(mut self, watermark: Watermark) -> Self {
        self.settings.memory_high_watermark = watermark;
        self
    }

    /// The resource limits (RabbitMQ's defaults unless set): `channel_max`, the largest
    /// message, consumers per channel, and the connections and queues of each vhost.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.broker.limits = limits;
        self
    }

    /// How many connections may be in the handshake (TCP accept to `connection.open`) at
    /// once; newer ones are closed at once (default [`DEFAULT_MAX_HANDSHAKES`]).
    pub fn max_handshakes(mut self, max: usize) -> Self {
        self.settings.max_handshakes = max;
        self
    }

    /// Binds every address and starts serving on the current tokio runtime.
    pub async fn start(mut self) -> io::Result<ServerHandle> {
        let wants_tls = !self.tls_addresses.is_empty() || !self.tls_listeners.is_empty();
        if self.addresses.is_empty() && self.listeners.is_empty() && !wants_tls {
            self.addresses
                .push(SocketAddr::from(([127, 0, 0, 1], 5672)));
        }
        let tls = match (&self.tls, wants_tls) {
            (Some(tls), true) => Some(tls.acceptor.clone()),
            (None, true) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS listeners need a certificate and key (ServerBuilder::tls)",
                ))
            }
            (_, false) => None,
        };
        bind_all(&self.addresses, &mut self.listeners).await?;
        bind_all(&self.tls_addresses, &mut self.tls_listeners).await?;
        let broker = Broker::new(self.broker);
        let settings = Arc::new(self.settings);
        let handshakes = Handshakes::new(settings.max_handshakes);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut local_addrs = Vec::new();
        let mut tls_local_addrs = Vec::new();
        let mut tasks = JoinSet::new();
        let plain = self.listeners.into_iter().map(|l| (l, None));
        let secure = self.tls_listeners.into_iter().map(|l| (l, tls.clone()));
        for (listener, tls) in plain.chain(secure) {
            let address = listener.local_addr()?;
            match tls {
                Some(_) => tls_local_addrs.push(address),
                None => local_addrs.push(address),
            }
            tasks.spawn(listener::accept_loop(
                listener,
                listener::Serving {
                    tls,
                    broker: Arc::clone(&broker),
                    settings: Arc::clone(&settings),
                    handshakes: Arc::clone(&handshakes),
                },
                shutdown_rx.clone(),
            ));
        }
        let memory_limit = settings.memory_high_watermark.limit();
        let management = bind_optional(self.management).await?;
        let prometheus = bind_optional(self.prometheus).await?;
        let listeners = Listeners {
            amqp: local_addrs.clone(),
            amqps: tls_local_addrs.clone(),
            management: management.as_ref().and_then(|l| l.local_addr().ok()),
            prometheus: prometheus.as_ref().and_then(|l| l.local_addr().ok()),
        };
        let (management_addr, prometheus_addr) = (listeners.management, listeners.prometheus);
        let context = Context::new(Arc::clone(&broker), listeners, memory_limit);
        if let Some(listener) = management {
            let serving =
                warren_management::serve_api(listener, Arc::clone(&context), shutdown_rx.clone());
            tasks.spawn(log_failure("management API", serving));
        }
        if let Some(listener) = prometheus {
            let serving = warren_management::serve_metrics(listener, context, shutdown_rx.clone());
            tasks.spawn(log_failure("Prometheus metrics", serving));
        }
        tasks.spawn(sweep_loop(Arc::clone(&broker), memory_limit, shutdown_rx));
        Ok(ServerHandle {
            local_addrs,
            tls_local_addrs,
            management_addr,
            prometheus_addr,
            url_credentials: self.url_credentials,
            broker,
            shutdown_tx,
            tasks,
        })
    }
}

async fn bind_optional(address: Option<SocketAddr>) -> io::Result<Option<TcpListener>> {
    let mut listeners = Vec::new();
    bind_all(address.as_slice(), &mut listeners).await?;
    Ok(listeners.pop())
}

/// Runs a door's server, logging why it stopped if it failed.
async fn log_failure(
    door: &'static str,
    serving: impl std::future::Future<Output = io::Result<()>>,
) {
    if let Err(error) = serving.await {
        tracing::error!("the {door} stopped: {error}");
    }
}

async fn bind_all(addresses: &[SocketAddr], listeners: &mut Vec<TcpListener>) -> io::Result<()> {
    for address in addresses {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))?;
        listeners.push(listener);
    }
    Ok(())
}

/// How often message TTLs, queue expiry and memory are checked: the precision of `x-expires`.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// The broker's clock: expiries, and the memory alarm against `memory_limit`.
async fn sweep_loop(
    broker: Arc<Broker>,
    memory_limit: Option<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticks.tick() => {
                broker.sweep(std::time::Instant::now());
                if let (Some(limit), Some(used)) = (memory_limit, memory::resident_memory()) {
                    let alarm = used > limit;
                    if broker.set_memory_alarm(alarm) {
                        let state = if alarm { "raised: blocking publishers" } else { "cleared" };
                        tracing::warn!(used, limit, "memory alarm {state}");
                    }
                }
            }
        }
    }
}

/// A running broker. Dropping the handle leaves it running until the runtime stops; call
/// [`ServerHandle::shutdown`] to stop it cleanly.
pub struct ServerHandle {
    local_addrs: Vec<SocketAddr>,
    tls_local_addrs: Vec<SocketAddr>,
    management_addr: Option<SocketAddr>,
    prometheus_addr: Option<SocketAddr>,
    url_credentials: (String, String),
    broker: Arc<Broker>,
    shutdown_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl ServerHandle {
    /// The first bound address of a plain AMQP listener.
    ///
    /// Panics if the server has only amqps listeners (see [`ServerHandle::tls_local_addrs`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// The addresses of the plain AMQP listeners.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The addresses of the amqps listeners.
    pub fn tls_local_addrs(&self) -> &[SocketAddr] {
        &self.tls_local_addrs
    }

    /// `amqp://guest:guest@ADDR/%2F` for the first address (with the user given to
    /// [`ServerBuilder::user`], if any).
    pub fn amqp_url(&self) -> String {
        let (name, password) = &self.url_credentials;
        format!("amqp://{name}:{password}@{}/%2F", self.local_addr())
    }

    /// `http://ADDR` of the management API, if it was asked for
    /// ([`ServerBuilder::management`]).
    pub fn management_url(&self) -> Option<String> {
        self.management_addr
            .map(|address| format!("http://{address}"))
    }

    /// `http://ADDR` of the Prometheus endpoint, if it was asked for.
    pub fn prometheus_url(&self) -> Option<String> {
        self.prometheus_addr
            .map(|address| format!("http://{address}"))
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, closes every client connection with `connection.close` 320
    /// (CONNECTION_FORCED), waits for them to finish (bounded), and returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

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
mod listener;
mod memory;

pub use memory::Watermark;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use warren_broker::{Broker, BrokerConfig};

/// How long a client may take from TCP connect to `connection.open` (RabbitMQ: 10 s).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the connection tasks.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    pub handshake_timeout: Duration,
    pub memory_high_watermark: Watermark,
}

pub struct Server;

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addresses: Vec::new(),
            listeners: Vec::new(),
            broker: BrokerConfig::default(),
            url_credentials: ("guest".into(), "guest".into()),
            settings: ConnectionSettings {
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
                memory_high_watermark: Watermark::default(),
            },
        }
    }
}

pub struct ServerBuilder {
    addresses: Vec<SocketAddr>,
    listeners: Vec<TcpListener>,
    broker: BrokerConfig,
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

    /// Replaces the users (guest/guest by default) with this one, with every permission on
    /// the vhost `/`.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        let (name, password) = (name.into(), password.into());
        self.broker = BrokerConfig::single_user(name.clone(), &password);
        self.url_credentials = (name, password);
        self
    }

    /// Users, vhosts and permissions (e.g. from a definitions file), replacing guest/guest.
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.broker = config;
        self
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

    /// Binds every address and starts serving on the current tokio runtime.
    pub async fn start(mut self) -> io::Result<ServerHandle> {
        if self.addresses.is_empty() && self.listeners.is_empty() {
            self.addresses
                .push(SocketAddr::from(([127, 0, 0, 1], 5672)));
        }
        for address in &self.addresses {
            let listener = TcpListener::bind(address).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
            })?;
            self.listeners.push(listener);
        }
        let broker = Broker::new(self.broker);
        let settings = Arc::new(self.settings);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut local_addrs = Vec::new();
        let mut tasks = JoinSet::new();
        for listener in self.listeners {
            local_addrs.push(listener.local_addr()?);
            tasks.spawn(listener::accept_loop(
                listener,
                Arc::clone(&broker),
                Arc::clone(&settings),
                shutdown_rx.clone(),
            ));
        }
        let memory_limit = settings.memory_high_watermark.limit();
        tasks.spawn(sweep_loop(Arc::clone(&broker), memory_limit, shutdown_rx));
        Ok(ServerHandle {
            local_addrs,
            url_credentials: self.url_credentials,
            broker,
            shutdown_tx,
            tasks,
        })
    }
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
    url_credentials: (String, String),
    broker: Arc<Broker>,
    shutdown_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl ServerHandle {
    /// The first bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// `amqp://guest:guest@ADDR/%2F` for the first address (with the user given to
    /// [`ServerBuilder::user`], if any).
    pub fn amqp_url(&self) -> String {
        let (name, password) = &self.url_credentials;
        format!("amqp://{name}:{password}@{}/%2F", self.local_addr())
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

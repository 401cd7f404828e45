//! warren-broker: the broker, without I/O. Two halves:
//!
//! - [`model`]: vhosts, exchanges, bindings, queues, consumers and messages — the one owner of
//!   shared state and locks, whose verbs (declare, bind, publish, consume, ack, get, purge,
//!   delete) every door calls, with the same permission checks and RabbitMQ's reply texts;
//! - [`session`]: the AMQP 0-9-1 door, a sans-I/O state machine (bytes in, bytes out, time
//!   given) that is one client of the model. `warren-server` pumps its bytes.
//!
//! Beside them: [`Broker`] (the vhosts, configuration and memory alarm), [`auth`] (users,
//! SASL, password hashes), [`definitions`] (RabbitMQ definitions files), [`limits`] and
//! [`error`] (AMQP exceptions as values).
//!
//! Where things are: a frame is acted on in `session/connection.rs` and `session/channel.rs`,
//! then `session/methods/`; a key is routed by [`model::vhost::VHost::route`] (the matching
//! itself is `warren-router`); a message waits in [`model::queue::Queue`].

pub mod auth;
pub mod definitions;
pub mod error;
pub mod limits;
pub mod model;
pub mod session;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

pub use auth::User;
pub use error::{AmqpError, AmqpResult};
pub use limits::{Limits, VHostLimits};
pub use model::access::Permissions;
use model::connections::Registry;
use model::vhost::VHost;
pub use session::connection::{Connection, Phase, READ_BUFFER_SIZE};
pub use session::Session;
use warren_wire::ShortStr;

/// What a broker is configured with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub users: Vec<User>,
    pub limits: Limits,
    pub vhosts: Vec<String>,
    /// What each user may do in each vhost; a user without an entry for a vhost cannot open it.
    pub permissions: Vec<UserPermissions>,
    /// Users who may only connect from a loopback address (RabbitMQ's `loopback_users`).
    pub loopback_users: Vec<String>,
    /// Exchanges, queues and bindings declared at start.
    pub topology: definitions::Topology,
}

/// One user's permissions in one vhost.
#[derive(Debug, Clone)]
pub struct UserPermissions {
    pub user: String,
    pub vhost: String,
    pub permissions: Arc<Permissions>,
}

impl BrokerConfig {
    /// One user with every permission on the vhost `/`; guest may still only connect over
    /// loopback, as in RabbitMQ.
    pub fn single_user(name: impl Into<String>, password: &str) -> Self {
        let user = User::new(name, password);
        BrokerConfig {
            permissions: vec![UserPermissions {
                user: user.name.clone(),
                vhost: "/".into(),
                permissions: Arc::new(Permissions::full()),
            }],
            users: vec![user],
            vhosts: vec!["/".into()],
            loopback_users: vec!["guest".into()],
            topology: definitions::Topology::default(),
            limits: Limits::default(),
        }
    }

    /// The permissions `user` has in `vhost`, if any (the later entry, if there are two).
    pub fn permissions(&self, user: &str, vhost: &str) -> Option<Arc<Permissions>> {
        self.permissions
            .iter()
            .rev()
            .find(|p| p.user == user && p.vhost == vhost)
            .map(|p| Arc::clone(&p.permissions))
    }
}

impl Default for BrokerConfig {
    /// guest/guest on `/`, as a fresh RabbitMQ.
    fn default() -> Self {
        BrokerConfig::single_user("guest", "guest")
    }
}

/// The broker's shared state: configuration and virtual hosts. One per process (or per test).
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    vhosts: HashMap<Vec<u8>, Arc<VHost>>,
    next_connection_id: AtomicU64,
    /// Every connection, as other doors see it.
    connections: Registry,
    /// Raised while memory is above the high watermark: publishers are blocked.
    memory_alarm: tokio::sync::watch::Sender<bool>,
}

impl Broker {
    /// Vhost names that do not fit a short string (over 255 bytes) cannot be opened by any
    /// client and are left out (a definitions file with one is refused before this). The
    /// topology of a definitions file was declared once already when it was read, so it
    /// cannot fail here; one built by hand that does is logged.
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        let mut vhosts = HashMap::new();
        for name in &config.vhosts {
            if let Ok(short) = ShortStr::try_from(name.clone()) {
                vhosts.insert(
                    name.as_bytes().to_vec(),
                    VHost::new(short, config.limits.vhost),
                );
            }
        }
        if let Err(error) = config.topology.declare(&vhosts) {
            tracing::error!("declaring the configured exchanges, queues and bindings: {error}");
        }
        Arc::new(Broker {
            config,
            vhosts,
            next_connection_id: AtomicU64::new(1),
            connections: Registry::default(),
            memory_alarm: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The vhost a client names in `connection.open`.
    pub fn vhost(&self, name: &[u8]) -> Option<Arc<VHost>> {
        self.vhosts.get(name).cloned()
    }

    /// Every vhost, by name.
    pub fn vhosts(&self) -> Vec<Arc<VHost>> {
        let mut vhosts: Vec<_> = self.vhosts.values().cloned().collect();
        vhosts.sort_by(|a, b| a.name.cmp(&b.name));
        vhosts
    }

    /// What the broker holds now: vhosts with their exchanges, queues, bindings and counters,
    /// and the connections with their channels (see `model::snapshot`).
    pub fn snapshot(&self) -> model::snapshot::Snapshot {
        use model::snapshot::{ConnectionSnapshot, Snapshot, VHostSnapshot};
        let taken_at = std::time::Instant::now();
        let connections: Vec<ConnectionSnapshot> = self
            .connections
            .list()
            .iter()
            .map(|entry| ConnectionSnapshot::of(entry))
            .collect();
        let vhosts = self.vhosts();
        let vhosts = vhosts
            .iter()
            .map(|v| VHostSnapshot::of(v, &connections))
            .collect();
        Snapshot {
            taken_at,
            vhosts,
            connections,
        }
    }

    /// The connections, as other doors see and control them.
    pub fn connections(&self) -> &Registry {
        &self.connections
    }

    /// Runs the broker's timers: message TTLs and queue expiry. The server calls it a few
    /// times a second; between calls, expired messages are also dropped whenever their queue
    /// is used.
    pub fn sweep(&self, now: std::time::Instant) {
        for vhost in self.vhosts.values() {
            vhost.sweep(now);
        }
    }

    /// Raises or clears the memory alarm; returns whether it changed.
    pub fn set_memory_alarm(&self, raised: bool) -> bool {
        self.memory_alarm
            .send_if_modified(|alarm| std::mem::replace(alarm, raised) != raised)
    }

    /// Follows the memory alarm (true while raised).
    pub fn memory_alarm(&self) -> tokio::sync::watch::Receiver<bool> {
        self.memory_alarm.subscribe()
    }

    pub(crate) fn next_connection_id(&self) -> model::queue::ConnectionId {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

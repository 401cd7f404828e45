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
pub mod controls;
pub mod definitions;
pub mod error;
pub mod limits;
pub mod model;
pub mod session;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use foldhash::HashMap;
use parking_lot::{Mutex, RwLock};

pub use auth::User;
pub use error::{AmqpError, AmqpResult};
pub use limits::{Limits, VHostLimits};
pub use model::access::Permissions;
use model::baseline::Baseline;
use model::connections::Registry;
use model::stats::Churn;
pub use model::users::{Grant, TopicGrant, Users};
use model::vhost::VHost;
pub use session::connection::{Connection, Phase, READ_BUFFER_SIZE};
pub use session::Session;
use warren_wire::ShortStr;

/// The RabbitMQ release Warren answers as (`connection.start`'s `version`, the management
/// API's `rabbitmq_version`): clients and tools pick their features by it.
pub const RABBITMQ_VERSION: &str = "3.13.7";

/// The node name, as RabbitMQ's `rabbit@host` (the management API's `node`, the cluster name).
pub const NODE_NAME: &str = "warren@localhost";

/// What a broker is configured with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub users: Vec<User>,
    pub limits: Limits,
    pub vhosts: Vec<String>,
    /// What each user may do in each vhost; a user without an entry for a vhost cannot open it.
    pub permissions: Vec<Grant>,
    /// Routing-key restrictions on topic exchanges (RabbitMQ's `topic_permissions`).
    pub topic_permissions: Vec<TopicGrant>,
    /// Users who may only connect from a loopback address (RabbitMQ's `loopback_users`).
    pub loopback_users: Vec<String>,
    /// Exchanges, queues and bindings declared at start.
    pub topology: definitions::Topology,
}

impl BrokerConfig {
    /// One user with every permission on the vhost `/`; guest may still only connect over
    /// loopback, as in RabbitMQ.
    pub fn single_user(name: impl Into<String>, password: &str) -> Self {
        let mut user = User::new(name, password);
        // As RabbitMQ's default user: the management API's administrator.
        user.tags = vec!["administrator".into()];
        BrokerConfig {
            permissions: vec![Grant::full(user.name.clone(), "/")],
            users: vec![user],
            vhosts: vec!["/".into()],
            ..BrokerConfig::empty()
        }
    }
}

impl BrokerConfig {
    /// No users, no vhosts: what a definitions file without them configures.
    pub fn empty() -> Self {
        BrokerConfig {
            users: Vec::new(),
            limits: Limits::default(),
            vhosts: Vec::new(),
            permissions: Vec::new(),
            topic_permissions: Vec::new(),
            loopback_users: vec!["guest".into()],
            topology: definitions::Topology::default(),
        }
    }
}

impl Default for BrokerConfig {
    /// guest/guest on `/`, as a fresh RabbitMQ.
    fn default() -> Self {
        BrokerConfig::single_user("guest", "guest")
    }
}

/// The broker's shared state: users, virtual hosts, connections. One per process (or per
/// test). Users and vhosts change at run time (the management API), connections come and go.
#[derive(Debug)]
pub struct Broker {
    pub limits: Limits,
    users: Arc<Users>,
    vhosts: RwLock<HashMap<Vec<u8>, Arc<VHost>>>,
    next_connection_id: AtomicU64,
    /// Every connection, as other doors see it.
    connections: Registry,
    /// Connections, channels and queues created and closed.
    churn: Arc<Churn>,
    /// Raised while memory is above the high watermark: publishers are blocked.
    memory_alarm: tokio::sync::watch::Sender<bool>,
    /// What each vhost held at start, which the test controls' reset brings it back to.
    baselines: Mutex<HashMap<Vec<u8>, Baseline>>,
}

impl Broker {
    /// Vhost names that do not fit a short string (over 255 bytes) cannot be opened by any
    /// client and are left out (a definitions file with one is refused before this). The
    /// topology and permissions of a definitions file were checked when it was read, so they
    /// cannot fail here; a configuration built by hand that does is logged.
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        let users = Users::new(
            &config.users,
            &config.permissions,
            &config.topic_permissions,
            &config.loopback_users,
        )
        .unwrap_or_else(|error| {
            tracing::error!("the configured permissions: {error}");
            Users::new(&config.users, &[], &[], &config.loopback_users).unwrap_or_else(|_| {
                unreachable!("users without permissions have nothing to compile")
            })
        });
        let broker = Arc::new(Broker {
            limits: config.limits,
            users: Arc::new(users),
            vhosts: RwLock::default(),
            next_connection_id: AtomicU64::new(1),
            connections: Registry::default(),
            churn: Arc::default(),
            memory_alarm: tokio::sync::watch::Sender::new(false),
            baselines: Mutex::default(),
        });
        for name in &config.vhosts {
            broker.add_vhost(name);
        }
        // Before the configured topology, which may bind to them.
        if let Some(root) = broker.vhost(b"/") {
            root.predeclare(model::vhost::WAZO_EXCHANGES);
        }
        if let Err(error) = config.topology.declare(&broker) {
            tracing::error!("declaring the configured exchanges, queues and bindings: {error}");
        }
        for vhost in broker.vhosts() {
            broker.mark_baseline(&vhost);
        }
        broker
    }

    /// The vhost a client names in `connection.open`.
    pub fn vhost(&self, name: &[u8]) -> Option<Arc<VHost>> {
        self.vhosts.read().get(name).cloned()
    }

    /// Every vhost, by name.
    pub fn vhosts(&self) -> Vec<Arc<VHost>> {
        let mut vhosts: Vec<_> = self.vhosts.read().values().cloned().collect();
        vhosts.sort_by(|a, b| a.name.cmp(&b.name));
        vhosts
    }

    /// Creates a vhost, with the configured limits; false if it exists already, or if its
    /// name is longer than AMQP can carry (255 bytes).
    pub fn add_vhost(&self, name: &str) -> bool {
        let Ok(short) = ShortStr::try_from(name.to_string()) else {
            return false;
        };
        let mut vhosts = self.vhosts.write();
        if vhosts.contains_key(name.as_bytes()) {
            return false;
        }
        let vhost = VHost::new(short, &self.limits, Arc::clone(&self.churn));
        self.mark_baseline(&vhost);
        vhosts.insert(name.as_bytes().to_vec(), vhost);
        true
    }

    /// Deletes a vhost with everything in it: its connections are closed as RabbitMQ closes
    /// them (320, "vhost '…' is down") and the permissions in it forgotten. False if there
    /// was none.
    pub fn delete_vhost(&self, name: &str) -> bool {
        if self.vhosts.write().remove(name.as_bytes()).is_none() {
            return false;
        }
        self.users.forget_vhost(name);
        self.baselines.lock().remove(name.as_bytes());
        self.connections
            .close_where(|c| c.vhost == name, &format!("vhost '{name}' is down"));
        true
    }

    /// Takes what `vhost` holds now as its start state.
    pub(crate) fn mark_baseline(&self, vhost: &VHost) {
        let baseline = Baseline::of(vhost);
        self.baselines
            .lock()
            .insert(vhost.name.as_bytes().to_vec(), baseline);
    }

    /// What `vhost` held at start (see [`Baseline`]; nothing, for a vhost not made here).
    pub fn baseline(&self, vhost: &str) -> Baseline {
        let baselines = self.baselines.lock();
        baselines.get(vhost.as_bytes()).cloned().unwrap_or_default()
    }

    /// Connections, channels and queues created and closed since the start.
    pub fn churn(&self) -> &Churn {
        &self.churn
    }

    /// Who may log in, and what each may do.
    pub fn users(&self) -> &Arc<Users> {
        &self.users
    }

    /// Deletes a user and their permissions; their connections are closed as RabbitMQ closes
    /// them (320, "user '…' is deleted"). False if there was none.
    pub fn delete_user(&self, name: &str) -> bool {
        if !self.users.delete_user(name) {
            return false;
        }
        self.connections
            .close_where(|c| c.user == name, &format!("user '{name}' is deleted"));
        true
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
        for vhost in self.vhosts() {
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

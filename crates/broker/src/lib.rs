//! warren-broker: the broker core. Virtual hosts, exchanges, queues and consumers, and the
//! connection and channel state machines that drive them. Decoded frames go in, encoded frames
//! come out; this crate never touches a socket (that is `warren-server`).
//!
//! Where things are:
//! - a message waits in [`queue::Queue`];
//! - a key is routed by [`vhost::VHost::route`], over the bindings in [`exchange::Exchange`]
//!   (the matching itself is `warren-router`);
//! - a frame is acted on by [`connection::Connection::handle_frame`], then `channel.rs` and the
//!   per-class `handlers/`.

pub mod arguments;
pub mod auth;
mod channel;
pub mod connection;
pub mod consumer;
mod dead_letter;
pub mod error;
pub mod exchange;
mod handlers;
pub mod limits;
pub mod message;
mod names;
pub mod queue;
pub mod vhost;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use auth::User;
pub use connection::{Connection, Phase};
pub use error::{AmqpError, AmqpResult};
pub use limits::{Limits, VHostLimits};
use vhost::VHost;
use warren_wire::ShortStr;

/// What a broker is configured with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub users: Vec<User>,
    pub limits: Limits,
}

impl Default for BrokerConfig {
    /// guest/guest, as a fresh RabbitMQ.
    fn default() -> Self {
        BrokerConfig {
            users: vec![User::new("guest", "guest")],
            limits: Limits::default(),
        }
    }
}

/// The broker's shared state: configuration and virtual hosts. One per process (or per test).
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    default_vhost: Arc<VHost>,
    next_connection_id: AtomicU64,
    /// Raised while memory is above the high watermark: publishers are blocked.
    memory_alarm: tokio::sync::watch::Sender<bool>,
}

impl Broker {
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        let default_vhost = VHost::new(ShortStr::from_static("/"), config.limits.vhost);
        Arc::new(Broker {
            config,
            default_vhost,
            next_connection_id: AtomicU64::new(1),
            memory_alarm: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The vhost a client names in `connection.open`. Only `/` exists for now.
    pub fn vhost(&self, name: &[u8]) -> Option<Arc<VHost>> {
        (name == self.default_vhost.name.as_bytes()).then(|| Arc::clone(&self.default_vhost))
    }

    /// Runs the broker's timers: message TTLs and queue expiry. The server calls it a few
    /// times a second; between calls, expired messages are also dropped whenever their queue
    /// is used.
    pub fn sweep(&self, now: std::time::Instant) {
        self.default_vhost.sweep(now);
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

    pub(crate) fn next_connection_id(&self) -> queue::ConnectionId {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

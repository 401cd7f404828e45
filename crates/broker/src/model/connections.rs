//! The connections the broker has, as other doors see them: who and where, what each has
//! counted, its channels, and a way to ask one to close. A door registers an entry when a
//! client connects and removes it when the client is gone; it keeps the entry's details and
//! counters current (at most once per batch of work), so that reading them takes no lock of
//! the door's and costs its hot path nothing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::model::queue::ConnectionId;
use crate::model::stats::{MessageStats, SharedCounters};

/// What another door may ask of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Close with 320 CONNECTION_FORCED and this text (RabbitMQ's management `X-Reason`).
    Close { reason: String },
    /// A consumer on `channel` was cancelled from outside (a test controls' reset): a client
    /// that cannot be told with `basic.cancel` (no `consumer_cancel_notify`) has the channel
    /// closed with 404 NOT_FOUND and this text instead of waiting for deliveries forever.
    ConsumerCancelled { channel: u16, reason: String },
}

/// How a connection's door takes requests (the AMQP session: its outbox, which wakes it).
pub trait Control: Send + Sync + std::fmt::Debug {
    fn request(&self, request: Request);
}

/// What a connection negotiated and holds, as RabbitMQ's management lists it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionDetails {
    /// Empty until the client has logged in.
    pub user: String,
    /// Empty until `connection.open`.
    pub vhost: String,
    /// The client's properties, as encoded on the wire (one allocation a connection; decoded
    /// when read, see `ConnectionSnapshot`).
    pub client_properties: Bytes,
    pub channel_max: u16,
    pub frame_max: u32,
    /// Seconds; 0: none.
    pub heartbeat: u16,
    /// RabbitMQ's connection states: `starting`, `tuning`, `opening`, `running`, `blocked`,
    /// `closing`.
    pub state: &'static str,
    pub channels: Vec<ChannelDetails>,
    pub traffic: Traffic,
}

/// Bytes and socket reads and writes of a connection, as RabbitMQ's `recv_oct`, `recv_cnt`,
/// `send_oct`, `send_cnt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub recv_oct: u64,
    pub recv_cnt: u64,
    pub send_oct: u64,
    pub send_cnt: u64,
}

/// One open channel of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelDetails {
    pub number: u16,
    /// `basic.qos` with `global=false`: the limit of each consumer created afterwards.
    pub prefetch_count: u16,
    /// `basic.qos` with `global=true`: the limit of the channel as a whole.
    pub global_prefetch_count: u16,
    pub unacked: u64,
    pub consumers: u32,
    pub confirm: bool,
    pub transactional: bool,
    /// Messages published in the open transaction, not committed yet.
    pub messages_uncommitted: u64,
    /// Deliveries acknowledged in the open transaction, not committed yet.
    pub acks_uncommitted: u64,
    /// What the channel counted.
    pub stats: MessageStats,
}

#[derive(Debug)]
pub struct ConnectionEntry {
    pub id: ConnectionId,
    /// The client's address.
    pub peer: SocketAddr,
    /// Ours, where the client connected to.
    pub local: SocketAddr,
    pub connected_at: SystemTime,
    /// Written by the connection's door alone.
    pub counters: SharedCounters,
    details: Mutex<ConnectionDetails>,
    control: Arc<dyn Control>,
}

impl ConnectionEntry {
    pub fn new(
        id: ConnectionId,
        peer: SocketAddr,
        local: SocketAddr,
        control: Arc<dyn Control>,
    ) -> Self {
        let details = ConnectionDetails {
            state: "starting",
            ..ConnectionDetails::default()
        };
        ConnectionEntry {
            id,
            peer,
            local,
            connected_at: SystemTime::now(),
            counters: SharedCounters::default(),
            details: Mutex::new(details),
            control,
        }
    }

    /// RabbitMQ's name for it: `127.0.0.1:54321 -> 127.0.0.1:5672`.
    pub fn name(&self) -> String {
        format!("{} -> {}", self.peer, self.local)
    }

    pub fn details(&self) -> ConnectionDetails {
        self.details.lock().clone()
    }

    /// Reads the details under their lock, without a copy.
    fn read_details<T>(&self, read: impl FnOnce(&ConnectionDetails) -> T) -> T {
        read(&self.details.lock())
    }

    /// For the connection's door: changes what others read of it.
    pub fn update(&self, change: impl FnOnce(&mut ConnectionDetails)) {
        change(&mut self.details.lock());
    }

    /// Tells the connection's door that a consumer of `channel` was cancelled from outside.
    pub fn consumer_cancelled(&self, channel: u16, reason: impl Into<String>) {
        self.control.request(Request::ConsumerCancelled {
            channel,
            reason: reason.into(),
        });
    }

    /// Asks the connection to close with 320 CONNECTION_FORCED and `reason` as its text.
    pub fn close(&self, reason: impl Into<String>) {
        self.control.request(Request::Close {
            reason: reason.into(),
        });
    }
}

/// Every connection, by id (the order they came in).
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<BTreeMap<ConnectionId, Arc<ConnectionEntry>>>,
}

impl Registry {
    pub fn insert(&self, entry: Arc<ConnectionEntry>) {
        self.entries.lock().insert(entry.id, entry);
    }

    pub fn remove(&self, id: ConnectionId) {
        self.entries.lock().remove(&id);
    }

    pub fn list(&self) -> Vec<Arc<ConnectionEntry>> {
        self.entries.lock().values().cloned().collect()
    }

    /// Closes (320 CONNECTION_FORCED, `reason`) every connection whose details match.
    pub fn close_where(&self, matches: impl Fn(&ConnectionDetails) -> bool, reason: &str) {
        for entry in self.list() {
            if entry.read_details(|details| matches(details)) {
                entry.close(reason);
            }
        }
    }

    pub fn get(&self, id: ConnectionId) -> Option<Arc<ConnectionEntry>> {
        self.entries.lock().get(&id).cloned()
    }

    /// The connection RabbitMQ's management would call `name`.
    pub fn find(&self, name: &str) -> Option<Arc<ConnectionEntry>> {
        let entries = self.entries.lock();
        entries.values().find(|e| e.name() == name).cloned()
    }
}

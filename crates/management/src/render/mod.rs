//! The model's snapshots as RabbitMQ's management JSON: the same field names and JSON types,
//! object by object. A field RabbitMQ computes from Erlang's runtime (reductions, garbage
//! collection) is left out rather than made up.

pub mod admin;
pub mod connection;
pub mod exchange;
pub mod message;
pub mod overview;
pub mod queue;
pub mod trace;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use warren_broker::model::queue::ConnectionId;
use warren_broker::model::snapshot::{ConnectionSnapshot, Snapshot};

pub use warren_broker::definitions::table_to_json as arguments;

/// Milliseconds since the epoch, as RabbitMQ's `connected_at`.
pub fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The connections of a snapshot by id, to name the connection and channel of a consumer.
pub struct ConnectionIndex<'a>(HashMap<ConnectionId, &'a ConnectionSnapshot>);

impl<'a> ConnectionIndex<'a> {
    pub fn of(snapshot: &'a Snapshot) -> Self {
        ConnectionIndex(snapshot.connections.iter().map(|c| (c.id, c)).collect())
    }

    pub fn get(&self, id: ConnectionId) -> Option<&'a ConnectionSnapshot> {
        self.0.get(&id).copied()
    }
}

/// RabbitMQ's channel name: the connection's, then the channel number in parentheses.
pub fn channel_name(connection: &ConnectionSnapshot, number: u16) -> String {
    format!("{} ({number})", connection.name)
}

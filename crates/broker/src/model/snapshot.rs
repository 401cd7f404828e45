//! The read side: what the broker holds, taken on demand for the doors that show it (the
//! management API, metrics). Each object is read at one moment under its own lock (a queue's
//! counts are consistent with each other); the whole is not one atomic picture, as it is not in
//! RabbitMQ. Nothing here runs unless someone asks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use warren_router::ExchangeKind;
use warren_wire::{FieldTable, ShortStr};

use crate::model::connections::{ChannelDetails, ConnectionEntry, Traffic};
use crate::model::exchange::{Destination, Exchange};
use crate::model::queue::{ConnectionId, Queue, QueueCounts};
use crate::model::stats::MessageStats;
use crate::model::vhost::{VHost, VHostMetadata};

#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was taken: two snapshots' counters and times give rates.
    pub taken_at: Instant,
    pub vhosts: Vec<VHostSnapshot>,
    pub connections: Vec<ConnectionSnapshot>,
}

#[derive(Debug, Clone)]
pub struct VHostSnapshot {
    pub name: ShortStr,
    pub metadata: VHostMetadata,
    pub exchanges: Vec<ExchangeSnapshot>,
    pub queues: Vec<QueueSnapshot>,
    pub bindings: Vec<BindingSnapshot>,
    /// Everything its connections counted, open or closed.
    pub message_stats: MessageStats,
}

#[derive(Debug, Clone)]
pub struct ExchangeSnapshot {
    pub name: ShortStr,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    pub publish_in: u64,
    pub publish_out: u64,
    pub declared_by: ShortStr,
}

#[derive(Debug, Clone)]
pub struct QueueSnapshot {
    pub name: ShortStr,
    pub durable: bool,
    pub auto_delete: bool,
    /// The connection an exclusive queue belongs to.
    pub exclusive_owner: Option<ConnectionId>,
    pub arguments: FieldTable,
    /// Ready and unacknowledged messages, consumers, bytes, and the queue's `message_stats`.
    pub counts: QueueCounts,
    pub consumers: Vec<ConsumerSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSnapshot {
    pub tag: ShortStr,
    pub connection: ConnectionId,
    pub channel: u16,
    pub ack_required: bool,
    pub exclusive: bool,
    /// The consumer's own prefetch count (0: none).
    pub prefetch_count: u16,
    pub priority: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationName {
    Queue(ShortStr),
    Exchange(ShortStr),
}

#[derive(Debug, Clone)]
pub struct BindingSnapshot {
    pub source: ShortStr,
    pub destination: DestinationName,
    pub routing_key: ShortStr,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone)]
pub struct ConnectionSnapshot {
    pub id: ConnectionId,
    /// RabbitMQ's connection name, `peer -> local`.
    pub name: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub connected_at: SystemTime,
    pub user: String,
    pub vhost: String,
    pub client_properties: FieldTable,
    pub state: &'static str,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat: u16,
    pub channels: Vec<ChannelDetails>,
    pub message_stats: MessageStats,
    pub traffic: Traffic,
}

impl ConnectionSnapshot {
    pub fn of(entry: &ConnectionEntry) -> Self {
        let details = entry.details();
        ConnectionSnapshot {
            id: entry.id,
            name: entry.name(),
            peer: entry.peer,
            local: entry.local,
            connected_at: entry.connected_at,
            user: details.user,
            vhost: details.vhost,
            client_properties: FieldTable::decode(&details.client_properties).unwrap_or_default(),
            state: details.state,
            channel_max: details.channel_max,
            frame_max: details.frame_max,
            heartbeat: details.heartbeat,
            channels: details.channels,
            message_stats: entry.counters.load(),
            traffic: details.traffic,
        }
    }
}

impl VHostSnapshot {
    /// `vhost` as it is, with `live`: what its open connections counted so far.
    pub fn of(vhost: &VHost, live: &[ConnectionSnapshot]) -> Self {
        let exchanges = vhost.exchanges();
        let bindings = exchanges.iter().flat_map(|x| bindings_of(x)).collect();
        let mut message_stats = vhost.retired_stats();
        for connection in live.iter().filter(|c| c.vhost == vhost.name.to_string()) {
            message_stats.add(&connection.message_stats);
        }
        VHostSnapshot {
            name: vhost.name.clone(),
            metadata: vhost.metadata(),
            exchanges: exchanges.iter().map(|x| exchange_snapshot(x)).collect(),
            queues: vhost.queues().iter().map(queue_snapshot).collect(),
            bindings,
            message_stats,
        }
    }
}

fn exchange_snapshot(exchange: &Exchange) -> ExchangeSnapshot {
    let (publish_in, publish_out) = exchange.published();
    ExchangeSnapshot {
        name: exchange.name.clone(),
        kind: exchange.kind,
        durable: exchange.durable,
        auto_delete: exchange.auto_delete,
        internal: exchange.internal,
        arguments: exchange.arguments.clone(),
        publish_in,
        publish_out,
        declared_by: exchange.declared_by.clone(),
    }
}

fn queue_snapshot(queue: &Arc<Queue>) -> QueueSnapshot {
    let consumers = queue.consumers();
    let consumers = consumers.iter().map(|c| ConsumerSnapshot {
        tag: c.tag.clone(),
        connection: c.connection_id,
        channel: c.channel,
        ack_required: !c.no_ack,
        exclusive: c.exclusive,
        // A no-ack consumer's credit is the door's own window, not a prefetch it asked for.
        prefetch_count: if c.no_ack { 0 } else { c.credit.limit() },
        priority: c.priority,
    });
    QueueSnapshot {
        name: queue.name.clone(),
        durable: queue.durable,
        auto_delete: queue.auto_delete,
        exclusive_owner: queue.exclusive_owner,
        arguments: queue.arguments.clone(),
        counts: queue.counts(),
        consumers: consumers.collect(),
    }
}

/// The bindings whose source is `exchange`, as it lists them.
pub(crate) fn bindings_of(exchange: &Exchange) -> Vec<BindingSnapshot> {
    let bindings = exchange.bindings();
    bindings
        .iter()
        .map(|(routing_key, arguments, destination)| BindingSnapshot {
            source: exchange.name.clone(),
            destination: match destination {
                Destination::Queue(queue) => DestinationName::Queue(queue.name.clone()),
                Destination::Exchange(x) => DestinationName::Exchange(x.name.clone()),
            },
            routing_key: routing_key.clone(),
            arguments: arguments.clone(),
        })
        .collect()
}

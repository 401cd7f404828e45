//! The node's objects: how many there are and have been (connections, channels, queues), and
//! the series of each queue and channel, labelled in `/metrics/per-object` and summed in
//! `/metrics`.

use warren_broker::model::connections::ChannelDetails;
use warren_broker::model::snapshot::{QueueSnapshot, Snapshot};
use warren_broker::model::stats::Churn;

use super::exposition::{escaped, Exposition, Kind};
use crate::render::channel_name;

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

pub fn totals(out: &mut Exposition, snapshot: &Snapshot, churn: &Churn) {
    let channels: usize = snapshot.connections.iter().map(|c| c.channels.len()).sum();
    let queues = snapshot.vhosts.iter().flat_map(|v| &v.queues);
    let consumers: usize = queues.clone().map(|q| q.consumers.len()).sum();
    let gauges = [
        (
            "rabbitmq_connections",
            "Connections currently open",
            snapshot.connections.len(),
        ),
        ("rabbitmq_channels", "Channels currently open", channels),
        (
            "rabbitmq_consumers",
            "Consumers currently connected",
            consumers,
        ),
        ("rabbitmq_queues", "Queues available", queues.count()),
    ];
    for (name, help, n) in gauges {
        out.single(name, Kind::Gauge, help, count(n));
    }
    for (churned, value) in churn.named() {
        if let Some((name, help)) = churn_counter(churned) {
            out.single(name, Kind::Counter, help, value);
        }
    }
}

/// The Prometheus counter of a `churn_rates` count.
fn churn_counter(churned: &str) -> Option<(&'static str, &'static str)> {
    Some(match churned {
        "connection_created" => (
            "rabbitmq_connections_opened_total",
            "Total number of connections opened",
        ),
        "connection_closed" => (
            "rabbitmq_connections_closed_total",
            "Total number of connections closed or terminated",
        ),
        "channel_created" => (
            "rabbitmq_channels_opened_total",
            "Total number of channels opened",
        ),
        "channel_closed" => (
            "rabbitmq_channels_closed_total",
            "Total number of channels closed",
        ),
        "queue_declared" => (
            "rabbitmq_queues_declared_total",
            "Total number of queues declared",
        ),
        "queue_created" => (
            "rabbitmq_queues_created_total",
            "Total number of queues created",
        ),
        "queue_deleted" => (
            "rabbitmq_queues_deleted_total",
            "Total number of queues deleted",
        ),
        _ => return None,
    })
}

/// RabbitMQ's per-queue gauges: (metric, help, what of the queue).
type QueueGauge = (&'static str, &'static str, fn(&QueueSnapshot) -> u64);

const QUEUE_GAUGES: [QueueGauge; 5] = [
    (
        "rabbitmq_queue_messages_ready",
        "Messages ready to be delivered to consumers",
        |q| q.counts.ready.messages,
    ),
    (
        "rabbitmq_queue_messages_unacked",
        "Messages delivered to consumers but not yet acknowledged",
        |q| q.counts.unacked.messages,
    ),
    (
        "rabbitmq_queue_messages",
        "Sum of ready and unacknowledged messages - total queue depth",
        |q| q.counts.ready.messages + q.counts.unacked.messages,
    ),
    (
        "rabbitmq_queue_messages_ready_bytes",
        "Size in bytes of ready messages",
        |q| q.counts.ready.bytes,
    ),
    ("rabbitmq_queue_consumers", "Consumers on a queue", |q| {
        u64::from(q.counts.consumers)
    }),
];

pub fn queues(out: &mut Exposition, snapshot: &Snapshot, per_object: bool) {
    let queues: Vec<(String, &QueueSnapshot)> = snapshot
        .vhosts
        .iter()
        .flat_map(|v| {
            let vhost = escaped(&v.name.to_string());
            v.queues.iter().map(move |q| {
                let name = escaped(&q.name.to_string());
                (format!("vhost=\"{vhost}\",queue=\"{name}\""), q)
            })
        })
        .collect();
    for (name, help, value) in QUEUE_GAUGES {
        let samples = queues.iter().map(|(labels, q)| (labels.clone(), value(q)));
        out.per_object((name, Kind::Gauge, help), per_object, samples);
    }
}

/// RabbitMQ's per-channel series: (metric, kind, help, what of the channel). Its counters are
/// per channel and exchange (publishing) or queue (consuming); Warren counts per channel.
type ChannelSeries = (&'static str, Kind, &'static str, fn(&ChannelDetails) -> u64);

const CHANNEL_SERIES: [ChannelSeries; 17] = [
    (
        "rabbitmq_channel_consumers",
        Kind::Gauge,
        "Consumers on a channel",
        |c| u64::from(c.consumers),
    ),
    (
        "rabbitmq_channel_messages_unacked",
        Kind::Gauge,
        "Delivered but not yet acknowledged messages",
        |c| c.unacked,
    ),
    // Each publish is confirmed as it is handled: none waits.
    (
        "rabbitmq_channel_messages_unconfirmed",
        Kind::Gauge,
        "Published but not yet confirmed messages",
        |_| 0,
    ),
    (
        "rabbitmq_channel_messages_uncommitted",
        Kind::Gauge,
        "Messages received in a transaction but not yet committed",
        |c| c.messages_uncommitted,
    ),
    (
        "rabbitmq_channel_acks_uncommitted",
        Kind::Gauge,
        "Message acknowledgements in a transaction not yet committed",
        |c| c.acks_uncommitted,
    ),
    (
        "rabbitmq_channel_prefetch",
        Kind::Gauge,
        "Total limit of unacknowledged messages for all consumers on a channel",
        |c| u64::from(c.global_prefetch_count),
    ),
    (
        "rabbitmq_channel_messages_published_total",
        Kind::Counter,
        "Total number of messages published into an exchange on a channel",
        |c| c.stats.publish,
    ),
    (
        "rabbitmq_channel_messages_confirmed_total",
        Kind::Counter,
        "Total number of messages published into an exchange and confirmed on the channel",
        |c| c.stats.confirm,
    ),
    (
        "rabbitmq_channel_messages_unroutable_returned_total",
        Kind::Counter,
        "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        |c| c.stats.return_unroutable,
    ),
    (
        "rabbitmq_channel_messages_unroutable_dropped_total",
        Kind::Counter,
        "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        |c| c.stats.drop_unroutable,
    ),
    (
        "rabbitmq_channel_get_ack_total",
        Kind::Counter,
        "Total number of messages fetched with basic.get in manual acknowledgement mode",
        |c| c.stats.get,
    ),
    (
        "rabbitmq_channel_get_total",
        Kind::Counter,
        "Total number of messages fetched with basic.get in automatic acknowledgement mode",
        |c| c.stats.get_no_ack,
    ),
    (
        "rabbitmq_channel_messages_delivered_ack_total",
        Kind::Counter,
        "Total number of messages delivered to consumers in manual acknowledgement mode",
        |c| c.stats.deliver,
    ),
    (
        "rabbitmq_channel_messages_delivered_total",
        Kind::Counter,
        "Total number of messages delivered to consumers in automatic acknowledgement mode",
        |c| c.stats.deliver_no_ack,
    ),
    (
        "rabbitmq_channel_messages_redelivered_total",
        Kind::Counter,
        "Total number of messages redelivered to consumers",
        |c| c.stats.redeliver,
    ),
    (
        "rabbitmq_channel_messages_acked_total",
        Kind::Counter,
        "Total number of messages acknowledged by consumers",
        |c| c.stats.ack,
    ),
    (
        "rabbitmq_channel_get_empty_total",
        Kind::Counter,
        "Total number of times basic.get operations fetched no message",
        |c| c.stats.get_empty,
    ),
];

/// The open channels' series, labelled `channel` (its name, as the management API gives it,
/// where RabbitMQ has the channel's Erlang pid), the counters `vhost` as well.
pub fn channels(out: &mut Exposition, snapshot: &Snapshot, per_object: bool) {
    let channels: Vec<(String, String, &ChannelDetails)> = snapshot
        .connections
        .iter()
        .flat_map(|connection| {
            let vhost = escaped(&connection.vhost);
            connection.channels.iter().map(move |channel| {
                let name = escaped(&channel_name(connection, channel.number));
                let gauge = format!("channel=\"{name}\"");
                let counter = format!("{gauge},vhost=\"{vhost}\"");
                (gauge, counter, channel)
            })
        })
        .collect();
    for (name, kind, help, value) in CHANNEL_SERIES {
        let samples = channels.iter().map(|(gauge, counter, channel)| {
            let labels = if kind == Kind::Counter {
                counter
            } else {
                gauge
            };
            (labels.clone(), value(channel))
        });
        out.per_object((name, kind, help), per_object, samples);
    }
}

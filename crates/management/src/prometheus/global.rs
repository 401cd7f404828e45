//! RabbitMQ's global counters (`rabbitmq_global_*`): what AMQP 0-9-1 clients did on the whole
//! node, labelled `protocol="amqp091"`; those of consuming are labelled by queue type as well,
//! and every queue of Warren's is classic. Read from the vhosts' totals, which keep what closed
//! connections counted.

use warren_broker::model::snapshot::Snapshot;
use warren_broker::model::stats::MessageStats;

use super::exposition::{Exposition, Kind};

const PROTOCOL: &str = "protocol=\"amqp091\"";
const CLASSIC_QUEUES: &str = "protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"";

/// (what follows `rabbitmq_global_messages_` before `_total`, help, split by queue type, count).
type GlobalCounter = (&'static str, &'static str, bool, fn(&MessageStats) -> u64);

const GLOBAL_COUNTERS: [GlobalCounter; 14] = [
    (
        "received",
        "Total number of messages received from publishers",
        false,
        |s| s.publish,
    ),
    // Warren confirms each publish of a channel in confirm mode as it handles it: what it
    // received so is what it confirmed.
    (
        "received_confirm",
        "Total number of messages received from publishers expecting confirmations",
        false,
        |s| s.confirm,
    ),
    (
        "routed",
        "Total number of messages routed to queues or streams",
        false,
        |s| s.routed,
    ),
    (
        "confirmed",
        "Total number of messages confirmed to publishers",
        false,
        |s| s.confirm,
    ),
    (
        "delivered",
        "Total number of messages delivered to consumers",
        true,
        |s| s.deliver_get(),
    ),
    (
        "delivered_consume_auto_ack",
        "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
        true,
        |s| s.deliver_no_ack,
    ),
    (
        "delivered_consume_manual_ack",
        "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
        true,
        |s| s.deliver,
    ),
    (
        "delivered_get_auto_ack",
        "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
        true,
        |s| s.get_no_ack,
    ),
    (
        "delivered_get_manual_ack",
        "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
        true,
        |s| s.get,
    ),
    (
        "redelivered",
        "Total number of messages redelivered to consumers",
        true,
        |s| s.redeliver,
    ),
    (
        "acknowledged",
        "Total number of messages acknowledged by consumers",
        true,
        |s| s.ack,
    ),
    (
        "get_empty",
        "Total number of times basic.get operations fetched no message",
        true,
        |s| s.get_empty,
    ),
    (
        "unroutable_dropped",
        "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        false,
        |s| s.drop_unroutable,
    ),
    (
        "unroutable_returned",
        "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        false,
        |s| s.return_unroutable,
    ),
];

pub fn counters(out: &mut Exposition, snapshot: &Snapshot) {
    let mut stats = MessageStats::default();
    for vhost in &snapshot.vhosts {
        stats.add(&vhost.message_stats);
    }
    for (what, help, by_queue_type, count) in GLOBAL_COUNTERS {
        let name = format!("rabbitmq_global_messages_{what}_total");
        out.family(&name, Kind::Counter, help);
        let labels = if by_queue_type {
            CLASSIC_QUEUES
        } else {
            PROTOCOL
        };
        out.sample(&name, labels, count(&stats));
    }
    // A publisher per open channel that has published, as RabbitMQ counts them.
    let channels = snapshot.connections.iter().flat_map(|c| &c.channels);
    let publishers = channels.filter(|c| c.stats.publish > 0).count();
    let consumers: usize = snapshot
        .vhosts
        .iter()
        .flat_map(|v| &v.queues)
        .map(|q| q.consumers.len())
        .sum();
    let gauges = [
        ("publishers", "Current number of publishers", publishers),
        ("consumers", "Current number of consumers", consumers),
    ];
    for (what, help, count) in gauges {
        let name = format!("rabbitmq_global_{what}");
        out.family(&name, Kind::Gauge, help);
        out.sample(&name, PROTOCOL, u64::try_from(count).unwrap_or(u64::MAX));
    }
}

//! The node and its totals (`/api/overview`, `/api/nodes`).

use serde_json::{json, Value};
use warren_broker::model::snapshot::Snapshot;
use warren_broker::model::stats::MessageStats;
use warren_broker::{NODE_NAME, RABBITMQ_VERSION};

use crate::process::{Process, DISK_FREE_LIMIT};
use crate::stats::{all_message_stats, node_counters, Counters, Key, Rates};
use crate::Context;

const EXCHANGE_TYPES: [(&str, &str); 4] = [
    (
        "direct",
        "AMQP direct exchange, as per the AMQP specification",
    ),
    (
        "fanout",
        "AMQP fanout exchange, as per the AMQP specification",
    ),
    (
        "headers",
        "AMQP headers exchange, as per the AMQP specification",
    ),
    (
        "topic",
        "AMQP topic exchange, as per the AMQP specification",
    ),
];

fn exchange_types() -> Value {
    EXCHANGE_TYPES
        .iter()
        .map(|(name, description)| json!({"name": name, "description": description, "enabled": true}))
        .collect()
}

pub fn overview(context: &Context, snapshot: &Snapshot, rates: &Rates) -> Value {
    let mut stats = MessageStats::default();
    let (mut queues, mut exchanges, mut consumers, mut ready, mut unacked) = (0, 0, 0, 0, 0);
    for vhost in &snapshot.vhosts {
        stats.add(&vhost.message_stats);
        queues += vhost.queues.len();
        exchanges += vhost.exchanges.len();
        for queue in &vhost.queues {
            consumers += queue.consumers.len();
            ready += queue.counts.ready.messages;
            unacked += queue.counts.unacked.messages;
        }
    }
    let channels: usize = snapshot.connections.iter().map(|c| c.channels.len()).sum();
    let mut queue_totals = serde_json::Map::new();
    let totals = [
        ("messages", ready + unacked),
        ("messages_ready", ready),
        ("messages_unacknowledged", unacked),
    ];
    rates.insert(&mut queue_totals, &Key::Overall, &totals);
    json!({
        "management_version": RABBITMQ_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {"global": [600, 3600, 28800, 86400], "basic": [600, 3600],
                                      "detailed": [600]},
        "exchange_types": exchange_types(),
        "product_version": env!("CARGO_PKG_VERSION"),
        "product_name": "Warren",
        "rabbitmq_version": RABBITMQ_VERSION,
        // Of the RabbitMQ release series whose API Warren speaks (3.10 was supported then).
        "release_series_support_status": "supported",
        "cluster_name": NODE_NAME,
        "disable_stats": false,
        "enable_queue_totals": false,
        "message_stats": rates.message_stats(&Key::Overall, &overall_message_stats(&stats)),
        "churn_rates": rates.message_stats(&Key::Churn, &context.broker.churn().named()),
        "queue_totals": queue_totals,
        "object_totals": {
            "channels": channels,
            "connections": snapshot.connections.len(),
            "consumers": consumers,
            "exchanges": exchanges,
            "queues": queues,
        },
        "statistics_db_event_queue": 0,
        "node": NODE_NAME,
        "listeners": listeners(context),
        "contexts": contexts(context),
    })
}

/// The node's `message_stats`: every count, and the disk reads and writes of messages, which
/// Warren (keeping messages in memory only) never does.
fn overall_message_stats(stats: &MessageStats) -> Counters {
    let mut counters = all_message_stats(stats);
    counters.extend([("disk_reads", 0), ("disk_writes", 0)]);
    counters
}

fn listeners(context: &Context) -> Value {
    let listeners = &context.listeners;
    let doors = listeners
        .amqp
        .iter()
        .map(|a| ("amqp", a))
        .chain(listeners.amqps.iter().map(|a| ("amqp/ssl", a)))
        .chain(listeners.management.iter().map(|a| ("http", a)))
        .chain(listeners.prometheus.iter().map(|a| ("http/prometheus", a)));
    doors
        .map(|(protocol, address)| {
            json!({"node": NODE_NAME, "protocol": protocol,
                   "ip_address": address.ip().to_string(), "port": address.port(),
                   "socket_opts": {}})
        })
        .collect()
}

fn contexts(context: &Context) -> Value {
    context
        .listeners
        .management
        .iter()
        .map(|address| {
            json!({"node": NODE_NAME, "description": "RabbitMQ Management", "path": "/",
                   "ip": address.ip().to_string(), "port": address.port().to_string()})
        })
        .collect()
}

/// The one node, as `/api/nodes` lists it: what the process can tell of itself.
pub fn node(context: &Context, snapshot: &Snapshot, rates: &Rates) -> Value {
    let process = Process::read();
    let alarm = *context.broker.memory_alarm().borrow();
    let mut node = json!({
        "name": NODE_NAME,
        "type": "disc",
        "running": true,
        "os_pid": std::process::id().to_string(),
        "uptime": u64::try_from(context.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "processors": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "mem_limit": context.memory_limit.unwrap_or(0),
        "mem_alarm": alarm,
        "mem_calculation_strategy": "rss",
        "disk_free_limit": DISK_FREE_LIMIT,
        "disk_free_alarm": false,
        "fd_total": process.max_files,
        "proc_total": process.max_threads,
        "sockets_total": process.max_files,
        "partitions": [],
        "rates_mode": "basic",
        "exchange_types": exchange_types(),
        "auth_mechanisms": [
            {"name": "PLAIN", "description": "SASL PLAIN authentication mechanism", "enabled": true},
            {"name": "AMQPLAIN", "description": "QPid AMQPLAIN mechanism", "enabled": true},
        ],
        "enabled_plugins": ["rabbitmq_management", "rabbitmq_prometheus"],
        "applications": [],
        "contexts": contexts(context),
        "cluster_links": [],
        "config_files": [],
        "log_files": [],
    });
    if let Value::Object(fields) = &mut node {
        rates.insert(fields, &Key::Node, &node_counters(&process, snapshot));
        rates.insert(fields, &Key::Churn, &context.broker.churn().named());
    }
    node
}

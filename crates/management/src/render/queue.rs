//! Queues (`/api/queues`) and their consumers (`/api/consumers`).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};
use warren_broker::model::snapshot::{ConsumerSnapshot, QueueSnapshot};

use super::{arguments, channel_name, ConnectionIndex};
use crate::listing::Row;
use crate::stats::{queue_message_stats, queue_totals, Key, Rates};

/// What a queued message costs beside its body (its `Arc<Message>`, header and queue slot),
/// for the `memory` estimate: RabbitMQ reports its queue process's memory, Warren the bytes
/// its messages hold.
const PER_MESSAGE_OVERHEAD: u64 = 256;

/// One queue as the list shows it; `detailed` adds what only `GET /api/queues/{vhost}/{name}`
/// has (the consumers, `incoming`, `deliveries`).
pub fn queue(
    vhost: &str,
    queue: &QueueSnapshot,
    rates: &Rates,
    connections: &ConnectionIndex,
    detailed: bool,
) -> Value {
    let mut object = serde_json::to_value(QueueRow::new(vhost, queue, rates))
        .unwrap_or_else(|_| Value::Object(Map::new()));
    if let (true, Value::Object(fields)) = (detailed, &mut object) {
        let consumers: Vec<Value> = queue
            .consumers
            .iter()
            .map(|c| consumer(vhost, queue, c, connections))
            .collect();
        fields.insert("consumer_details".into(), consumers.into());
        fields.insert("incoming".into(), json!([]));
        fields.insert("deliveries".into(), json!([]));
    }
    object
}

/// One queue of a list, serialized straight into the answer (a list of 10 000 queues built as
/// `Value` trees first spends most of its time inserting into and dropping their maps), and
/// only the `columns` asked for, when they are top-level fields.
pub struct QueueRow<'a> {
    vhost: &'a str,
    queue: &'a QueueSnapshot,
    rates: &'a Rates,
    columns: Option<&'a [&'a str]>,
}

impl<'a> QueueRow<'a> {
    pub fn new(vhost: &'a str, queue: &'a QueueSnapshot, rates: &'a Rates) -> Self {
        QueueRow {
            vhost,
            queue,
            rates,
            columns: None,
        }
    }
}

impl<'a> Row<'a> for QueueRow<'a> {
    fn name(&self) -> &[u8] {
        self.queue.name.as_bytes()
    }

    fn only(&mut self, columns: &'a [&'a str]) {
        self.columns = Some(columns);
    }
}

impl Serialize for QueueRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (vhost, queue) = (self.vhost, self.queue);
        let keep = |field: &str| self.columns.map_or(true, |c| c.contains(&field));
        let counts = &queue.counts;
        let (ready, unacked) = (&counts.ready, &counts.unacked);
        let all = ready.plus(unacked);
        let mut map = serializer.serialize_map(None)?;
        // Each value is computed only when its field is kept.
        macro_rules! fields {
            ($($field:literal: $value:expr),* $(,)?) => {
                $(if keep($field) {
                    map.serialize_entry($field, &$value)?;
                })*
            };
        }
        fields! {
            "name": queue.name.to_string_lossy(),
            "vhost": vhost,
            "durable": queue.durable,
            "auto_delete": queue.auto_delete,
            "exclusive": queue.exclusive_owner.is_some(),
            "arguments": arguments(&queue.arguments),
            "node": warren_broker::NODE_NAME,
            "state": "running",
            "type": "classic",
            "consumers": counts.consumers,
            "exclusive_consumer_tag": queue
                .consumers
                .iter()
                .find(|c| c.exclusive)
                .map(|c| c.tag.to_string_lossy()),
            "single_active_consumer_tag": (),
            "policy": (),
            "operator_policy": (),
            "effective_policy_definition": Map::new(),
            "recoverable_slaves": (),
            "head_message_timestamp": (),
            "memory": all.bytes + all.messages * PER_MESSAGE_OVERHEAD,
            "message_bytes": all.bytes,
            "message_bytes_ready": ready.bytes,
            "message_bytes_unacknowledged": unacked.bytes,
            // Warren keeps every message in memory, persistent ones too.
            "message_bytes_ram": all.bytes,
            "message_bytes_persistent": all.persistent_bytes,
            "message_bytes_paged_out": 0,
            "messages_ram": all.messages,
            "messages_ready_ram": ready.messages,
            "messages_unacknowledged_ram": unacked.messages,
            "messages_persistent": all.persistent,
            "messages_paged_out": 0,
            "consumer_capacity": consumer_capacity(counts.consumers, ready.messages),
            "consumer_utilisation": consumer_capacity(counts.consumers, ready.messages),
        }
        let key = Key::Queue(vhost.to_string(), queue.name.to_string());
        let mut totals = Map::new();
        self.rates.insert(&mut totals, &key, &queue_totals(queue));
        for (field, value) in totals.iter().filter(|(field, _)| keep(field)) {
            map.serialize_entry(field, value)?;
        }
        let stats = queue_message_stats(&counts.stats);
        if keep("message_stats") && stats.iter().any(|(_, count)| *count > 0) {
            map.serialize_entry("message_stats", &self.rates.message_stats(&key, &stats))?;
        }
        map.end()
    }
}

/// RabbitMQ's `consumer_capacity`: the share of time the queue could hand a message to a
/// consumer at once. Warren has no history of it, only the moment: none without consumers, all
/// while no message waits for them, none while messages wait (their consumers have no credit).
fn consumer_capacity(consumers: u32, ready: u64) -> f64 {
    if consumers > 0 && ready == 0 {
        1.0
    } else {
        0.0
    }
}

/// One consumer, as `/api/consumers` and a queue's `consumer_details` show it.
pub fn consumer(
    vhost: &str,
    queue: &QueueSnapshot,
    consumer: &ConsumerSnapshot,
    connections: &ConnectionIndex,
) -> Value {
    let channel_details = match connections.get(consumer.connection) {
        Some(connection) => json!({
            "connection_name": connection.name,
            "name": channel_name(connection, consumer.channel),
            "node": warren_broker::NODE_NAME,
            "number": consumer.channel,
            "peer_host": connection.peer.ip().to_string(),
            "peer_port": connection.peer.port(),
            "user": connection.user,
        }),
        // A consumer of another door (no AMQP connection).
        None => Value::Object(Map::new()),
    };
    json!({
        "arguments": {},
        "ack_required": consumer.ack_required,
        "active": true,
        "activity_status": "up",
        "channel_details": channel_details,
        "consumer_tag": consumer.tag.to_string(),
        "exclusive": consumer.exclusive,
        "prefetch_count": consumer.prefetch_count,
        "priority": consumer.priority,
        "queue": {"name": queue.name.to_string(), "vhost": vhost},
    })
}

//! Rates, as RabbitMQ's management shows them (`publish_details: {"rate": 1.2}`): the counters
//! of every object are sampled every [`INTERVAL`] (RabbitMQ's `collect_statistics_interval`),
//! and a rate is the change from a recent sample to now, per second. The counters themselves
//! are the model's, read live.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use warren_broker::model::connections::Traffic;
use warren_broker::model::snapshot::{QueueSnapshot, Snapshot};
use warren_broker::model::stats::{Churn, MessageStats};

use crate::process::Process;
use crate::Context;

/// How often the counters are sampled (RabbitMQ's default statistics interval).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// A rate needs this much time since its sample, or it uses the sample before.
const SHORTEST_SPAN: Duration = Duration::from_secs(1);

/// The objects that have counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Overall,
    /// Objects created and closed (`churn_rates`).
    Churn,
    /// The process: memory, file descriptors, sockets.
    Node,
    VHost(String),
    Queue(String, String),
    Exchange(String, String),
    Connection(u64),
    /// A connection's channel, by number.
    Channel(u64, u16),
}

/// Counts under their RabbitMQ names.
pub type Counters = Vec<(&'static str, u64)>;

/// Every object's counters at one moment.
#[derive(Debug)]
pub struct Sample {
    pub at: Instant,
    counters: HashMap<Key, Counters>,
}

/// The last two samples.
#[derive(Debug, Default)]
pub struct Samples(Mutex<VecDeque<Arc<Sample>>>);

impl Samples {
    pub fn record(&self, snapshot: &Snapshot, churn: &Churn) {
        let sample = Arc::new(Sample {
            at: snapshot.taken_at,
            counters: counters_of(snapshot, churn),
        });
        let mut samples = self.0.lock();
        samples.push_back(sample);
        while samples.len() > 2 {
            samples.pop_front();
        }
    }

    /// What rates at `now` are computed from.
    pub fn rates_at(&self, now: Instant) -> Rates {
        let samples = self.0.lock();
        let baseline = samples
            .iter()
            .rev()
            .find(|s| now.saturating_duration_since(s.at) >= SHORTEST_SPAN)
            .or(samples.front())
            .cloned();
        Rates { baseline, now }
    }
}

/// Rates from one sample to `now`.
#[derive(Debug, Clone)]
pub struct Rates {
    baseline: Option<Arc<Sample>>,
    now: Instant,
}

impl Rates {
    /// Adds each count, and its `_details` with the rate, to `object`.
    pub fn insert(&self, object: &mut Map<String, Value>, key: &Key, counters: &[(&str, u64)]) {
        let earlier = self.baseline.as_ref().and_then(|s| {
            let seconds = self.now.saturating_duration_since(s.at).as_secs_f64();
            Some((s.counters.get(key)?, seconds))
        });
        for &(name, value) in counters {
            let rate = earlier
                .and_then(|(counters, seconds)| {
                    let (_, then) = counters.iter().find(|(n, _)| *n == name)?;
                    (seconds > 0.0).then(|| (value as f64 - *then as f64) / seconds)
                })
                .unwrap_or(0.0);
            object.insert(name.to_string(), value.into());
            object.insert(format!("{name}_details"), json!({ "rate": rate }));
        }
    }

    /// `message_stats` as an object of its own.
    pub fn message_stats(&self, key: &Key, counters: &[(&str, u64)]) -> Value {
        let mut object = Map::new();
        self.insert(&mut object, key, counters);
        Value::Object(object)
    }
}

/// A queue's `message_stats`: the counts RabbitMQ keeps for queues.
pub fn queue_message_stats(stats: &MessageStats) -> Counters {
    const QUEUE_FIELDS: [&str; 9] = [
        "ack",
        "deliver",
        "deliver_get",
        "deliver_no_ack",
        "get",
        "get_empty",
        "get_no_ack",
        "publish",
        "redeliver",
    ];
    pick(stats, &QUEUE_FIELDS)
}

/// A vhost's or the node's `message_stats`: every count.
pub fn all_message_stats(stats: &MessageStats) -> Counters {
    stats.named().to_vec()
}

fn pick(stats: &MessageStats, names: &[&str]) -> Counters {
    stats
        .named()
        .into_iter()
        .filter(|(name, _)| names.contains(name))
        .collect()
}

/// A queue's message counts (`messages`, `messages_ready`, `messages_unacknowledged`).
pub fn queue_totals(queue: &QueueSnapshot) -> Counters {
    let (ready, unacked) = (queue.counts.ready.messages, queue.counts.unacked.messages);
    vec![
        ("messages", ready + unacked),
        ("messages_ready", ready),
        ("messages_unacknowledged", unacked),
    ]
}

/// An exchange's `message_stats`.
pub fn exchange_message_stats(publish_in: u64, publish_out: u64) -> Counters {
    vec![("publish_in", publish_in), ("publish_out", publish_out)]
}

/// The bytes a connection received and sent, which RabbitMQ shows with rates.
pub fn traffic_counters(traffic: &Traffic) -> Counters {
    vec![
        ("recv_oct", traffic.recv_oct),
        ("send_oct", traffic.send_oct),
    ]
}

/// A channel's `message_stats`, as RabbitMQ groups them: the publishing counts once it has
/// published, the consuming ones once it has consumed or got.
pub fn channel_message_stats(stats: &MessageStats) -> Counters {
    const PUBLISHING: [&str; 4] = ["confirm", "drop_unroutable", "publish", "return_unroutable"];
    let published = stats.publish > 0;
    let consumed = stats.deliver_get() + stats.get_empty + stats.ack > 0;
    stats
        .named()
        .into_iter()
        .filter(|(name, _)| {
            if PUBLISHING.contains(name) {
                published
            } else {
                consumed
            }
        })
        .collect()
}

/// What the open connections of a vhost carried.
pub fn vhost_traffic(snapshot: &Snapshot, vhost: &str) -> Traffic {
    let mut total = Traffic::default();
    for connection in snapshot.connections.iter().filter(|c| c.vhost == vhost) {
        let t = &connection.traffic;
        total.recv_oct += t.recv_oct;
        total.recv_cnt += t.recv_cnt;
        total.send_oct += t.send_oct;
        total.send_cnt += t.send_cnt;
    }
    total
}

/// What a node shows with rates: memory, file descriptors and sockets in use, free disk space.
pub fn node_counters(process: &Process, snapshot: &Snapshot) -> Counters {
    vec![
        ("mem_used", process.resident_bytes),
        ("disk_free", process.disk_free),
        ("fd_used", process.open_files),
        ("sockets_used", snapshot.connections.len() as u64),
        ("proc_used", process.threads),
    ]
}

/// Every object's counters in `snapshot`, by key: what a sample keeps.
fn counters_of(snapshot: &Snapshot, churn: &Churn) -> HashMap<Key, Counters> {
    let mut counters = HashMap::new();
    counters.insert(Key::Churn, churn.named().to_vec());
    counters.insert(Key::Node, node_counters(&Process::read(), snapshot));
    let mut overall = MessageStats::default();
    for vhost in &snapshot.vhosts {
        let name = vhost.name.to_string();
        overall.add(&vhost.message_stats);
        let mut vhost_counters = all_message_stats(&vhost.message_stats);
        vhost_counters.extend(traffic_counters(&vhost_traffic(snapshot, &name)));
        counters.insert(Key::VHost(name.clone()), vhost_counters);
        for queue in &vhost.queues {
            let mut queue_counters = queue_message_stats(&queue.counts.stats);
            queue_counters.extend(queue_totals(queue));
            counters.insert(
                Key::Queue(name.clone(), queue.name.to_string()),
                queue_counters,
            );
        }
        for exchange in &vhost.exchanges {
            counters.insert(
                Key::Exchange(name.clone(), exchange.name.to_string()),
                exchange_message_stats(exchange.publish_in, exchange.publish_out),
            );
        }
    }
    for connection in &snapshot.connections {
        let mut connection_counters = all_message_stats(&connection.message_stats);
        connection_counters.extend(traffic_counters(&connection.traffic));
        counters.insert(Key::Connection(connection.id), connection_counters);
        for channel in &connection.channels {
            let key = Key::Channel(connection.id, channel.number);
            counters.insert(key, channel_message_stats(&channel.stats));
        }
    }
    counters.insert(Key::Overall, all_message_stats(&overall));
    counters
}

/// Samples the broker's counters every [`INTERVAL`] until `shutdown`.
pub async fn sample_every_interval(context: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let broker = &context.broker;
                context.samples.record(&broker.snapshot(), broker.churn());
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_the_change_per_second_since_the_sample() {
        let at = Instant::now();
        let key = Key::Connection(1);
        let sample = Sample {
            at,
            counters: HashMap::from([(key.clone(), vec![("publish", 100), ("ack", 10)])]),
        };
        let rates = Rates {
            baseline: Some(Arc::new(sample)),
            now: at + Duration::from_secs(5),
        };
        let stats = rates.message_stats(&key, &[("publish", 600), ("ack", 10), ("get", 3)]);
        assert_eq!(stats["publish"], 600);
        assert_eq!(stats["publish_details"]["rate"], 100.0);
        assert_eq!(stats["ack_details"]["rate"], 0.0);
        assert_eq!(
            stats["get_details"]["rate"], 0.0,
            "not in the sample: no rate yet"
        );
    }
}

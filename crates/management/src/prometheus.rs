//! Prometheus metrics with RabbitMQ's names and labels (its `rabbitmq_prometheus` plugin), so
//! that RabbitMQ's Grafana dashboards show Warren unchanged: `/metrics` aggregates over the
//! node, `/metrics/per-object` has one series per queue (labels `vhost` and `queue`).
//! Written in the text exposition format, from one snapshot per scrape.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use warren_broker::model::snapshot::{QueueSnapshot, Snapshot};
use warren_broker::model::stats::MessageStats;
use warren_broker::{NODE_NAME, RABBITMQ_VERSION};

use crate::process::Process;
use crate::Context;

const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4";

pub fn routes(context: Arc<Context>) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .with_state(context)
}

async fn aggregated(State(context): State<Arc<Context>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], render(&context, false))
}

async fn per_object(State(context): State<Arc<Context>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], render(&context, true))
}

/// Writes metric families: `# HELP`, `# TYPE`, then samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}\n# HELP {name} {help}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: u64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "gauge", help);
        self.sample(name, "", value);
    }
}

/// A label value, escaped as the text format wants.
fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

/// RabbitMQ's global counters: (metric, help, count).
type GlobalCounter = (&'static str, &'static str, fn(&MessageStats) -> u64);

const GLOBAL_COUNTERS: [GlobalCounter; 6] = [
    (
        "rabbitmq_global_messages_received_total",
        "Total number of messages received from publishers",
        |s| s.publish,
    ),
    (
        "rabbitmq_global_messages_confirmed_total",
        "Total number of messages confirmed to publishers",
        |s| s.confirm,
    ),
    (
        "rabbitmq_global_messages_delivered_total",
        "Total number of messages delivered to consumers",
        |s| s.deliver_get(),
    ),
    (
        "rabbitmq_global_messages_acknowledged_total",
        "Total number of messages acknowledged by consumers",
        |s| s.ack,
    ),
    (
        "rabbitmq_global_messages_unroutable_dropped_total",
        "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
        |s| s.drop_unroutable,
    ),
    (
        "rabbitmq_global_messages_unroutable_returned_total",
        "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
        |s| s.return_unroutable,
    ),
];

fn render(context: &Context, per_object: bool) -> String {
    let snapshot = context.broker.snapshot();
    let mut out = Exposition(String::with_capacity(8192));
    identity(&mut out);
    objects(&mut out, &snapshot);
    let mut stats = MessageStats::default();
    for vhost in &snapshot.vhosts {
        stats.add(&vhost.message_stats);
    }
    for (name, help, count) in GLOBAL_COUNTERS {
        out.family(name, "counter", help);
        out.sample(name, "protocol=\"amqp091\"", count(&stats));
    }
    let queues = snapshot.vhosts.iter().flat_map(|v| {
        let vhost = escaped(&v.name.to_string());
        v.queues.iter().map(move |q| (vhost.clone(), q))
    });
    let queues: Vec<_> = queues.collect();
    for (name, help, value) in QUEUE_GAUGES {
        out.family(name, "gauge", help);
        if per_object {
            for (vhost, queue) in &queues {
                let labels = format!(
                    "vhost=\"{vhost}\",queue=\"{}\"",
                    escaped(&queue.name.to_string())
                );
                out.sample(name, &labels, value(queue));
            }
        } else {
            out.sample(name, "", queues.iter().map(|(_, q)| value(q)).sum());
        }
    }
    process(&mut out);
    out.0
}

fn identity(out: &mut Exposition) {
    out.family(
        "rabbitmq_identity_info",
        "untyped",
        "RabbitMQ node & cluster identity info",
    );
    let labels = format!(
        "rabbitmq_node=\"{NODE_NAME}\",rabbitmq_cluster=\"{NODE_NAME}\",rabbitmq_cluster_permanent_id=\"warren-{NODE_NAME}\""
    );
    out.sample("rabbitmq_identity_info", &labels, 1);
    out.family(
        "rabbitmq_build_info",
        "untyped",
        "RabbitMQ & Erlang/OTP version info",
    );
    let labels = format!(
        "rabbitmq_version=\"{RABBITMQ_VERSION}\",prometheus_plugin_version=\"{RABBITMQ_VERSION}\",warren_version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    out.sample("rabbitmq_build_info", &labels, 1);
}

fn objects(out: &mut Exposition, snapshot: &Snapshot) {
    let channels: usize = snapshot.connections.iter().map(|c| c.channels.len()).sum();
    let queues: usize = snapshot.vhosts.iter().map(|v| v.queues.len()).sum();
    let consumers: usize = snapshot
        .vhosts
        .iter()
        .flat_map(|v| &v.queues)
        .map(|q| q.consumers.len())
        .sum();
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    out.gauge(
        "rabbitmq_connections",
        "Connections currently open",
        count(snapshot.connections.len()),
    );
    out.gauge(
        "rabbitmq_channels",
        "Channels currently open",
        count(channels),
    );
    out.gauge(
        "rabbitmq_consumers",
        "Consumers currently connected",
        count(consumers),
    );
    out.gauge("rabbitmq_queues", "Queues available", count(queues));
}

fn process(out: &mut Exposition) {
    let process = Process::read();
    out.gauge(
        "rabbitmq_process_resident_memory_bytes",
        "Memory used in bytes",
        process.resident_bytes,
    );
    out.gauge(
        "rabbitmq_process_open_fds",
        "Open file descriptors",
        process.open_files,
    );
    out.gauge(
        "rabbitmq_process_max_fds",
        "Open file descriptors limit",
        process.max_files,
    );
}

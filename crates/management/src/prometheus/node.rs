//! The node: who it is, what it runs, and what the operating system says of its process.

use warren_broker::{NODE_NAME, RABBITMQ_VERSION};

use super::exposition::{Exposition, Kind};
use crate::process::{Process, DISK_FREE_LIMIT};
use crate::Context;

pub fn identity(out: &mut Exposition) {
    out.family(
        "rabbitmq_identity_info",
        Kind::Untyped,
        "RabbitMQ node & cluster identity info",
    );
    let labels = format!(
        "rabbitmq_node=\"{NODE_NAME}\",rabbitmq_cluster=\"{NODE_NAME}\",rabbitmq_cluster_permanent_id=\"warren-{NODE_NAME}\""
    );
    out.sample("rabbitmq_identity_info", &labels, 1);
    out.family(
        "rabbitmq_build_info",
        Kind::Untyped,
        "RabbitMQ & Erlang/OTP version info",
    );
    // Warren runs on no Erlang/OTP: its version is empty, which Prometheus takes as no label.
    // What writes these metrics (RabbitMQ's Erlang `prometheus` library) is Warren itself.
    let warren = env!("CARGO_PKG_VERSION");
    let labels = format!(
        "rabbitmq_version=\"{RABBITMQ_VERSION}\",prometheus_plugin_version=\"{RABBITMQ_VERSION}\",prometheus_client_version=\"{warren}\",erlang_version=\"\",warren_version=\"{warren}\""
    );
    out.sample("rabbitmq_build_info", &labels, 1);
}

/// Memory, file descriptors, sockets and disk, and the alarms on them.
pub fn process(out: &mut Exposition, context: &Context, connections: usize) {
    let process = Process::read();
    let alarm = *context.broker.memory_alarm().borrow();
    let gauges = [
        (
            "rabbitmq_process_resident_memory_bytes",
            "Memory used in bytes",
            process.resident_bytes,
        ),
        (
            "rabbitmq_resident_memory_limit_bytes",
            "Memory high watermark in bytes",
            context.memory_limit.unwrap_or(0),
        ),
        (
            "rabbitmq_process_open_fds",
            "Open file descriptors",
            process.open_files,
        ),
        (
            "rabbitmq_process_max_fds",
            "Open file descriptors limit",
            process.max_files,
        ),
        // A socket per connection, as the node's `sockets_used`; one file descriptor each.
        (
            "rabbitmq_process_open_tcp_sockets",
            "Open TCP sockets",
            u64::try_from(connections).unwrap_or(u64::MAX),
        ),
        (
            "rabbitmq_process_max_tcp_sockets",
            "Open TCP sockets limit",
            process.max_files,
        ),
        (
            "rabbitmq_disk_space_available_bytes",
            "Disk space available in bytes",
            process.disk_free,
        ),
        (
            "rabbitmq_disk_space_available_limit_bytes",
            "Free disk space low watermark in bytes",
            DISK_FREE_LIMIT,
        ),
    ];
    for (name, help, value) in gauges {
        out.single(name, Kind::Gauge, help, value);
    }
    let alarms = [
        (
            "rabbitmq_alarms_memory_used_watermark",
            "is 1 if VM memory watermark alarm is in effect",
            alarm,
        ),
        (
            "rabbitmq_alarms_free_disk_space_watermark",
            "is 1 if free disk space watermark alarm is in effect",
            false,
        ),
    ];
    for (name, help, on) in alarms {
        out.single(name, Kind::Untyped, help, u64::from(on));
    }
}

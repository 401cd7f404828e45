//! status and await_startup: `/api/overview`, `/api/nodes/{node}`, `/api/vhosts`.

use std::fmt::Write;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::failure::{Failure, SOFTWARE};
use super::http::segment;
use super::output::print;
use super::value::erlang_float;
use super::Context;

/// rabbitmqctl await_startup's default timeout.
const AWAIT_STARTUP_TIMEOUT: u64 = 300;
/// rabbitmq-diagnostics ping's default timeout.
const PING_TIMEOUT: u64 = 60;

/// Waits until the management API answers (the broker serves once it does).
pub fn await_startup(ctx: &Context) -> Result<(), Failure> {
    let timeout = Duration::from_secs(ctx.timeout.unwrap_or(AWAIT_STARTUP_TIMEOUT));
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let api = ctx.connect(Some(
            left.clamp(Duration::from_millis(100), Duration::from_secs(5)),
        ));
        let failure = match api.get("/api/overview") {
            Ok(reply) if reply.is_success() => return Ok(()),
            Ok(reply) => reply.expect_success(SOFTWARE).err(),
            // Refused credentials will not get better by waiting.
            Err(failure) if failure.text.contains("refused user") => return Err(failure),
            Err(failure) => Some(failure),
        };
        if Instant::now() >= deadline {
            let mut failure = failure.unwrap_or_else(|| Failure::error(SOFTWARE, "no answer"));
            failure.text = format!(
                "{}\n(waited {} s; --timeout to wait longer)",
                failure.text,
                timeout.as_secs()
            );
            return Err(failure);
        }
        std::thread::sleep(Duration::from_millis(200).min(left));
    }
}

/// rabbitmq-diagnostics ping: the broker answers. Its banner names the node, which the
/// broker's answer tells; a broker that does not answer fails with EX_UNAVAILABLE (69), as
/// rabbitmq-diagnostics does.
pub fn ping(ctx: &Context) -> Result<(), Failure> {
    let overview = ctx
        .api
        .get("/api/overview")?
        .expect_success(SOFTWARE)?
        .json();
    let timeout_ms = ctx.timeout.unwrap_or(PING_TIMEOUT) * 1000;
    let banner = format!(
        "Will ping {}. This only checks if the OS process is running and registered with \
         epmd. Timeout: {timeout_ms} ms.",
        text(&overview, "node")
    );
    print(&ctx.out.banner(&[banner]));
    print("Ping succeeded\n");
    Ok(())
}

fn gb(bytes: f64) -> String {
    erlang_float((bytes / 1e9 * 10_000.0).round() / 10_000.0)
}

fn number(object: &Json, field: &str) -> f64 {
    object.get(field).and_then(Json::as_f64).unwrap_or(0.0)
}

fn text<'a>(object: &'a Json, field: &str) -> &'a str {
    object.get(field).and_then(Json::as_str).unwrap_or("")
}

fn bullets(items: Option<&Json>) -> String {
    let items: Vec<&str> = items
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        return "(none)\n".into();
    }
    items.iter().map(|i| format!(" * {i}\n")).collect()
}

/// What rabbitmqctl says a listener is for.
fn purpose(protocol: &str) -> &str {
    match protocol {
        "amqp" => "AMQP 0-9-1 and AMQP 1.0",
        "amqp/ssl" => "AMQP 0-9-1 and AMQP 1.0 over TLS",
        "http" => "HTTP API",
        "https" => "HTTP API over TLS (HTTPS)",
        "http/prometheus" => "Prometheus exporter API over HTTP",
        "clustering" => "inter-node and CLI tool communication",
        other => other,
    }
}

fn section(out: &mut String, title: &str) {
    let _ = write!(out, "\u{1b}[1m{title}\u{1b}[0m\n\n");
}

pub fn status(ctx: &Context) -> Result<(), Failure> {
    let overview = ctx
        .api
        .get("/api/overview")?
        .expect_success(SOFTWARE)?
        .json();
    let name = text(&overview, "node").to_string();
    let node = ctx
        .api
        .get(&format!("/api/nodes/{}?memory=true", segment(&name)))?
        .expect_success(SOFTWARE)?
        .json();
    let vhosts = ctx.api.list("/api/vhosts")?.len();
    let mut out = String::new();
    section(&mut out, "Runtime");
    let _ = writeln!(
        out,
        "OS PID: {}",
        node.get("os_pid").map_or(String::new(), |p| p
            .as_str()
            .map_or(p.to_string(), String::from))
    );
    let _ = writeln!(
        out,
        "Uptime (seconds): {}",
        (number(&node, "uptime") / 1000.0) as u64
    );
    let _ = writeln!(
        out,
        "Is under maintenance?: {}",
        node.get("being_drained")
            .and_then(Json::as_bool)
            .unwrap_or(false)
    );
    let _ = writeln!(
        out,
        "RabbitMQ version: {}",
        text(&overview, "rabbitmq_version")
    );
    if let Some(product) = overview.get("product_name").and_then(Json::as_str) {
        let _ = writeln!(
            out,
            "Product: {product} {}",
            text(&overview, "product_version")
        );
    }
    let _ = writeln!(out, "Node name: {name}");
    let _ = writeln!(
        out,
        "Erlang configuration: {}",
        text(&overview, "erlang_full_version")
    );
    let _ = writeln!(
        out,
        "Erlang processes: {} used, {} limit",
        number(&node, "proc_used"),
        number(&node, "proc_total")
    );
    let _ = writeln!(out, "Scheduler run queue: {}", number(&node, "run_queue"));
    let _ = writeln!(
        out,
        "Cluster heartbeat timeout (net_ticktime): {}\n",
        number(&node, "net_ticktime")
    );
    section(&mut out, "Plugins");
    let _ = writeln!(out, "Enabled plugins:\n");
    out.push_str(&bullets(node.get("enabled_plugins")));
    out.push('\n');
    section(&mut out, "Data directory");
    let _ = writeln!(out, "Node data directory: {}\n", text(&node, "db_dir"));
    section(&mut out, "Config files");
    out.push_str(&bullets(node.get("config_files")));
    out.push('\n');
    section(&mut out, "Log file(s)");
    out.push_str(&bullets(node.get("log_files")));
    out.push('\n');
    section(&mut out, "Alarms");
    let mut alarms = Vec::new();
    if node
        .get("mem_alarm")
        .and_then(Json::as_bool)
        .unwrap_or(false)
    {
        alarms.push(format!("Memory alarm on node {name}"));
    }
    if node
        .get("disk_free_alarm")
        .and_then(Json::as_bool)
        .unwrap_or(false)
    {
        alarms.push(format!("Free disk space alarm on node {name}"));
    }
    out.push_str(&bullets(Some(&Json::from(alarms))));
    out.push('\n');
    memory(&mut out, &node);
    section(&mut out, "File Descriptors");
    let _ = writeln!(
        out,
        "Total: {}, limit: {}",
        number(&node, "fd_used"),
        number(&node, "fd_total")
    );
    let _ = writeln!(
        out,
        "Sockets: {}, limit: {}\n",
        number(&node, "sockets_used"),
        number(&node, "sockets_total")
    );
    section(&mut out, "Free Disk Space");
    let _ = writeln!(
        out,
        "Low free disk space watermark: {} gb",
        gb(number(&node, "disk_free_limit"))
    );
    let _ = writeln!(
        out,
        "Free disk space: {} gb\n",
        gb(number(&node, "disk_free"))
    );
    section(&mut out, "Totals");
    let totals = overview.get("object_totals").cloned().unwrap_or(Json::Null);
    let _ = writeln!(out, "Connection count: {}", number(&totals, "connections"));
    let _ = writeln!(out, "Queue count: {}", number(&totals, "queues"));
    let _ = writeln!(out, "Virtual host count: {vhosts}\n");
    section(&mut out, "Listeners");
    for listener in overview
        .get("listeners")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let ip = text(listener, "ip_address");
        let interface = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        let protocol = text(listener, "protocol");
        let _ = writeln!(
            out,
            "Interface: {interface}, port: {}, protocol: {protocol}, purpose: {}",
            number(listener, "port"),
            purpose(protocol)
        );
    }
    print(&ctx.out.banner(&[format!("Status of node {name} ...")]));
    print(&out);
    Ok(())
}

fn memory(out: &mut String, node: &Json) {
    section(out, "Memory");
    let used = number(node, "mem_used");
    let _ = writeln!(out, "Total memory used: {} gb", gb(used));
    if let Some(strategy) = node.get("mem_calculation_strategy").and_then(Json::as_str) {
        let _ = writeln!(out, "Calculation strategy: {strategy}");
    }
    let _ = writeln!(
        out,
        "Memory high watermark setting: computed to: {} gb\n",
        gb(number(node, "mem_limit"))
    );
    let mut parts: Vec<(&String, f64)> = node
        .get("memory")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_f64().map(|v| (k, v)))
                .collect()
        })
        .unwrap_or_default();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (part, bytes) in &parts {
        let share = if used > 0.0 {
            (bytes / used * 10_000.0).round() / 100.0
        } else {
            0.0
        };
        let _ = writeln!(out, "{part}: {} gb ({} %)", gb(*bytes), erlang_float(share));
    }
    if !parts.is_empty() {
        out.push('\n');
    }
}

//! The `warren` command: arguments and environment, logging, serve until SIGINT/SIGTERM.

mod args;
mod ctl;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;
use warren::{BrokerConfig, Server, TlsConfig};
use warren_broker::auth::{HashingAlgorithm, PasswordHash};

/// jemalloc hands freed memory back to the system (glibc's malloc kept a drained backlog's
/// 1.3 GB for good). The binary's choice only, which is why it is a package of its own: the
/// `warren` library (`warren::start_local()`) leaves the allocator to its user.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("WARREN_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let arguments: Vec<_> = std::env::args_os().skip(1).collect();
    let options = match args::parse(arguments.iter().cloned()) {
        Ok(args::Command::Serve(options)) => options,
        Ok(args::Command::HashPassword(password)) => return hash_password(password),
        Ok(args::Command::Ctl(verb)) => return ctl::run(verb),
        // --help and --version too: clap prints them on stdout and exits 0, errors on stderr
        // and exits 2 (64 for `warren ctl`, as rabbitmqctl).
        Err(e) => {
            let _ = e.print();
            if args::is_ctl(&arguments) {
                return ExitCode::from(ctl::usage_exit_code(e.exit_code()));
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // Without its background thread, jemalloc returns pages only while the process allocates:
    // an idle broker would keep what a drained backlog or closed connections left.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        warn!("freed memory will go back to the system only under activity: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(options))
}

/// `warren hash-password`: what `rabbitmqctl hash_password` prints (RabbitMQ 3.11+).
fn hash_password(password: Option<String>) -> ExitCode {
    let password = match password {
        Some(password) => password,
        None => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut line) {
                eprintln!(
                    "warren hash-password: cannot read the password from standard input: {e}"
                );
                return ExitCode::FAILURE;
            }
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.is_empty() {
        eprintln!("warren hash-password: the password is empty; RabbitMQ and Warren refuse blank passwords");
        return ExitCode::from(2);
    }
    println!(
        "{}",
        PasswordHash::new(HashingAlgorithm::Sha256, &password).to_base64()
    );
    ExitCode::SUCCESS
}

/// Users, vhosts and permissions: from the definitions file, or the one user of --user.
fn broker_config(options: &args::Options) -> Result<BrokerConfig, String> {
    let mut config = match &options.definitions {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the definitions file {}: {e}", path.display()))?;
            let loaded = warren::definitions::parse(&text)
                .map_err(|e| format!("definitions file {}: {e}", path.display()))?;
            for warning in &loaded.warnings {
                warn!("definitions file {}: {warning}", path.display());
            }
            let config = loaded.config;
            info!(
                users = config.users.len(),
                vhosts = config.vhosts.len(),
                permissions = config.permissions.len(),
                "loaded definitions from {}",
                path.display()
            );
            config
        }
        None => BrokerConfig::single_user(
            options.user.as_deref().unwrap_or("guest"),
            options.password.as_deref().unwrap_or("guest"),
        ),
    };
    config.loopback_users.clone_from(&options.loopback_users.0);
    Ok(config)
}

async fn serve(options: args::Options) -> ExitCode {
    let config = match broker_config(&options) {
        Ok(config) => config,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let remote = options
        .addresses()
        .iter()
        .any(|a| !warren_broker::model::access::is_loopback(a.ip()));
    let local_only: Vec<&str> = config
        .users
        .iter()
        .filter(|u| config.loopback_users.contains(&u.name))
        .map(|u| u.name.as_str())
        .collect();
    if remote && !local_only.is_empty() {
        warn!(
            "user(s) {} may only connect from this machine (as RabbitMQ's loopback_users); \
             for clients on other hosts, use another user or --loopback-users none",
            local_only.join(", ")
        );
    }
    let mut builder = Server::builder()
        .config(config)
        .memory_high_watermark(options.memory_high_watermark)
        .limits(options.limits())
        .max_handshakes(options.limits.max_handshakes);
    if let Some(address) = options.management.api_address() {
        builder = builder.management(address);
    }
    if let Some(address) = options.management.metrics_address() {
        builder = builder.prometheus(address);
    }
    let Some(listeners) = bind(&options, options.addresses(), "--port or WARREN_PORT").await else {
        return ExitCode::FAILURE;
    };
    if listeners.is_empty() {
        error!("no address to listen on; check --bind / WARREN_BIND");
        return ExitCode::FAILURE;
    }
    for listener in listeners {
        builder = builder.listener(listener);
    }
    if let Some((cert, key)) = options.tls_files() {
        match TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => builder = builder.tls(tls),
            Err(e) => {
                error!("{e}. Give PEM files with --tls-cert and --tls-key (WARREN_TLS_CERT, WARREN_TLS_KEY), or neither to serve plain AMQP only.");
                return ExitCode::FAILURE;
            }
        }
        let Some(listeners) = bind(
            &options,
            options.tls_addresses(),
            "--tls-port or WARREN_TLS_PORT",
        )
        .await
        else {
            return ExitCode::FAILURE;
        };
        for listener in listeners {
            builder = builder.tls_listener(listener);
        }
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(e) => {
            error!("cannot start: {e}. Is another broker running there? Choose other ports with --management-port and --prometheus-port, or turn them off with --no-management and --no-prometheus.");
            return ExitCode::FAILURE;
        }
    };
    if let Some(url) = server.management_url() {
        info!("management API: {url}/api/");
    }
    if let Some(url) = server.prometheus_url() {
        info!("Prometheus metrics: {url}/metrics");
    }
    let plain = server.local_addrs().iter().map(|a| ("amqp", a));
    for (scheme, address) in plain.chain(server.tls_local_addrs().iter().map(|a| ("amqps", a))) {
        match (&options.definitions, &options.user) {
            (Some(path), _) => info!(
                %address,
                "warren ready: {scheme}://{address}/ (users of {})",
                path.display()
            ),
            (None, user) => {
                let user = user.as_deref().unwrap_or("guest");
                info!(%address, %user, "warren ready: {scheme}://{user}@{address}/");
            }
        }
    }
    if let Some(path) = &options.ready_file {
        if let Err(e) = announce_ready(path, &server) {
            error!(
                "cannot write the ready line to {}: {e}. Give --ready-file a writable file, FIFO or /dev/fd/N.",
                path.display()
            );
            server.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    // RabbitMQ's words: testcontainers and pytest-celery wait for this line in the log.
    info!("Server startup complete; every door listens");
    wait_for_signal().await;
    info!("shutting down: closing client connections (320 CONNECTION_FORCED)");
    server.shutdown().await;
    info!("stopped");
    ExitCode::SUCCESS
}

/// The `--ready-file` line: where each door listens, as URLs, and the process to signal.
fn announce_ready(path: &std::path::Path, server: &warren::ServerHandle) -> std::io::Result<()> {
    let urls = |scheme: &str, addresses: &[std::net::SocketAddr]| -> Vec<String> {
        addresses
            .iter()
            .map(|address| format!("{scheme}://{address}/"))
            .collect()
    };
    let line = serde_json::json!({
        "pid": std::process::id(),
        "amqp": urls("amqp", server.local_addrs()),
        "amqps": urls("amqps", server.tls_local_addrs()),
        "management": server.management_url(),
        "prometheus": server.prometheus_url(),
    });
    std::fs::write(path, format!("{line}\n"))
}

/// Binds `addresses`; None (after logging why) when one that is not optional fails.
async fn bind(
    options: &args::Options,
    addresses: Vec<std::net::SocketAddr>,
    port_option: &str,
) -> Option<Vec<tokio::net::TcpListener>> {
    let mut listeners = Vec::new();
    for address in addresses {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => listeners.push(listener),
            // [::1] is a convenience for clients that resolve `localhost` to it first; a host
            // without IPv6 still serves on 127.0.0.1.
            Err(e) if options.is_optional(&address) => warn!("not listening on {address}: {e}"),
            Err(e) => {
                error!("cannot listen on {address}: {e}. Is another broker running there? Choose another port with {port_option}.");
                return None;
            }
        }
    }
    Some(listeners)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

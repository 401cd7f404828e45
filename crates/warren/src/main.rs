//! The `warren` command: arguments and environment, logging, serve until SIGINT/SIGTERM.

mod args;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;
use warren_broker::auth::{HashingAlgorithm, PasswordHash};
use warren_broker::BrokerConfig;
use warren_server::Server;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("WARREN_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let options = match args::Options::from_env_and_args(std::env::args().skip(1)) {
        Ok(args::Command::Serve(options)) => options,
        Ok(args::Command::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(args::Command::Version) => {
            println!("warren {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(args::Command::HashPassword(password)) => return hash_password(password),
        Err(message) => {
            eprintln!("warren: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
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
            let loaded = warren_broker::definitions::parse(&text)
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
    config.loopback_users.clone_from(&options.loopback_users);
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
        .any(|a| !warren_broker::access::is_loopback(a.ip()));
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
        .memory_high_watermark(options.memory_high_watermark);
    let mut bound = 0;
    for address in options.addresses() {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                builder = builder.listener(listener);
                bound += 1;
            }
            // [::1] is a convenience for clients that resolve `localhost` to it first; a host
            // without IPv6 still serves on 127.0.0.1.
            Err(e) if options.is_optional(&address) => warn!("not listening on {address}: {e}"),
            Err(e) => {
                error!("cannot listen on {address}: {e}. Is another broker running there? Choose another port with --port or WARREN_PORT.");
                return ExitCode::FAILURE;
            }
        }
    }
    if bound == 0 {
        error!("no address to listen on; check --bind / WARREN_BIND");
        return ExitCode::FAILURE;
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(e) => {
            error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    for address in server.local_addrs() {
        match (&options.definitions, &options.user) {
            (Some(path), _) => info!(
                %address,
                "warren ready: amqp://{address}/ (users of {})",
                path.display()
            ),
            (None, user) => {
                let user = user.as_deref().unwrap_or("guest");
                info!(%address, %user, "warren ready: amqp://{user}@{address}/");
            }
        }
    }
    wait_for_signal().await;
    info!("shutting down: closing client connections (320 CONNECTION_FORCED)");
    server.shutdown().await;
    info!("stopped");
    ExitCode::SUCCESS
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

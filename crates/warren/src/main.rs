//! The `warren` command: arguments and environment, logging, serve until SIGINT/SIGTERM.

mod args;

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;
use warren_server::{Server, TlsConfig};

/// jemalloc hands freed memory back to the system (glibc's malloc kept a drained backlog's
/// 1.3 GB for good). The binary's choice only: `warren::start_local()` leaves it to its user.
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
        Err(message) => {
            eprintln!("warren: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
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

async fn serve(options: args::Options) -> ExitCode {
    let mut builder = Server::builder()
        .user(options.user.clone(), options.password.clone())
        .memory_high_watermark(options.memory_high_watermark)
        .limits(options.limits.clone())
        .max_handshakes(options.max_handshakes);
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
            error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    for address in server.local_addrs() {
        info!(%address, user = %options.user, "warren ready: amqp://{}@{address}/", options.user);
    }
    for address in server.tls_local_addrs() {
        info!(%address, user = %options.user, "warren ready: amqps://{}@{address}/", options.user);
    }
    wait_for_signal().await;
    info!("shutting down: closing client connections (320 CONNECTION_FORCED)");
    server.shutdown().await;
    info!("stopped");
    ExitCode::SUCCESS
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

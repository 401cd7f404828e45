//! Warren: an AMQP 0-9-1 broker that RabbitMQ's clients use unchanged.
//!
//! Embedding it in a test takes one call:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let broker = warren::start_local().await?;
//! let url = broker.amqp_url(); // amqp://guest:guest@127.0.0.1:PORT/%2F
//! // ... connect any AMQP 0-9-1 client to `url` ...
//! broker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! This crate is the library only. The `warren` command (package `warren-cli`) is built on it
//! and alone chooses jemalloc as its allocator: embedding Warren leaves the allocator to you.

/// Users, vhosts and permissions ([`BrokerConfig`]), read from a RabbitMQ definitions file with
/// [`definitions::parse`].
pub use warren_broker::{controls, definitions, Broker, BrokerConfig, User};

/// What [`ServerBuilder::limits`] takes: channels, message size and consumers per connection,
/// and each vhost's `max-connections` and `max-queues`; the defaults are RabbitMQ 3.x's.
/// `max_message_size` may not exceed [`MAX_MESSAGE_SIZE_CEILING`] (512 MiB), as in RabbitMQ.
pub use warren_broker::limits::{
    Limits, VHostLimits, DEFAULT_TRACE_SIZE, MAX_MESSAGE_SIZE_CEILING,
};

/// Starting a broker ([`Server::builder`]) and the handle of a running one.
pub use warren_server::{Server, ServerBuilder, ServerHandle};

/// amqps: [`TlsConfig::from_pem_files`] for [`ServerBuilder::tls`], [`TlsError`] when the files
/// are not a usable certificate and key, [`DEFAULT_TLS_PORT`] (5671) where amqps listens.
pub use warren_server::{TlsConfig, TlsError, DEFAULT_TLS_PORT};

/// The memory high watermark ([`ServerBuilder::memory_high_watermark`]): a fraction of RAM or
/// a size, read by [`Watermark::parse`]; [`parse_size`] reads sizes such as `512MiB` or `2GB`.
pub use warren_server::{parse_size, Watermark};

/// How many connections may be between TCP accept and `connection.open` by default
/// ([`ServerBuilder::max_handshakes`]), and how long each may take.
pub use warren_server::{DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HANDSHAKES};

/// Starts a broker on 127.0.0.1 with a free port and guest/guest, on the current runtime.
pub async fn start_local() -> std::io::Result<ServerHandle> {
    Server::builder()
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await
}

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

pub use warren_broker::{definitions, Broker, BrokerConfig, Limits, User, VHostLimits};
pub use warren_server::{Server, ServerBuilder, ServerHandle, TlsConfig};

/// Starts a broker on 127.0.0.1 with a free port and guest/guest, on the current runtime.
pub async fn start_local() -> std::io::Result<ServerHandle> {
    Server::builder()
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await
}

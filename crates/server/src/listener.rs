//! The accept loop: one per listening socket. Each accepted connection gets its own task;
//! at shutdown the loop stops accepting and waits for its connections to close.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};
use warren_broker::Broker;

use crate::connection::{self, Accepted};
use crate::handshakes::Handshakes;
use crate::ConnectionSettings;

/// What a listener serves its connections with.
pub(crate) struct Serving {
    /// Set on an amqps listener.
    pub tls: Option<TlsAcceptor>,
    pub broker: Arc<Broker>,
    pub settings: Arc<ConnectionSettings>,
    /// Shared by all listeners.
    pub handshakes: Arc<Handshakes>,
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    serving: Serving,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Beyond the limit the newest connection is dropped, unanswered.
                    let Some(handshake) = serving.handshakes.enter(peer) else {
                        continue;
                    };
                    let Ok(local) = stream.local_addr() else {
                        continue;
                    };
                    let accepted = Accepted {
                        peer,
                        local,
                        tls: serving.tls.clone(),
                        broker: Arc::clone(&serving.broker),
                        settings: Arc::clone(&serving.settings),
                        handshake,
                        shutdown: shutdown.clone(),
                    };
                    connections.spawn(connection::serve(stream, accepted));
                }
                Err(error) => {
                    // Out of file descriptors and the like: keep serving the others.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow with every client ever seen.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    if let Ok(address) = listener.local_addr() {
        info!(%address, open = connections.len(), "listener closed; closing connections");
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

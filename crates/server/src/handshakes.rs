//! The limit on connections still in the handshake (from TCP accept to `connection.open`,
//! the TLS handshake included): a flood of idle connects costs at most this many connection
//! tasks and buffers, whatever the handshake timeout. Connections beyond it are closed at
//! once, the newest first; the refusals are logged at most once per [`LOG_INTERVAL`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::warn;

/// How many connections may be in the handshake at once, unless configured.
pub const DEFAULT_MAX_HANDSHAKES: usize = 1000;
const LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Handshakes {
    max: usize,
    in_progress: AtomicUsize,
    /// When the last refusal was logged, and how many there were since.
    log: Mutex<(Option<Instant>, u64)>,
}

/// A place among the connections in the handshake, given back when dropped.
#[derive(Debug)]
pub(crate) struct HandshakeSlot(Arc<Handshakes>);

impl Handshakes {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Handshakes {
            max,
            in_progress: AtomicUsize::new(0),
            log: Mutex::new((None, 0)),
        })
    }

    /// A place for a connection from `peer`, or None (and a log line, now and then) when
    /// all are taken.
    pub fn enter(self: &Arc<Self>, peer: SocketAddr) -> Option<HandshakeSlot> {
        let entered = self
            .in_progress
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        if entered {
            return Some(HandshakeSlot(Arc::clone(self)));
        }
        let mut log = self.log.lock();
        log.1 += 1;
        let now = Instant::now();
        if log.0.map_or(true, |last| now >= last + LOG_INTERVAL) {
            warn!(
                %peer,
                refused = log.1,
                "{} connections are already in the handshake (the limit, --max-handshakes); \
                 closing new connections until some finish or time out",
                self.max
            );
            *log = (Some(now), 0);
        }
        None
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_limited_and_given_back() {
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let handshakes = Handshakes::new(1);
        let first = handshakes.enter(peer).expect("a place");
        assert!(handshakes.enter(peer).is_none());
        drop(first);
        assert!(handshakes.enter(peer).is_some());
    }
}

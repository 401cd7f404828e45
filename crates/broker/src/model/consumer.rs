//! Consumers, and the credit that bounds what they may hold unacknowledged.
//!
//! Queues dispatch on whatever task made a message available (a publisher's, an acker's): the
//! queue picks a consumer with credit and hands the delivery to the consumer's door through
//! the delivery sink it attached with (see `queue.rs`). The door (an AMQP
//! session, a gateway session) gives the credit back when the delivery is settled.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use warren_wire::ShortStr;

/// How many deliveries a no-ack consumer may have between its queue and its socket.
pub const NO_ACK_WINDOW: u16 = 1000;

/// How many unacknowledged deliveries a consumer (or a whole channel) may hold: RabbitMQ's
/// prefetch count, where 0 means no limit.
#[derive(Debug, Default)]
pub struct Credit {
    limit: AtomicU32,
    used: AtomicU32,
}

impl Credit {
    pub fn with_limit(limit: u16) -> Self {
        Credit {
            limit: AtomicU32::new(limit.into()),
            used: AtomicU32::new(0),
        }
    }

    pub fn set_limit(&self, limit: u16) {
        self.limit.store(limit.into(), Ordering::Relaxed);
    }

    /// The prefetch count (0: no limit).
    pub fn limit(&self) -> u16 {
        u16::try_from(self.limit.load(Ordering::Relaxed)).unwrap_or(u16::MAX)
    }

    /// Takes one unit of credit if the limit allows.
    pub fn try_acquire(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (limit == 0 || used < limit).then_some(used + 1)
            })
            .is_ok()
    }

    /// Gives back `n` units (saturating, so a late release after a reset cannot underflow).
    pub fn release(&self, n: u32) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    pub fn is_exhausted(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        limit != 0 && self.used.load(Ordering::Acquire) >= limit
    }
}

/// One consumer (a `basic.consume`, or a door's own subscription), as its queue sees it. The
/// default takes everything (no prefetch limit) and has priority 0.
#[derive(Debug, Default)]
pub struct Consumer {
    pub tag: ShortStr,
    pub channel: u16,
    pub connection_id: u64,
    pub no_ack: bool,
    pub exclusive: bool,
    /// `x-priority`: higher-priority consumers are served first while they have credit.
    pub priority: i64,
    /// Per-consumer prefetch (`basic.qos` with `global=false` before the consume).
    pub credit: Credit,
    /// Per-channel prefetch (`basic.qos` with `global=true`), shared by the channel's consumers.
    pub channel_credit: Arc<Credit>,
    /// Set when the consumer is cancelled, so deliveries already on their way are requeued.
    pub(crate) cancelled: AtomicBool,
}

impl Consumer {
    /// A consumer of priority 0 that may hold `prefetch` unacknowledged deliveries (0: no
    /// limit), as a door that is not AMQP makes one.
    pub fn new(tag: ShortStr, prefetch: u16) -> Self {
        Consumer {
            tag,
            credit: Credit::with_limit(prefetch),
            ..Consumer::default()
        }
    }

    /// Reserves room for one delivery. A no-ack consumer has no prefetch (RabbitMQ ignores it
    /// for them) but its `credit` holds [`NO_ACK_WINDOW`] deliveries on their way to the socket,
    /// given back as each is written, so a client that does not read holds messages in the
    /// queue, not in its connection's memory.
    pub fn try_reserve(&self) -> bool {
        if !self.credit.try_acquire() {
            return false;
        }
        if !self.no_ack && !self.channel_credit.try_acquire() {
            self.credit.release(1);
            return false;
        }
        true
    }

    /// Returns the room taken by `n` deliveries: acked, rejected or requeued, or for a no-ack
    /// consumer, written out.
    pub fn release(&self, n: u32) {
        self.credit.release(n);
        if !self.no_ack {
            self.channel_credit.release(n);
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

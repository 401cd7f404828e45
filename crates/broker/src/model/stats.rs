//! Message counters, as RabbitMQ's `message_stats` counts them.
//!
//! What they cost on the hot path is nothing that was not paid already: a queue counts under
//! the lock it holds anyway; a session tallies its own in plain integers and stores them into
//! its [`SharedCounters`] (atomics only it writes) once per batch of input or deliveries; an
//! exchange's counts are tallied by each publishing session and added to the exchange's
//! atomics once per batch. Totals (a vhost's, the broker's) are sums taken when read.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts since an object was created. The names are RabbitMQ's `message_stats` fields.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MessageStats {
    /// Messages published (to an exchange, by a connection), or enqueued (in a queue).
    pub publish: u64,
    /// Publishes confirmed to the publisher.
    pub confirm: u64,
    /// Deliveries to consumers that acknowledge.
    pub deliver: u64,
    /// Deliveries to consumers that do not.
    pub deliver_no_ack: u64,
    /// `basic.get`s answered with a message, acknowledged later.
    pub get: u64,
    /// `basic.get`s answered with a message, without acknowledgement.
    pub get_no_ack: u64,
    /// `basic.get`s answered with `get-empty`.
    pub get_empty: u64,
    /// Deliveries acknowledged.
    pub ack: u64,
    /// Deliveries and gets of messages that had been delivered before.
    pub redeliver: u64,
    /// Mandatory messages that went nowhere, returned to their publisher.
    pub return_unroutable: u64,
    /// Messages that went nowhere, dropped.
    pub drop_unroutable: u64,
    /// Copies of published messages handed to queues, one per queue a message was routed to:
    /// RabbitMQ's global `messages_routed` (Prometheus), in no `message_stats`.
    pub routed: u64,
}

impl MessageStats {
    /// RabbitMQ's `deliver_get`: every delivery and get, acknowledged or not.
    pub fn deliver_get(&self) -> u64 {
        self.deliver + self.deliver_no_ack + self.get + self.get_no_ack
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &MessageStats) {
        for (total, part) in self.fields_mut().into_iter().zip(other.fields()) {
            *total += part;
        }
    }

    /// Each count under its RabbitMQ name, `deliver_get` included: what a door shows as
    /// `message_stats` (a rate is the difference of two readings over the time between).
    /// Not `routed`, which RabbitMQ counts for Prometheus alone.
    pub fn named(&self) -> [(&'static str, u64); 12] {
        [
            ("publish", self.publish),
            ("confirm", self.confirm),
            ("deliver", self.deliver),
            ("deliver_no_ack", self.deliver_no_ack),
            ("get", self.get),
            ("get_no_ack", self.get_no_ack),
            ("get_empty", self.get_empty),
            ("deliver_get", self.deliver_get()),
            ("ack", self.ack),
            ("redeliver", self.redeliver),
            ("return_unroutable", self.return_unroutable),
            ("drop_unroutable", self.drop_unroutable),
        ]
    }

    fn fields(&self) -> [u64; 12] {
        [
            self.publish,
            self.confirm,
            self.deliver,
            self.deliver_no_ack,
            self.get,
            self.get_no_ack,
            self.get_empty,
            self.ack,
            self.redeliver,
            self.return_unroutable,
            self.drop_unroutable,
            self.routed,
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 12] {
        [
            &mut self.publish,
            &mut self.confirm,
            &mut self.deliver,
            &mut self.deliver_no_ack,
            &mut self.get,
            &mut self.get_no_ack,
            &mut self.get_empty,
            &mut self.ack,
            &mut self.redeliver,
            &mut self.return_unroutable,
            &mut self.drop_unroutable,
            &mut self.routed,
        ]
    }
}

/// [`MessageStats`] that one writer stores and anyone reads.
#[derive(Debug, Default)]
pub struct SharedCounters([AtomicU64; 12]);

impl SharedCounters {
    /// Publishes the writer's current counts (it alone writes: plain stores).
    pub fn store(&self, stats: &MessageStats) {
        for (cell, value) in self.0.iter().zip(stats.fields()) {
            cell.store(value, Ordering::Relaxed);
        }
    }

    /// Adds to the counts (several writers, for totals kept after their objects are gone).
    pub fn add(&self, stats: &MessageStats) {
        for (cell, value) in self.0.iter().zip(stats.fields()) {
            if value != 0 {
                cell.fetch_add(value, Ordering::Relaxed);
            }
        }
    }

    pub fn load(&self) -> MessageStats {
        let mut stats = MessageStats::default();
        for (field, cell) in stats.fields_mut().into_iter().zip(&self.0) {
            *field = cell.load(Ordering::Relaxed);
        }
        stats
    }
}

/// Objects created and closed since the broker started: RabbitMQ's `churn_rates`. Counted
/// where objects are made and let go (a channel's open and close, a queue's declaration), not
/// per message.
#[derive(Debug, Default)]
pub struct Churn {
    connection_created: AtomicU64,
    connection_closed: AtomicU64,
    channel_created: AtomicU64,
    channel_closed: AtomicU64,
    queue_declared: AtomicU64,
    queue_created: AtomicU64,
    queue_deleted: AtomicU64,
}

/// What happened to an object, for [`Churn::count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnEvent {
    ConnectionCreated,
    ConnectionClosed,
    ChannelCreated,
    ChannelClosed,
    QueueDeclared,
    QueueCreated,
    QueueDeleted,
}

impl Churn {
    pub fn count(&self, event: ChurnEvent, times: u64) {
        let counter = match event {
            ChurnEvent::ConnectionCreated => &self.connection_created,
            ChurnEvent::ConnectionClosed => &self.connection_closed,
            ChurnEvent::ChannelCreated => &self.channel_created,
            ChurnEvent::ChannelClosed => &self.channel_closed,
            ChurnEvent::QueueDeclared => &self.queue_declared,
            ChurnEvent::QueueCreated => &self.queue_created,
            ChurnEvent::QueueDeleted => &self.queue_deleted,
        };
        counter.fetch_add(times, Ordering::Relaxed);
    }

    /// Each count under its RabbitMQ name.
    pub fn named(&self) -> [(&'static str, u64); 7] {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            ("connection_created", load(&self.connection_created)),
            ("connection_closed", load(&self.connection_closed)),
            ("channel_created", load(&self.channel_created)),
            ("channel_closed", load(&self.channel_closed)),
            ("queue_declared", load(&self.queue_declared)),
            ("queue_created", load(&self.queue_created)),
            ("queue_deleted", load(&self.queue_deleted)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_get_sums_the_four_ways_out() {
        let stats = MessageStats {
            deliver: 1,
            deliver_no_ack: 2,
            get: 4,
            get_no_ack: 8,
            ..MessageStats::default()
        };
        assert_eq!(stats.deliver_get(), 15);
    }

    #[test]
    fn shared_counters_store_add_and_load_every_field() {
        let stats = MessageStats {
            publish: 1,
            confirm: 2,
            deliver: 3,
            deliver_no_ack: 4,
            get: 5,
            get_no_ack: 6,
            get_empty: 11,
            ack: 7,
            redeliver: 8,
            return_unroutable: 9,
            drop_unroutable: 10,
            routed: 12,
        };
        let shared = SharedCounters::default();
        shared.store(&stats);
        assert_eq!(shared.load(), stats);
        shared.add(&stats);
        let mut twice = stats;
        twice.add(&stats);
        assert_eq!(shared.load(), twice);
    }
}

//! Queues: where a message waits for a consumer.
//!
//! A queue holds its ready messages (see `ready.rs`: FIFO per priority level) and the consumers
//! attached to it. It has no task of its own: whoever makes progress possible (a publish, an
//! ack that frees credit, a new consumer) calls [`Queue::dispatch`], which hands ready messages
//! to the highest-priority consumers that have credit, round-robin among equals, under the
//! queue's own lock and no other. With `x-single-active-consumer`, only the oldest consumer
//! is served.
//!
//! Every message gets a sequence number when it is enqueued; a message that comes back (nack,
//! reject, a closed channel) is put back in sequence order, so the queue keeps publish order
//! as RabbitMQ does, and carries `redelivered` from then on.
//!
//! Messages the queue lets go of (expired, over `x-max-length`, rejected) are collected under
//! the lock and dead-lettered after it is released ([`Queue::locked`]), since republishing
//! takes other queues' locks, possibly this one's again.

mod footprint;
mod ready;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use warren_wire::{FieldTable, ShortStr};

use crate::error::{AmqpError, AmqpResult};
use crate::model::arguments::{Overflow, QueueArguments};
use crate::model::changes::Changes;
use crate::model::consumer::Consumer;
use crate::model::dead_letter::DeathReason;
use crate::model::message::{Message, QueuedMessage};
use crate::model::stats::MessageStats;
pub use footprint::Footprint;
use ready::Ready;

/// The identity of a connection, for exclusive queues.
pub type ConnectionId = u64;

/// A message a queue hands to one of its consumers, whose credit it has reserved already.
#[derive(Debug)]
pub struct Delivery {
    pub consumer: Arc<Consumer>,
    /// Where the delivery's settlement goes back to (ack, reject, requeue).
    pub queue: Arc<Queue>,
    pub message: QueuedMessage,
}

impl Delivery {
    /// The consumer acknowledged it: its credit comes back, and the queue hands on what waited.
    pub fn ack(self) {
        self.consumer.release(1);
        self.queue.settled(Footprint::from(&*self.message.message));
    }

    /// The consumer gave it back: it returns to its place in the queue, marked redelivered.
    pub fn requeue(self) {
        self.consumer.release(1);
        self.queue.requeue([self.message], true);
    }

    /// The consumer refused it: dead-lettered (reason `rejected`) or dropped.
    pub fn reject(self) {
        self.consumer.release(1);
        self.queue.reject([self.message]);
        self.queue.settled(Footprint::default());
    }
}

/// Where a consumer's deliveries go: its door (an AMQP session's outbox, a gateway session).
/// Called under the queue's lock, so it must only hand the work on (and wake its door's task),
/// never call back into the model.
pub trait DeliverySink: Send + Sync + std::fmt::Debug {
    fn deliver(&self, delivery: Delivery);
    /// `consumer` was cancelled by the broker: its queue was deleted, or a management request
    /// cancelled it. AMQP tells the client with `basic.cancel` if it asked for that
    /// (`consumer_cancel_notify`).
    fn cancelled(&self, consumer: Arc<Consumer>);
}

/// A consumer attached to a queue, and the sink its deliveries go to.
#[derive(Debug, Clone)]
pub struct Attached {
    pub consumer: Arc<Consumer>,
    pub sink: Arc<dyn DeliverySink>,
}

/// What a queue needs of the vhost it lives in, which owns it: somewhere to dead-letter, and a
/// clock for its TTLs. (A trait, so that the queue does not depend on the vhost that holds it.)
pub trait QueueHost: Send + Sync + std::fmt::Debug {
    /// Republishes what `queue` let go of to its dead-letter exchange. Called with no lock held.
    fn dead_letter(&self, queue: &Queue, dead: Vec<(QueuedMessage, DeathReason)>);
    /// Puts `queue` on the list the broker's sweep visits (it has or holds something that
    /// expires). Called with no lock held.
    fn watch_timed(&self, queue: &Arc<Queue>);
}

#[derive(Debug)]
pub struct Queue {
    pub name: ShortStr,
    pub durable: bool,
    /// The connection an exclusive queue belongs to.
    pub exclusive_owner: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    /// The arguments Warren acts on.
    pub settings: QueueArguments,
    /// The vhost: where dead letters are routed, and who sweeps the queue's TTLs.
    host: Weak<dyn QueueHost>,
    /// On the vhost's sweep list: it has a TTL, or has held a message that expires.
    timed: AtomicBool,
    state: Mutex<QueueState>,
    /// Wakes the test controls' waits for this queue: told of what they wait for (messages
    /// enqueued or put back, a consumer attached, the queue deleted), not of every change.
    changes: Changes,
}

#[derive(Debug)]
struct QueueState {
    ready: Ready,
    /// By priority, highest first, and within a priority the next to serve first; in
    /// registration order for a single-active-consumer queue.
    consumers: Vec<Attached>,
    next_seq: u64,
    deleted: bool,
    /// Last declare, consume or get: what `x-expires` counts from.
    last_used: Instant,
    /// Messages let go of under the lock, dead-lettered once it is released.
    dead: Vec<(QueuedMessage, DeathReason)>,
    /// Handed to consumers (or to `basic.get` with acks) and not settled yet. A delivery to a
    /// no-ack consumer counts until it is written to the consumer's socket.
    unacked: Footprint,
    /// Counted here, under the lock taken anyway: `publish` (enqueued), `deliver`,
    /// `deliver_no_ack`, `get`, `get_no_ack`, `get_empty`, `redeliver`, `ack`.
    stats: MessageStats,
}

/// What a queue holds and has done, read at one moment (under its lock).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// The ready messages (their bytes are what `x-max-length-bytes` counts).
    pub ready: Footprint,
    /// The messages delivered and not settled yet.
    pub unacked: Footprint,
    pub consumers: u32,
    pub stats: MessageStats,
}

/// What became of a published message in one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Handed to a consumer, or waiting for one's credit.
    Accepted,
    /// Kept by a queue without consumer.
    Held,
    /// The queue was full and its `x-overflow` refuses new messages.
    Rejected,
    /// The queue was deleted meanwhile.
    Gone,
}

/// What became of a queue when a consumer left it.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsumerRemoved {
    NotFound,
    Removed,
    /// It was the last consumer of an auto-delete queue: the caller deletes the queue.
    LastOfAutoDelete,
}

/// A queue's description, as `queue.declare` gives it.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub name: ShortStr,
    pub durable: bool,
    pub exclusive_owner: Option<ConnectionId>,
    pub auto_delete: bool,
    pub arguments: FieldTable,
    pub settings: QueueArguments,
}

impl Queue {
    pub fn new(options: QueueOptions, host: Weak<dyn QueueHost>) -> Self {
        let state = QueueState {
            ready: Ready::new(options.settings.max_priority),
            consumers: Vec::new(),
            next_seq: 0,
            deleted: false,
            last_used: Instant::now(),
            dead: Vec::new(),
            unacked: Footprint::default(),
            stats: MessageStats::default(),
        };
        Queue {
            name: options.name,
            durable: options.durable,
            exclusive_owner: options.exclusive_owner,
            auto_delete: options.auto_delete,
            arguments: options.arguments,
            settings: options.settings,
            host,
            timed: AtomicBool::new(false),
            state: Mutex::new(state),
            changes: Changes::default(),
        }
    }

    pub(crate) fn mark_timed(&self) {
        self.timed.store(true, Ordering::Release);
    }

    /// Runs `f` under the queue's lock, then dead-letters what it let go of.
    fn locked<R>(&self, f: impl FnOnce(&mut QueueState) -> R) -> R {
        let (result, dead) = {
            let mut state = self.state.lock();
            let result = f(&mut state);
            (result, std::mem::take(&mut state.dead))
        };
        if !dead.is_empty() {
            if let Some(host) = self.host.upgrade() {
                host.dead_letter(self, dead);
            }
        }
        result
    }

    /// Enqueues a newly published message, honouring `x-max-length(-bytes)` and `x-overflow`.
    /// In a queue without consumer, `message` is made the compact copy the queue keeps
    /// ([`Message::keep`]), which the other queues it is routed to then share; unless it is
    /// `dense`: the buffer it was read into is full of messages kept anyway. It is copied even
    /// then when the copy takes less than its share of the buffer's frames
    /// ([`Message::copy_takes_less`]: all but bodies just above an allocator's size class).
    pub fn publish(self: &Arc<Self>, message: &mut Arc<Message>, dense: bool) -> Enqueued {
        // A per-message TTL needs the broker's clock even in a queue without one of its own
        // (registered outside the queue's lock: the sweep takes the list's lock, then ours).
        if message.ttl().is_some() && !self.timed.swap(true, Ordering::AcqRel) {
            if let Some(host) = self.host.upgrade() {
                host.watch_timed(self);
            }
        }
        let enqueued = self.locked(|state| {
            if state.deleted {
                return Enqueued::Gone;
            }
            let held = state.consumers.is_empty();
            if held && (!dense || message.copy_takes_less()) {
                Message::keep(message);
            }
            let seq = state.next_seq;
            state.next_seq += 1;
            let ttl = match (self.settings.message_ttl, message.ttl()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // The clock is read only where a TTL makes it matter.
            let now = (ttl.is_some() || state.ready.has_expiring()).then(Instant::now);
            let expires_at = ttl.zip(now).map(|(ttl, now)| now + ttl);
            let queued = QueuedMessage::new(Arc::clone(message), seq, expires_at);
            if self.settings.overflow != Overflow::DropHead && self.would_overflow(state, &queued) {
                if self.settings.overflow == Overflow::RejectPublishDlx {
                    self.let_go(state, queued, DeathReason::Maxlen);
                }
                return Enqueued::Rejected;
            }
            state.ready.push_back(queued);
            state.stats.publish += 1;
            // Delivered at once if a consumer can take it: a TTL of 0 means "now or never",
            // and a length limit applies to what waits, not to what goes straight through.
            self.dispatch_locked(state, now);
            self.drop_expired(state, None);
            while self.over_limit(state) {
                let Some(oldest) = state.ready.pop_front() else {
                    break;
                };
                self.let_go(state, oldest, DeathReason::Maxlen);
            }
            if held {
                Enqueued::Held
            } else {
                Enqueued::Accepted
            }
        });
        self.changes.changed();
        enqueued
    }

    /// RabbitMQ 3.x's `will_overflow`: one more message would pass a limit.
    fn would_overflow(&self, state: &QueueState, message: &QueuedMessage) -> bool {
        let len = state.ready.len() as u64 + 1;
        let bytes = state.ready.bytes() + message.message.body_len();
        self.settings.max_length.is_some_and(|max| len > max)
            || self
                .settings
                .max_length_bytes
                .is_some_and(|max| bytes > max)
    }

    fn over_limit(&self, state: &QueueState) -> bool {
        self.settings
            .max_length
            .is_some_and(|max| state.ready.len() as u64 > max)
            || self
                .settings
                .max_length_bytes
                .is_some_and(|max| state.ready.bytes() > max)
    }

    /// Drops a message, or keeps it for dead-lettering if the queue has somewhere to send it.
    fn let_go(&self, state: &mut QueueState, message: QueuedMessage, reason: DeathReason) {
        if self.settings.dead_letter_exchange.is_some() {
            state.dead.push((message, reason));
        }
    }

    /// Puts messages back in publish order. `delivered` marks them `redelivered`: true for
    /// messages a client saw, false for ones caught on their way to a consumer that went away.
    /// Each is kept as its compact copy, unless it is one already or came with the messages
    /// read around it (see [`each_with_neighbours`]): the `Arc` it came with is put back.
    pub fn requeue(
        self: &Arc<Self>,
        messages: impl IntoIterator<Item = QueuedMessage>,
        delivered: bool,
    ) {
        self.locked(|state| {
            let deleted = state.deleted;
            let mut returned = Footprint::default();
            let messages = messages.into_iter().map(|mut message| {
                message.mark_redelivered(delivered);
                message
            });
            each_with_neighbours(
                messages,
                |m| &m.message,
                |mut message, in_a_run| {
                    returned.add(&message.message);
                    if deleted {
                        return;
                    }
                    if !in_a_run {
                        Message::keep(&mut message.message);
                    }
                    state.ready.put_back(message);
                },
            );
            state.unacked.subtract(&returned);
            self.dispatch_locked(state, None);
        });
        self.changes.changed();
    }

    /// Messages a client rejected without requeue: dead-lettered (reason `rejected`) or dropped.
    pub fn reject(&self, messages: impl IntoIterator<Item = QueuedMessage>) {
        self.locked(|state| {
            for message in messages {
                state.unacked.remove(&message.message);
                self.let_go(state, message, DeathReason::Rejected);
            }
        })
    }

    /// Hands ready messages to consumers with credit.
    pub fn dispatch(self: &Arc<Self>) {
        self.locked(|state| self.dispatch_locked(state, None))
    }

    /// Deliveries of this `acked` footprint were acknowledged (none: others were settled, or
    /// credit came back some other way): counted, and the queue hands on what waited.
    pub fn settled(self: &Arc<Self>, acked: Footprint) {
        self.locked(|state| {
            state.unacked.subtract(&acked);
            state.stats.ack += acked.messages;
            self.dispatch_locked(state, None)
        })
    }

    /// Deliveries of this `written` footprint to no-ack consumers reached their socket: they
    /// are settled, and there is room for more.
    pub fn written_no_ack(self: &Arc<Self>, written: Footprint) {
        self.locked(|state| {
            state.unacked.subtract(&written);
            self.dispatch_locked(state, None)
        })
    }

    /// `now` is the time to expire by, read from the clock when None (and needed): a publish
    /// passes its own, so that a message with a TTL of 0 can still go to a waiting consumer.
    fn dispatch_locked(self: &Arc<Self>, state: &mut QueueState, now: Option<Instant>) {
        self.drop_expired(state, now);
        while !state.ready.is_empty() {
            let candidates = if self.settings.single_active_consumer {
                state.consumers.len().min(1)
            } else {
                state.consumers.len()
            };
            let Some(chosen) = state.consumers[..candidates]
                .iter()
                .position(|c| c.consumer.try_reserve())
            else {
                return;
            };
            let Some(message) = state.ready.pop_front() else {
                return;
            };
            let Attached { consumer, sink } = state.consumers[chosen].clone();
            let counter = if consumer.no_ack {
                &mut state.stats.deliver_no_ack
            } else {
                &mut state.stats.deliver
            };
            *counter += 1;
            state.stats.redeliver += u64::from(message.redelivered());
            state.unacked.add(&message.message);
            if !self.settings.single_active_consumer {
                // Round-robin among equals: the chosen consumer goes behind the others of
                // its priority.
                let equals = state.consumers[chosen..]
                    .partition_point(|c| c.consumer.priority == consumer.priority);
                state.consumers[chosen..chosen + equals].rotate_left(1);
            }
            sink.deliver(Delivery {
                consumer,
                queue: Arc::clone(self),
                message,
            });
        }
    }

    /// Lets go of the messages whose TTL ran out (see `Ready::pop_expired`), as of `now` or,
    /// when None, of the clock.
    fn drop_expired(&self, state: &mut QueueState, now: Option<Instant>) {
        if !state.ready.has_expiring() {
            return;
        }
        let now = now.unwrap_or_else(Instant::now);
        while let Some(expired) = state.ready.pop_expired(now) {
            self.let_go(state, expired, DeathReason::Expired);
        }
    }

    /// Records a use that keeps an `x-expires` queue alive (declare, consume, get).
    pub fn touch(&self) {
        self.state.lock().last_used = Instant::now();
    }

    /// Expires messages and tells whether `x-expires` has run out for the queue: it has had no
    /// consumer and no use for that long.
    pub fn sweep(&self, now: Instant) -> bool {
        self.locked(|state| {
            self.drop_expired(state, Some(now));
            let unused_for = now.saturating_duration_since(state.last_used);
            self.settings
                .expires
                .is_some_and(|expires| state.consumers.is_empty() && unused_for >= expires)
        })
    }

    /// Attaches a consumer whose deliveries go to `sink`, enforcing exclusive consumption as
    /// RabbitMQ does (403).
    pub fn add_consumer(
        self: &Arc<Self>,
        consumer: Arc<Consumer>,
        sink: Arc<dyn DeliverySink>,
    ) -> AmqpResult<()> {
        self.locked(|state| {
            if state.deleted {
                return Err(AmqpError::not_found(no_queue_text(&self.name)));
            }
            let exclusive_taken = state.consumers.iter().any(|c| c.consumer.exclusive);
            if exclusive_taken || (consumer.exclusive && !state.consumers.is_empty()) {
                return Err(AmqpError::access_refused(format!(
                    "queue '{}' in vhost '/' in exclusive use",
                    self.name
                )));
            }
            // Highest priority first, newcomers behind their equals (RabbitMQ's consumer
            // priorities); a single-active-consumer queue keeps registration order.
            let at = if self.settings.single_active_consumer {
                state.consumers.len()
            } else {
                state
                    .consumers
                    .partition_point(|c| c.consumer.priority >= consumer.priority)
            };
            state.consumers.insert(at, Attached { consumer, sink });
            let now = Instant::now();
            state.last_used = now;
            self.dispatch_locked(state, Some(now));
            Ok(())
        })?;
        self.changes.changed();
        Ok(())
    }

    /// Detaches a consumer; the next one of a single-active-consumer queue takes over.
    pub fn remove_consumer(self: &Arc<Self>, consumer: &Arc<Consumer>) -> ConsumerRemoved {
        self.locked(|state| {
            let Some(at) = state
                .consumers
                .iter()
                .position(|c| Arc::ptr_eq(&c.consumer, consumer))
            else {
                return ConsumerRemoved::NotFound;
            };
            state.consumers.remove(at);
            if state.consumers.is_empty() {
                if self.auto_delete && !state.deleted {
                    return ConsumerRemoved::LastOfAutoDelete;
                }
                // What waited for this consumer now waits for nobody. Messages that other
                // queues (or their consumers) hold too are left as they are: a copy per queue
                // could cost more than the buffer they keep. So are runs of messages read one
                // after the other, a backlog that waited for the consumer: they fill their
                // buffers (see `each_with_neighbours`).
                each_with_neighbours(
                    state.ready.iter_mut(),
                    |m| &m.message,
                    |waiting, run| {
                        if !run && Arc::strong_count(&waiting.message) == 1 {
                            Message::keep(&mut waiting.message);
                        }
                    },
                );
            }
            self.dispatch_locked(state, None);
            ConsumerRemoved::Removed
        })
    }

    /// Takes the first ready message for `basic.get`, with the count left behind. Unless
    /// `no_ack`, it is unacknowledged until settled.
    pub fn get(&self, no_ack: bool) -> Option<(QueuedMessage, u32)> {
        self.locked(|state| {
            let now = Instant::now();
            state.last_used = now;
            self.drop_expired(state, Some(now));
            let Some(message) = state.ready.pop_front() else {
                state.stats.get_empty += 1;
                return None;
            };
            if no_ack {
                state.stats.get_no_ack += 1;
            } else {
                state.stats.get += 1;
                state.unacked.add(&message.message);
            }
            state.stats.redeliver += u64::from(message.redelivered());
            Some((message, count_u32(state.ready.len())))
        })
    }

    /// Drops every ready message; returns how many.
    /// The first `count` ready messages, in delivery order, left where they are: nothing is
    /// delivered, redelivered or reordered (the test controls' peek).
    pub fn peek(&self, count: usize) -> Vec<QueuedMessage> {
        let state = self.state.lock();
        state
            .ready
            .in_delivery_order()
            .take(count)
            .cloned()
            .collect()
    }

    pub fn purge(&self) -> u32 {
        let mut state = self.state.lock();
        let purged = count_u32(state.ready.len());
        state.ready.drain().for_each(drop);
        purged
    }

    pub fn message_count(&self) -> u32 {
        self.locked(|state| {
            self.drop_expired(state, None);
            count_u32(state.ready.len())
        })
    }

    pub fn consumer_count(&self) -> u32 {
        count_u32(self.state.lock().consumers.len())
    }

    /// What the queue holds and has done, read at one moment (expired messages let go first).
    /// Only a durable queue keeps messages persistent.
    pub fn counts(&self) -> QueueCounts {
        let kept = |footprint: Footprint| {
            if self.durable {
                footprint
            } else {
                footprint.transient()
            }
        };
        self.locked(|state| {
            self.drop_expired(state, None);
            QueueCounts {
                ready: kept(state.ready.footprint()),
                unacked: kept(state.unacked),
                consumers: count_u32(state.consumers.len()),
                stats: state.stats,
            }
        })
    }

    /// The consumers attached, highest priority first.
    pub fn consumers(&self) -> Vec<Arc<Consumer>> {
        let state = self.state.lock();
        state
            .consumers
            .iter()
            .map(|c| Arc::clone(&c.consumer))
            .collect()
    }

    /// Cancels a consumer from outside its door (a management request): it leaves the queue
    /// and its door is told (AMQP: `basic.cancel`, to a client that asked for it). Returns
    /// whether it was attached; an auto-delete queue that lost its last consumer so is for
    /// the caller to delete ([`ConsumerRemoved::LastOfAutoDelete`]).
    pub fn cancel_consumer(self: &Arc<Self>, consumer: &Arc<Consumer>) -> ConsumerRemoved {
        let sink = {
            let state = self.state.lock();
            let attached = state
                .consumers
                .iter()
                .find(|c| Arc::ptr_eq(&c.consumer, consumer));
            attached.map(|c| Arc::clone(&c.sink))
        };
        let Some(sink) = sink else {
            return ConsumerRemoved::NotFound;
        };
        consumer.cancel();
        let removed = self.remove_consumer(consumer);
        sink.cancelled(Arc::clone(consumer));
        removed
    }

    /// What the test controls wait on (see the field).
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    pub fn is_deleted(&self) -> bool {
        self.state.lock().deleted
    }

    /// Marks the queue deleted and empties it; returns its consumers (to be told) and the
    /// number of ready messages dropped.
    pub fn mark_deleted(&self) -> (Vec<Attached>, u32) {
        let deleted = Self::delete_locked(&mut self.state.lock());
        self.changes.changed();
        deleted
    }

    /// `queue.delete` with `if-unused` / `if-empty`, checked under the same lock as the deletion
    /// so that neither can race with a consume or a publish.
    pub fn mark_deleted_if(
        &self,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<(Vec<Attached>, u32)> {
        let mut state = self.state.lock();
        if if_unused && !state.consumers.is_empty() {
            return Err(AmqpError::precondition_failed(format!(
                "queue '{}' in vhost '/' in use",
                self.name
            )));
        }
        if if_empty && !state.ready.is_empty() {
            return Err(AmqpError::precondition_failed(format!(
                "queue '{}' in vhost '/' not empty",
                self.name
            )));
        }
        let deleted = Self::delete_locked(&mut state);
        drop(state);
        self.changes.changed();
        Ok(deleted)
    }

    fn delete_locked(state: &mut QueueState) -> (Vec<Attached>, u32) {
        state.deleted = true;
        let dropped = count_u32(state.ready.len());
        state.ready.drain().for_each(drop);
        (std::mem::take(&mut state.consumers), dropped)
    }
}

/// Calls `f` on each item in turn, with whether its message was read right before or after
/// another one's among them ([`Message::read_before`]): such runs of messages fill the read
/// buffers they are views of, and copying them would free nothing while taking as much memory
/// again (200 MiB of 1 KiB messages left by a consumer took 100 MiB more at once). A message
/// alone among consumed ones in its buffer has no such neighbour, and is worth its copy.
fn each_with_neighbours<T>(
    items: impl IntoIterator<Item = T>,
    message: impl Fn(&T) -> &Message,
    mut f: impl FnMut(T, bool),
) {
    let mut last: Option<(T, bool)> = None;
    for item in items {
        let follows = last
            .as_ref()
            .is_some_and(|(last, _)| message(last).read_before(message(&item)));
        if let Some((last, after_one)) = last.take() {
            f(last, after_one || follows);
        }
        last = Some((item, follows));
    }
    if let Some((last, after_one)) = last {
        f(last, after_one);
    }
}

pub(crate) fn no_queue_text(name: &ShortStr) -> String {
    format!("no queue '{name}' in vhost '/'")
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::consumer::Credit;
    use crate::model::message::tests::{read_together, received};
    use parking_lot::Mutex as TestMutex;

    /// A queue on its own: nowhere to dead-letter, nobody sweeping.
    #[derive(Debug)]
    struct NoHost;

    impl QueueHost for NoHost {
        fn dead_letter(&self, _: &Queue, _: Vec<(QueuedMessage, DeathReason)>) {}
        fn watch_timed(&self, _: &Arc<Queue>) {}
    }

    fn queue(name: &'static str) -> Arc<Queue> {
        let options = QueueOptions {
            name: name.into(),
            durable: false,
            exclusive_owner: None,
            auto_delete: false,
            arguments: FieldTable::new(),
            settings: QueueArguments::default(),
        };
        Arc::new(Queue::new(options, Weak::<NoHost>::new()))
    }

    /// A sink that keeps what it is handed.
    #[derive(Debug, Default)]
    struct Kept(TestMutex<Vec<Delivery>>);

    impl DeliverySink for Kept {
        fn deliver(&self, delivery: Delivery) {
            self.0.lock().push(delivery);
        }
        fn cancelled(&self, _: Arc<Consumer>) {}
    }

    /// A consumer that may hold one delivery, and the sink its deliveries go to.
    fn consumer() -> (Arc<Consumer>, Arc<Kept>) {
        let outbox = Arc::new(Kept::default());
        let consumer = Consumer {
            tag: "c".into(),
            channel: 1,
            connection_id: 1,
            no_ack: false,
            exclusive: false,
            priority: 0,
            credit: Credit::with_limit(1),
            channel_credit: Arc::default(),
            cancelled: Default::default(),
        };
        (Arc::new(consumer), outbox)
    }

    fn published() -> Arc<Message> {
        Arc::new(received(300).0)
    }

    fn persistent(body: &'static [u8]) -> Arc<Message> {
        let properties = warren_wire::BasicProperties {
            delivery_mode: Some(2),
            ..Default::default()
        };
        let header = warren_wire::ContentHeader::new(60, body.len() as u64, properties);
        let body = bytes::Bytes::from_static(body);
        Arc::new(Message::new(b"", b"q", &header, body, None))
    }

    #[test]
    fn a_durable_queue_counts_its_persistent_messages_ready_and_unacknowledged() {
        let options = |name: &'static str, durable| QueueOptions {
            name: name.into(),
            durable,
            exclusive_owner: None,
            auto_delete: false,
            arguments: FieldTable::new(),
            settings: QueueArguments::default(),
        };
        let durable = Arc::new(Queue::new(options("d", true), Weak::<NoHost>::new()));
        let transient = Arc::new(Queue::new(options("t", false), Weak::<NoHost>::new()));
        for queue in [&durable, &transient] {
            for body in [&b"hello"[..], b"hello!!"] {
                queue.publish(&mut persistent(body), false);
            }
            queue.publish(&mut published(), false);
        }
        let (taken, _) = durable.get(false).expect("ready");
        let counts = durable.counts();
        let unacked = Footprint {
            messages: 1,
            bytes: 5,
            persistent: 1,
            persistent_bytes: 5,
        };
        assert_eq!(counts.unacked, unacked);
        let ready = Footprint {
            messages: 2,
            bytes: 307,
            persistent: 1,
            persistent_bytes: 7,
        };
        assert_eq!(counts.ready, ready);
        assert_eq!(transient.counts().ready.persistent, 0, "transient queue");
        durable.settled(Footprint::from(&*taken.message));
        let counts = durable.counts();
        assert_eq!(counts.unacked, Footprint::default());
        assert_eq!(counts.stats.ack, 1);
    }

    #[test]
    fn queues_without_consumer_share_one_compact_copy() {
        let (live, audit, log) = (queue("live"), queue("audit"), queue("log"));
        let (consumer, outbox) = consumer();
        live.add_consumer(consumer, outbox.clone())
            .expect("consumes");
        let view = published();
        let mut message = Arc::clone(&view);
        for queue in [&live, &audit, &log] {
            queue.publish(&mut message, false);
        }
        let Some(Delivery { message: sent, .. }) = outbox.0.lock().pop() else {
            panic!("live delivers at once");
        };
        assert!(Arc::ptr_eq(&sent.message, &view), "handed on as it is");
        let kept = [&audit, &log].map(|q| q.get(true).map(|(m, _)| m.message));
        let [Some(audit), Some(log)] = kept else {
            panic!("audit and log keep it");
        };
        assert!(Arc::ptr_eq(&audit, &log), "one copy for both");
        assert_ne!(audit.body().as_ptr(), view.body().as_ptr());
        assert_eq!(audit.body(), view.body());
    }

    #[test]
    fn what_waited_for_a_consumer_is_compacted_when_it_leaves() {
        let work = queue("work");
        let (consumer, outbox) = consumer();
        work.add_consumer(Arc::clone(&consumer), outbox)
            .expect("consumes");
        let bodies: Vec<usize> = (0..2)
            .map(|_| {
                let mut message = published();
                assert_eq!(work.publish(&mut message, false), Enqueued::Accepted);
                message.body().as_ptr() as usize
            })
            .collect();
        let waiting = |queue: &Queue| {
            let mut state = queue.state.lock();
            let ready = state.ready.iter_mut();
            ready
                .map(|m| m.message.body().as_ptr() as usize)
                .collect::<Vec<_>>()
        };
        assert_eq!(waiting(&work), bodies[1..], "waits for credit as it came");
        work.remove_consumer(&consumer);
        let after = waiting(&work);
        assert_eq!(after.len(), 1);
        assert_ne!(after, bodies[1..], "copied");
    }

    #[test]
    fn a_compact_message_is_requeued_as_the_arc_it_came_with() {
        let idle = queue("idle");
        let mut message = published();
        assert_eq!(idle.publish(&mut message, false), Enqueued::Held);
        let (taken, _) = idle.get(true).expect("held");
        let kept = Arc::clone(&taken.message);
        idle.requeue([taken], true);
        let (again, _) = idle.get(true).expect("requeued");
        assert!(Arc::ptr_eq(&again.message, &kept), "not copied again");
        assert!(again.redelivered());
    }

    fn body_at(message: &QueuedMessage) -> usize {
        message.message.body().as_ptr() as usize
    }

    #[test]
    fn requeued_messages_read_together_are_put_back_as_they_came() {
        let work = queue("work");
        let (read, _buffer) = read_together(3, 1024);
        // Delivered views: one read alone (among messages consumed), then three together.
        let delivered: Vec<QueuedMessage> = std::iter::once(published())
            .chain(read.into_iter().map(Arc::new))
            .enumerate()
            .map(|(seq, message)| QueuedMessage::new(message, seq as u64, None))
            .collect();
        let before: Vec<usize> = delivered.iter().map(body_at).collect();
        work.requeue(delivered, true);
        let after: Vec<usize> =
            std::iter::from_fn(|| work.get(true).map(|(m, _)| body_at(&m))).collect();
        assert_ne!(after[0], before[0], "the lone one: copied");
        assert_eq!(after[1..], before[1..], "the run: views still");
    }

    #[test]
    fn a_backlog_left_by_its_consumer_is_not_copied() {
        let work = queue("work");
        let (consumer, outbox) = consumer();
        work.add_consumer(Arc::clone(&consumer), outbox)
            .expect("consumes");
        let (read, _buffer) = read_together(4, 1024);
        let mut bodies = Vec::new();
        for message in read {
            let mut message = Arc::new(message);
            assert_eq!(work.publish(&mut message, false), Enqueued::Accepted);
            bodies.push(message.body().as_ptr() as usize);
        }
        work.remove_consumer(&consumer);
        let waiting: Vec<usize> =
            std::iter::from_fn(|| work.get(true).map(|(m, _)| body_at(&m))).collect();
        assert_eq!(waiting, bodies[1..], "the three that waited, as they were");
    }
}

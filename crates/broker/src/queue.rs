//! Queues: where a message waits for a consumer.
//!
//! A queue is a FIFO of ready messages plus the consumers attached to it. It has no task of its
//! own: whoever makes progress possible (a publish, an ack that frees credit, a new consumer)
//! calls [`Queue::dispatch`], which hands ready messages to the highest-priority consumers that
//! have credit, round-robin among equals, under the queue's own lock and no other.
//!
//! Every message gets a sequence number when it is enqueued; a message that comes back (nack,
//! reject, a closed channel) is put back in sequence order, so the queue keeps publish order
//! as RabbitMQ does, and carries `redelivered` from then on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use warren_wire::{FieldTable, ShortStr};

use crate::arguments::QueueArguments;
use crate::consumer::{Consumer, Outgoing};
use crate::error::{AmqpError, AmqpResult};
use crate::message::{Message, QueuedMessage};

/// The identity of a connection, for exclusive queues.
pub type ConnectionId = u64;

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
    state: Mutex<QueueState>,
}

#[derive(Debug)]
struct QueueState {
    ready: VecDeque<QueuedMessage>,
    /// By priority, highest first; within a priority, the next to serve first.
    consumers: Vec<Arc<Consumer>>,
    next_seq: u64,
    deleted: bool,
    /// Last declare, consume or get: what `x-expires` counts from.
    last_used: Instant,
}

/// What became of a queue when a consumer left it.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsumerRemoved {
    NotFound,
    Removed,
    /// It was the last consumer of an auto-delete queue: the caller deletes the queue.
    LastOfAutoDelete,
}

impl Queue {
    pub fn new(
        name: ShortStr,
        durable: bool,
        exclusive_owner: Option<ConnectionId>,
        auto_delete: bool,
        arguments: FieldTable,
        settings: QueueArguments,
    ) -> Self {
        let state = QueueState {
            ready: VecDeque::new(),
            consumers: Vec::new(),
            next_seq: 0,
            deleted: false,
            last_used: Instant::now(),
        };
        Queue {
            name,
            durable,
            exclusive_owner,
            auto_delete,
            arguments,
            settings,
            state: Mutex::new(state),
        }
    }

    /// Enqueues a newly published message. Returns false when the queue has been deleted.
    pub fn publish(self: &Arc<Self>, message: Arc<Message>) -> bool {
        let mut state = self.state.lock();
        if state.deleted {
            return false;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let expires_at = self.settings.message_ttl.map(|ttl| Instant::now() + ttl);
        state.ready.push_back(QueuedMessage {
            message,
            redelivered: false,
            seq,
            expires_at,
        });
        self.dispatch_locked(&mut state);
        true
    }

    /// Puts messages back in publish order. `delivered` marks them `redelivered`: true for
    /// messages a client saw, false for ones caught on their way to a consumer that went away.
    pub fn requeue(
        self: &Arc<Self>,
        messages: impl IntoIterator<Item = QueuedMessage>,
        delivered: bool,
    ) {
        let mut state = self.state.lock();
        if state.deleted {
            return;
        }
        for mut message in messages {
            message.redelivered |= delivered;
            let at = state.ready.partition_point(|m| m.seq < message.seq);
            state.ready.insert(at, message);
        }
        self.dispatch_locked(&mut state);
    }

    /// Hands ready messages to consumers with credit.
    pub fn dispatch(self: &Arc<Self>) {
        let mut state = self.state.lock();
        self.dispatch_locked(&mut state);
    }

    fn dispatch_locked(self: &Arc<Self>, state: &mut QueueState) {
        self.drop_expired(state, Instant::now());
        while !state.ready.is_empty() {
            let Some(chosen) = state.consumers.iter().position(|c| c.try_reserve()) else {
                return;
            };
            let Some(message) = state.ready.pop_front() else {
                return;
            };
            let consumer = Arc::clone(&state.consumers[chosen]);
            // Round-robin among equals: the chosen consumer goes behind the others of its
            // priority.
            let group_end = chosen
                + state.consumers[chosen..].partition_point(|c| c.priority == consumer.priority);
            state.consumers[chosen..group_end].rotate_left(1);
            consumer.outbox.clone().push(Outgoing::Deliver {
                consumer,
                queue: Arc::clone(self),
                message,
            });
        }
    }

    /// Drops the messages whose TTL has run out. With one TTL per queue and requeues put back in
    /// publish order, the oldest message is always first, so only the head needs looking at
    /// (RabbitMQ expires at the head too).
    fn drop_expired(&self, state: &mut QueueState, now: Instant) {
        if self.settings.message_ttl.is_none() {
            return;
        }
        while state
            .ready
            .front()
            .is_some_and(|m| m.expires_at.is_some_and(|at| at <= now))
        {
            state.ready.pop_front();
        }
    }

    /// Records a use that keeps an `x-expires` queue alive (declare, consume, get).
    pub fn touch(&self) {
        self.state.lock().last_used = Instant::now();
    }

    /// Expires messages and tells whether `x-expires` has run out for the queue: it has had no
    /// consumer and no use for that long.
    pub fn sweep(&self, now: Instant) -> bool {
        let mut state = self.state.lock();
        self.drop_expired(&mut state, now);
        let unused_for = now.saturating_duration_since(state.last_used);
        self.settings
            .expires
            .is_some_and(|expires| state.consumers.is_empty() && unused_for >= expires)
    }

    /// Attaches a consumer, enforcing exclusive consumption as RabbitMQ does (403).
    pub fn add_consumer(self: &Arc<Self>, consumer: Arc<Consumer>) -> AmqpResult<()> {
        let mut state = self.state.lock();
        if state.deleted {
            return Err(AmqpError::not_found(self.no_queue_text()));
        }
        let exclusive_taken = state.consumers.iter().any(|c| c.exclusive);
        if exclusive_taken || (consumer.exclusive && !state.consumers.is_empty()) {
            return Err(AmqpError::access_refused(format!(
                "queue '{}' in vhost '/' in exclusive use",
                self.name
            )));
        }
        // Highest priority first, newcomers behind their equals (RabbitMQ's consumer priorities).
        let at = state
            .consumers
            .partition_point(|c| c.priority >= consumer.priority);
        state.consumers.insert(at, consumer);
        state.last_used = Instant::now();
        self.dispatch_locked(&mut state);
        Ok(())
    }

    pub fn remove_consumer(&self, consumer: &Arc<Consumer>) -> ConsumerRemoved {
        let mut state = self.state.lock();
        let Some(at) = state
            .consumers
            .iter()
            .position(|c| Arc::ptr_eq(c, consumer))
        else {
            return ConsumerRemoved::NotFound;
        };
        state.consumers.remove(at);
        if self.auto_delete && state.consumers.is_empty() && !state.deleted {
            ConsumerRemoved::LastOfAutoDelete
        } else {
            ConsumerRemoved::Removed
        }
    }

    /// Takes the first ready message for `basic.get`, with the count left behind.
    pub fn get(&self) -> Option<(QueuedMessage, u32)> {
        let mut state = self.state.lock();
        let now = Instant::now();
        state.last_used = now;
        self.drop_expired(&mut state, now);
        let message = state.ready.pop_front()?;
        Some((message, count_u32(state.ready.len())))
    }

    /// Drops every ready message; returns how many.
    pub fn purge(&self) -> u32 {
        let mut state = self.state.lock();
        let purged = count_u32(state.ready.len());
        state.ready.clear();
        purged
    }

    pub fn message_count(&self) -> u32 {
        let mut state = self.state.lock();
        self.drop_expired(&mut state, Instant::now());
        count_u32(state.ready.len())
    }

    pub fn consumer_count(&self) -> u32 {
        count_u32(self.state.lock().consumers.len())
    }

    pub fn is_deleted(&self) -> bool {
        self.state.lock().deleted
    }

    /// Marks the queue deleted and empties it; returns its consumers (to be told) and the
    /// number of ready messages dropped.
    pub fn mark_deleted(&self) -> (Vec<Arc<Consumer>>, u32) {
        Self::delete_locked(&mut self.state.lock())
    }

    /// `queue.delete` with `if-unused` / `if-empty`, checked under the same lock as the deletion
    /// so that neither can race with a consume or a publish.
    pub fn mark_deleted_if(
        &self,
        if_unused: bool,
        if_empty: bool,
    ) -> AmqpResult<(Vec<Arc<Consumer>>, u32)> {
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
        Ok(Self::delete_locked(&mut state))
    }

    fn delete_locked(state: &mut QueueState) -> (Vec<Arc<Consumer>>, u32) {
        state.deleted = true;
        let dropped = count_u32(state.ready.len());
        state.ready.clear();
        (std::mem::take(&mut state.consumers), dropped)
    }

    pub(crate) fn no_queue_text(&self) -> String {
        no_queue_text(&self.name)
    }
}

pub(crate) fn no_queue_text(name: &ShortStr) -> String {
    format!("no queue '{name}' in vhost '/'")
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

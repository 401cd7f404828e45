//! Queues: where a message waits for a consumer.
//!
//! A queue is a FIFO of ready messages plus the consumers attached to it. It has no task of its
//! own: whoever makes progress possible (a publish, an ack that frees credit, a new consumer)
//! calls [`Queue::dispatch`], which hands ready messages round-robin to consumers that have
//! credit, under the queue's own lock and no other.
//!
//! Every message gets a sequence number when it is enqueued; a message that comes back (nack,
//! reject, a closed channel) is put back in sequence order, so the queue keeps publish order
//! as RabbitMQ does, and carries `redelivered` from then on.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use warren_wire::{FieldTable, ShortStr};

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
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    ready: VecDeque<QueuedMessage>,
    consumers: Vec<Arc<Consumer>>,
    /// Where the next round-robin search for a consumer starts.
    next_consumer: usize,
    next_seq: u64,
    /// An auto-delete queue goes when its last consumer does, but only once it has had one.
    had_consumer: bool,
    deleted: bool,
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
    ) -> Self {
        Queue {
            name,
            durable,
            exclusive_owner,
            auto_delete,
            arguments,
            state: Mutex::default(),
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
        state.ready.push_back(QueuedMessage {
            message,
            redelivered: false,
            seq,
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
        while !state.ready.is_empty() && !state.consumers.is_empty() {
            let count = state.consumers.len();
            let start = state.next_consumer % count;
            let Some(chosen) = (0..count)
                .map(|i| (start + i) % count)
                .find(|&i| state.consumers[i].try_reserve())
            else {
                return;
            };
            state.next_consumer = chosen + 1;
            let Some(message) = state.ready.pop_front() else {
                return;
            };
            let consumer = Arc::clone(&state.consumers[chosen]);
            consumer.outbox.clone().push(Outgoing::Deliver {
                consumer,
                queue: Arc::clone(self),
                message,
            });
        }
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
        state.consumers.push(consumer);
        state.had_consumer = true;
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
        count_u32(self.state.lock().ready.len())
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
                "queue '{}' in vhost '/' is not empty",
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

//! A published message, shared by every queue it was routed to.
//!
//! A message is built once when its last body frame arrives and is then only ever shared
//! (`Arc<Message>`): fan-out to a thousand queues clones a pointer, not the body, and the body
//! is the `Bytes` cut from the publisher's read buffer when it fitted in one frame.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use warren_wire::{BasicProperties, ContentHeader, ShortStr};

#[derive(Debug)]
pub struct Message {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    pub header: ContentHeader,
    pub body: Bytes,
}

impl Message {
    pub fn properties(&self) -> &BasicProperties {
        &self.header.properties
    }

    /// The size RabbitMQ counts for queue length in bytes: the body alone.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

/// A message as it sits in one queue, or travels to one consumer.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message: Arc<Message>,
    /// Set once the message has been handed to a consumer and came back unacknowledged.
    pub redelivered: bool,
    /// The queue's enqueue counter at publish time: a requeued message goes back to the place
    /// its number gives it, so the queue keeps publish order, as RabbitMQ does.
    pub seq: u64,
    /// When `x-message-ttl` runs out for it in this queue; kept when it is requeued.
    pub expires_at: Option<Instant>,
}

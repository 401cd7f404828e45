//! What messages weigh in a queue's counts: how many, their bodies' bytes, and how many of them
//! (and of those bytes) were published persistent. A queue keeps one for its ready messages and
//! one for those delivered and not settled yet, under the lock it holds anyway: plain adds.

use crate::model::message::Message;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub messages: u64,
    /// The bodies, in bytes: what RabbitMQ counts as `message_bytes` (and
    /// `x-max-length-bytes` limits).
    pub bytes: u64,
    /// Those published with `delivery_mode` 2.
    pub persistent: u64,
    pub persistent_bytes: u64,
}

impl From<&Message> for Footprint {
    fn from(message: &Message) -> Self {
        let (bytes, persistent) = (message.body_len(), u64::from(message.persistent()));
        Footprint {
            messages: 1,
            bytes,
            persistent,
            persistent_bytes: persistent * bytes,
        }
    }
}

impl Footprint {
    /// The footprint of `messages`.
    pub fn of<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Self {
        let mut footprint = Footprint::default();
        for message in messages {
            footprint.add(message);
        }
        footprint
    }

    pub fn add(&mut self, message: &Message) {
        *self = self.plus(&message.into());
    }

    pub fn remove(&mut self, message: &Message) {
        self.subtract(&message.into());
    }

    /// Takes `settled` away; saturating, as what the caller settles is the queue's own.
    pub fn subtract(&mut self, settled: &Footprint) {
        self.messages = self.messages.saturating_sub(settled.messages);
        self.bytes = self.bytes.saturating_sub(settled.bytes);
        self.persistent = self.persistent.saturating_sub(settled.persistent);
        self.persistent_bytes = self
            .persistent_bytes
            .saturating_sub(settled.persistent_bytes);
    }

    /// These and `other` together.
    pub fn plus(&self, other: &Footprint) -> Footprint {
        Footprint {
            messages: self.messages + other.messages,
            bytes: self.bytes + other.bytes,
            persistent: self.persistent + other.persistent,
            persistent_bytes: self.persistent_bytes + other.persistent_bytes,
        }
    }

    /// The same messages counted as transient: a queue that is not durable keeps none
    /// persistent, whatever their `delivery_mode` (RabbitMQ's `messages_persistent` is 0).
    pub fn transient(&self) -> Footprint {
        Footprint {
            persistent: 0,
            persistent_bytes: 0,
            ..*self
        }
    }
}

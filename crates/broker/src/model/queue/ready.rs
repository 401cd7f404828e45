//! A queue's ready messages: one FIFO per priority level (just one for a queue without
//! `x-max-priority`), each in enqueue order, with the counts `x-max-length` and
//! `x-max-length-bytes` are checked against ([`Footprint`]).
//!
//! Delivery takes the oldest message of the highest non-empty level. A message that comes back
//! is put at the place its sequence number gives it within its level, so publish order holds.

use std::collections::VecDeque;
use std::time::Instant;

use super::footprint::Footprint;
use crate::model::message::QueuedMessage;

#[derive(Debug)]
pub(crate) struct Ready {
    /// Index = priority level.
    levels: Vec<VecDeque<QueuedMessage>>,
    footprint: Footprint,
    /// How many of the messages have a TTL: without any, the clock is never read.
    expiring: usize,
}

impl Ready {
    pub fn new(max_priority: Option<u8>) -> Self {
        let levels = usize::from(max_priority.unwrap_or(0)) + 1;
        Ready {
            levels: (0..levels).map(|_| VecDeque::new()).collect(),
            footprint: Footprint::default(),
            expiring: 0,
        }
    }

    /// A message's level: its priority, capped at the queue's maximum (0 when it has none).
    fn level(&self, message: &QueuedMessage) -> usize {
        usize::from(message.message.priority).min(self.levels.len() - 1)
    }

    pub fn len(&self) -> usize {
        usize::try_from(self.footprint.messages).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.footprint.messages == 0
    }

    pub fn bytes(&self) -> u64 {
        self.footprint.bytes
    }

    pub fn footprint(&self) -> Footprint {
        self.footprint
    }

    pub fn has_expiring(&self) -> bool {
        self.expiring > 0
    }

    pub fn push_back(&mut self, message: QueuedMessage) {
        self.count_in(&message);
        let level = self.level(&message);
        self.levels[level].push_back(message);
    }

    /// Puts a message back where its sequence number says.
    pub fn put_back(&mut self, message: QueuedMessage) {
        self.count_in(&message);
        let level = self.level(&message);
        let fifo = &mut self.levels[level];
        let at = fifo.partition_point(|m| m.seq() < message.seq());
        fifo.insert(at, message);
    }

    /// The next message to deliver.
    pub fn pop_front(&mut self) -> Option<QueuedMessage> {
        let message = self.levels.iter_mut().rev().find_map(VecDeque::pop_front)?;
        self.count_out(&message);
        Some(message)
    }

    /// A message at the head of a level whose TTL has run out. Only heads are looked at, as in
    /// RabbitMQ: with one TTL per queue the head is always the oldest; a message with a shorter
    /// per-message TTL behind a longer one waits for it.
    pub fn pop_expired(&mut self, now: Instant) -> Option<QueuedMessage> {
        let fifo = self.levels.iter_mut().find(|fifo| {
            fifo.front()
                .and_then(QueuedMessage::expires_at)
                .is_some_and(|at| at < now)
        })?;
        let message = fifo.pop_front()?;
        self.count_out(&message);
        Some(message)
    }

    /// In the order they would be delivered: the highest level first, each oldest first.
    pub fn in_delivery_order(&self) -> impl Iterator<Item = &QueuedMessage> {
        self.levels.iter().rev().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut QueuedMessage> {
        self.levels.iter_mut().flatten()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = QueuedMessage> + '_ {
        self.footprint = Footprint::default();
        self.expiring = 0;
        self.levels.iter_mut().flat_map(|fifo| fifo.drain(..))
    }

    fn count_in(&mut self, message: &QueuedMessage) {
        self.footprint.add(&message.message);
        self.expiring += usize::from(message.expires());
    }

    fn count_out(&mut self, message: &QueuedMessage) {
        self.footprint.remove(&message.message);
        self.expiring -= usize::from(message.expires());
    }
}

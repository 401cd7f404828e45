//! A channel's own state: its consumers, the deliveries it awaits acks for and their tags, its
//! prefetch, confirm and tx modes, and the assembly of a message from its frames (a method
//! frame, one header frame, then body frames up to the size the header announced). Where the
//! frames come from and go to is `dispatch.rs`.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use warren_wire::{BasicAck, BasicPublish, ContentHeader, ShortStr};

use crate::error::{AmqpError, AmqpResult};
use crate::limits::Limits;
use crate::model::connections::ChannelDetails;
use crate::model::consumer::{Consumer, Credit};
use crate::model::exchange::Exchange;
use crate::model::message::{Message, QueuedMessage};
use crate::model::queue::Queue;
use crate::model::stats::MessageStats;

pub(crate) struct Channel {
    pub closing: bool,
    content: Content,
    pub consumers: HashMap<ShortStr, ChannelConsumer>,
    /// Deliveries awaiting ack, by delivery tag (ascending, which `multiple` relies on).
    pub unacked: BTreeMap<u64, Unacked>,
    next_delivery_tag: u64,
    /// `basic.qos` with `global=false`: the limit given to consumers created afterwards.
    pub consumer_prefetch: u16,
    /// `basic.qos` with `global=true`: one limit shared by all the channel's consumers.
    pub credit: Arc<Credit>,
    /// In confirm mode: the sequence number the next publish will get.
    pub next_publish_seq: Option<u64>,
    /// In confirm mode: the first and last sequence numbers of the publishes accepted and not
    /// yet acked to the client. RabbitMQ coalesces such acks: they go out as one `basic.ack`
    /// (`multiple` when it covers more than one) once the input at hand is handled.
    pub pending_acks: Option<(u64, u64)>,
    /// The queue named by an empty queue name (the last one declared on this channel).
    pub last_queue: Option<ShortStr>,
    /// The queue of this channel's direct reply-to consumer, which `reply_to:
    /// amq.rabbitmq.reply-to` on a publish is replaced with.
    pub reply_queue: Option<Arc<Queue>>,
    /// Set by `tx.select`: publishes and settlements held until commit.
    pub tx: Option<Transaction>,
    /// What this channel counted (the connection counts the same, over all its channels).
    pub stats: MessageStats,
}

pub(crate) struct ChannelConsumer {
    pub consumer: Arc<Consumer>,
    pub queue: Arc<Queue>,
}

pub(crate) struct Unacked {
    pub queue: Arc<Queue>,
    pub message: QueuedMessage,
    /// None for `basic.get`, which takes no consumer credit.
    pub consumer: Option<Arc<Consumer>>,
}

// One per channel and replaced in place, so the size difference between states costs nothing.
#[allow(clippy::large_enum_variant)]
enum Content {
    Idle,
    AwaitHeader(Publish),
    AwaitBody {
        publish: Publish,
        header: ContentHeader,
        body: Body,
    },
}

/// A body in the making: the first frame's `Bytes` as it came, copied only when a second
/// frame has to be joined to it, into an allocation of the size the header announced: a
/// queued body keeps no spare capacity beside it (doubling as frames came had it keep up to
/// as much again).
enum Body {
    Empty,
    One(Bytes),
    Joined(BytesMut),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::One(b) => b.len(),
            Body::Joined(b) => b.len(),
        }
    }

    /// Adds the next frame's payload of a body of `total` bytes.
    fn push(&mut self, part: Bytes, total: usize) {
        *self = match std::mem::replace(self, Body::Empty) {
            Body::Empty => Body::One(part),
            Body::One(first) => {
                let mut joined = BytesMut::with_capacity(total.max(first.len() + part.len()));
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&part);
                Body::Joined(joined)
            }
            Body::Joined(mut joined) => {
                joined.extend_from_slice(&part);
                Body::Joined(joined)
            }
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::One(b) => b,
            Body::Joined(b) => b.freeze(),
        }
    }
}

impl Content {
    /// The frame the assembly is waiting for, in RabbitMQ's words; None when idle.
    fn expected(&self) -> Option<&'static str> {
        match self {
            Content::Idle => None,
            Content::AwaitHeader(_) => Some("content header"),
            Content::AwaitBody { .. } => Some("content body"),
        }
    }
}

/// What became of a publish in confirm mode (see [`Channel::confirm_publish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirmed {
    /// Its ack is held back, the first since the last were sent.
    FirstAckHeld,
    /// Its ack joins those held back.
    AckHeld,
    /// Refused (a full queue with `reject-publish`): this tag is nacked.
    Nack(u64),
}

/// A `basic.publish` that passed its checks, and the exchange it names, looked up once.
pub(crate) struct Publish {
    pub method: BasicPublish,
    pub exchange: Arc<Exchange>,
}

/// A whole message: the publish, its header and its body.
pub(crate) struct Assembled {
    pub publish: Publish,
    pub header: ContentHeader,
    pub body: Bytes,
}

impl Channel {
    pub fn new() -> Self {
        Channel {
            closing: false,
            content: Content::Idle,
            consumers: HashMap::new(),
            unacked: BTreeMap::new(),
            next_delivery_tag: 1,
            consumer_prefetch: 0,
            credit: Arc::new(Credit::default()),
            next_publish_seq: None,
            pending_acks: None,
            last_queue: None,
            reply_queue: None,
            tx: None,
            stats: MessageStats::default(),
        }
    }

    pub fn next_delivery_tag(&mut self) -> u64 {
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        tag
    }

    /// `basic.qos` as RabbitMQ reads `global`: false limits each consumer created from now on,
    /// true limits the channel as a whole. Returns the queues of its consumers, which may now
    /// hand them more.
    pub fn set_prefetch(&mut self, prefetch_count: u16, global: bool) -> Vec<Arc<Queue>> {
        if global {
            self.credit.set_limit(prefetch_count);
        } else {
            self.consumer_prefetch = prefetch_count;
        }
        let queues = self.consumers.values();
        queues.map(|c| Arc::clone(&c.queue)).collect()
    }

    /// Removes the deliveries an ack/nack/reject names, as RabbitMQ reads `delivery_tag` and
    /// `multiple`: tag 0 with `multiple` means all; otherwise the tag must be outstanding (406).
    pub fn take_unacked(
        &mut self,
        delivery_tag: u64,
        multiple: bool,
    ) -> AmqpResult<Vec<(u64, Unacked)>> {
        let unacked = &mut self.unacked;
        if multiple && delivery_tag == 0 {
            return Ok(std::mem::take(unacked).into_iter().collect());
        }
        if !unacked.contains_key(&delivery_tag) {
            return Err(AmqpError::precondition_failed(format!(
                "unknown delivery tag {delivery_tag}"
            )));
        }
        if !multiple {
            return Ok(unacked.remove_entry(&delivery_tag).into_iter().collect());
        }
        let rest = unacked.split_off(&(delivery_tag + 1));
        Ok(std::mem::replace(unacked, rest).into_iter().collect())
    }

    /// `confirm.select`. A channel is transactional or in confirm mode, never both.
    pub fn select_confirms(&mut self) -> AmqpResult<()> {
        if self.tx.is_some() {
            return Err(AmqpError::precondition_failed(
                "cannot switch from tx to confirm mode",
            ));
        }
        self.next_publish_seq.get_or_insert(1);
        Ok(())
    }

    /// `tx.select`.
    pub fn select_tx(&mut self) -> AmqpResult<()> {
        if self.next_publish_seq.is_some() {
            return Err(AmqpError::precondition_failed(
                "cannot switch from confirm to tx mode",
            ));
        }
        self.tx.get_or_insert_with(Transaction::default);
        Ok(())
    }

    /// The pending work of a transaction, leaving the channel transactional with a fresh one.
    pub fn take_transaction(&mut self) -> AmqpResult<Transaction> {
        let Some(tx) = self.tx.as_mut() else {
            return Err(AmqpError::precondition_failed(
                "channel is not transactional",
            ));
        };
        Ok(std::mem::take(tx))
    }

    /// In confirm mode, numbers the publish just handled: an ack is held back, to be coalesced
    /// with the next ones ([`Channel::take_pending_acks`]); a nack is for the session to send at
    /// once. None outside confirm mode.
    pub fn confirm_publish(&mut self, accepted: bool) -> Option<Confirmed> {
        let seq = self.next_publish_seq.as_mut()?;
        let delivery_tag = *seq;
        *seq += 1;
        self.stats.confirm += 1;
        if !accepted {
            return Some(Confirmed::Nack(delivery_tag));
        }
        Some(match &mut self.pending_acks {
            Some((_, last)) => {
                *last = delivery_tag;
                Confirmed::AckHeld
            }
            None => {
                self.pending_acks = Some((delivery_tag, delivery_tag));
                Confirmed::FirstAckHeld
            }
        })
    }

    /// The acks held back, as one `basic.ack` (`multiple` when it covers more than one).
    pub fn take_pending_acks(&mut self) -> Option<BasicAck> {
        let (first, last) = self.pending_acks.take()?;
        Some(BasicAck {
            delivery_tag: last,
            multiple: last > first,
        })
    }

    /// What the registry lists of this channel.
    pub fn details(&self, number: u16) -> ChannelDetails {
        ChannelDetails {
            number,
            prefetch_count: self.consumer_prefetch,
            global_prefetch_count: self.credit.limit(),
            unacked: self.unacked.len() as u64,
            consumers: self.consumers.len() as u32,
            confirm: self.next_publish_seq.is_some(),
            transactional: self.tx.is_some(),
            messages_uncommitted: self.tx.as_ref().map_or(0, |tx| tx.publishes.len() as u64),
            stats: self.stats,
            acks_uncommitted: self.tx.as_ref().map_or(0, |tx| {
                let settled = tx
                    .settlements
                    .iter()
                    .filter(|(_, how)| *how == Settlement::Ack);
                settled.map(|(deliveries, _)| deliveries.len() as u64).sum()
            }),
        }
    }

    /// The frame content assembly waits for, in RabbitMQ's words; None when idle.
    pub fn awaited_content(&self) -> Option<&'static str> {
        self.content.expected()
    }

    /// Starts content assembly after a `basic.publish` that passed its checks.
    pub fn expect_content(&mut self, publish: Publish) {
        self.content = Content::AwaitHeader(publish);
    }

    /// Forgets a message half received (the channel is closing).
    pub fn drop_content(&mut self) {
        self.content = Content::Idle;
    }

    /// A content header: the whole message if it has no body. A body over the size limit is
    /// refused here, before it takes any memory.
    pub fn content_header(
        &mut self,
        header: ContentHeader,
        limits: &Limits,
    ) -> AmqpResult<Option<Assembled>> {
        let Content::AwaitHeader(publish) = std::mem::replace(&mut self.content, Content::Idle)
        else {
            return Err(AmqpError::unexpected_frame(
                "expected method frame, got non method frame instead",
            ));
        };
        if header.class_id != 60 {
            return Err(AmqpError::frame_error(format!(
                "content header for class {} instead of 60",
                header.class_id
            )));
        }
        if let Err(error) = limits.check_message_size(header.body_size) {
            return Err(error.caused_by(&publish.method.into()));
        }
        if header.body_size == 0 {
            let body = Bytes::new();
            return Ok(Some(Assembled {
                publish,
                header,
                body,
            }));
        }
        self.content = Content::AwaitBody {
            publish,
            header,
            body: Body::Empty,
        };
        Ok(None)
    }

    /// A body frame: the whole message once the body has the size its header announced.
    pub fn content_body(&mut self, payload: Bytes) -> AmqpResult<Option<Assembled>> {
        let Content::AwaitBody { body, header, .. } = &mut self.content else {
            return Err(AmqpError::unexpected_frame(
                "expected method frame, got non method frame instead",
            ));
        };
        // The size was checked against the largest message allowed, at the header.
        let total = usize::try_from(header.body_size).unwrap_or(0);
        body.push(payload, total);
        let (received, expected) = (body.len() as u64, header.body_size);
        if received < expected {
            return Ok(None);
        }
        let Content::AwaitBody {
            publish,
            header,
            body,
        } = std::mem::replace(&mut self.content, Content::Idle)
        else {
            return Ok(None);
        };
        if received > expected {
            return Err(AmqpError::frame_error(format!(
                "content body is {received} bytes, the header announced {expected}"
            )));
        }
        let body = body.into_bytes();
        Ok(Some(Assembled {
            publish,
            header,
            body,
        }))
    }
}

/// What a transactional channel holds until commit.
#[derive(Default)]
pub(crate) struct Transaction {
    /// Messages, with their `mandatory` flag, in publish order.
    pub publishes: Vec<(bool, Arc<Message>)>,
    /// Deliveries settled in the transaction, with their tags (to hand back on rollback).
    pub settlements: Vec<(Vec<(u64, Unacked)>, Settlement)>,
}

/// What the client decided for some deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    Ack,
    /// Back to the queue, marked redelivered.
    Requeue,
    /// Rejected without requeue: dead-lettered or dropped.
    Discard,
}

/// Puts unacknowledged deliveries back on their queues (marked redelivered) and frees the
/// credit they held, queue by queue so that each queue re-sorts and dispatches once.
pub(crate) fn requeue_unacked(unacked: impl IntoIterator<Item = Unacked>) {
    let mut by_queue: Vec<(Arc<Queue>, Vec<QueuedMessage>)> = Vec::new();
    for entry in unacked {
        if let Some(consumer) = &entry.consumer {
            consumer.release(1);
        }
        match by_queue
            .iter_mut()
            .find(|(q, _)| Arc::ptr_eq(q, &entry.queue))
        {
            Some((_, messages)) => messages.push(entry.message),
            None => by_queue.push((entry.queue, vec![entry.message])),
        }
    }
    for (queue, messages) in by_queue {
        queue.requeue(messages, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_joined_from_frames_keeps_no_spare_capacity() {
        let total = 3 * 131_064 + 10;
        let mut body = Body::Empty;
        for len in [131_064, 131_064, 131_064, 10] {
            body.push(Bytes::from(vec![b'x'; len]), total);
        }
        let joined = body
            .into_bytes()
            .try_into_mut()
            .expect("its own allocation");
        assert_eq!((joined.len(), joined.capacity()), (total, total));
    }
}

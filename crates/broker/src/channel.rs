//! Channels: the per-channel state a connection keeps, content assembly, the channel class,
//! and the routing of a channel's frames to the method handlers (one module per AMQP class in
//! `handlers/`).
//!
//! ```text
//!  (absent) --channel.open--> Open --channel.close (client)--> (absent, close-ok sent)
//!                              |
//!                              +-- soft error --> Closing (channel.close sent; frames are
//!                                                 dropped until close-ok) --> (absent)
//! ```
//! Content arrives as a method frame (basic.publish), one header frame, then body frames up to
//! the size the header announced; any other frame in between is 505 UNEXPECTED_FRAME.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tracing::warn;
use warren_wire::{
    BasicPublish, ChannelClose, ChannelCloseOk, ChannelFlowOk, ChannelOpenOk, ContentHeader, Frame,
    Method, ShortStr,
};

use crate::connection::Connection;
use crate::consumer::{Consumer, Credit};
use crate::error::{AmqpError, AmqpResult};
use crate::handlers::Transaction;
use crate::message::QueuedMessage;
use crate::queue::{ConsumerRemoved, Queue};

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
    /// The queue named by an empty queue name (the last one declared on this channel).
    pub last_queue: Option<ShortStr>,
    /// The queue of this channel's direct reply-to consumer, which `reply_to:
    /// amq.rabbitmq.reply-to` on a publish is replaced with.
    pub reply_queue: Option<Arc<Queue>>,
    /// Set by `tx.select`: publishes and settlements held until commit.
    pub tx: Option<Transaction>,
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
    AwaitHeader(BasicPublish),
    AwaitBody {
        publish: BasicPublish,
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

impl Channel {
    fn new() -> Self {
        Channel {
            closing: false,
            content: Content::Idle,
            consumers: HashMap::new(),
            unacked: BTreeMap::new(),
            next_delivery_tag: 1,
            consumer_prefetch: 0,
            credit: Arc::new(Credit::default()),
            next_publish_seq: None,
            last_queue: None,
            reply_queue: None,
            tx: None,
        }
    }

    pub fn next_delivery_tag(&mut self) -> u64 {
        let tag = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        tag
    }
}

impl Connection {
    pub(crate) fn channel_frame(&mut self, frame: Frame) -> AmqpResult<()> {
        let id = match &frame {
            Frame::Method { channel, .. }
            | Frame::Header { channel, .. }
            | Frame::Body { channel, .. }
            | Frame::Heartbeat { channel } => *channel,
        };
        let Some(channel) = self.channels.get_mut(&id) else {
            return match frame {
                Frame::Method {
                    method: Method::ChannelOpen(_),
                    ..
                } => self.open_channel(id),
                Frame::Method { method, .. } => {
                    Err(AmqpError::channel_error("expected 'channel.open'").caused_by(&method))
                }
                _ => Err(AmqpError::channel_error("expected 'channel.open'")),
            };
        };
        if channel.closing {
            if let Frame::Method {
                method: Method::ChannelCloseOk(_) | Method::ChannelClose(_),
                ..
            } = frame
            {
                if let Frame::Method {
                    method: Method::ChannelClose(_),
                    ..
                } = frame
                {
                    self.send(id, ChannelCloseOk::default().into());
                }
                self.channels.remove(&id);
            }
            return Ok(());
        }
        let result = match frame {
            Frame::Method { method, .. } => {
                if let Some(expected) = channel.content.expected() {
                    return Err(AmqpError::unexpected_frame(format!(
                        "expected {expected}, got non {expected} frame instead"
                    ))
                    .caused_by(&method));
                }
                let method_for_error = (method.class_id(), method.method_id());
                self.channel_method(id, method).map_err(|mut e| {
                    if e.class_id == 0 {
                        (e.class_id, e.method_id) = method_for_error;
                    }
                    e
                })
            }
            Frame::Header { header, .. } => self.content_header(id, header),
            Frame::Body { payload, .. } => self.content_body(id, payload),
            Frame::Heartbeat { .. } => Err(AmqpError::frame_error(
                "heartbeat frame on a channel other than 0",
            )),
        };
        match result {
            Err(error) if !error.is_hard() => {
                self.close_channel_with(id, error);
                Ok(())
            }
            other => other,
        }
    }

    /// RabbitMQ limits how many channels are open, not their numbers: an id above
    /// `channel_max` is fine while fewer than `channel_max` channels are open.
    fn open_channel(&mut self, id: u16) -> AmqpResult<()> {
        let open = self.channels.len();
        if open >= usize::from(self.channel_max) {
            return Err(AmqpError::not_allowed(format!(
                "number of channels opened ({open}) has reached the negotiated channel_max ({})",
                self.channel_max
            )));
        }
        self.channels.insert(id, Channel::new());
        self.send(id, ChannelOpenOk::default().into());
        Ok(())
    }

    /// A soft error: the channel is closed by the broker, the connection goes on.
    fn close_channel_with(&mut self, id: u16, error: AmqpError) {
        warn!(
            connection = self.id,
            channel = id,
            code = error.code,
            "closing channel: {}",
            error.reply_text()
        );
        self.release_channel(id);
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.closing = true;
            channel.content = Content::Idle;
        }
        let close = ChannelClose {
            reply_code: error.code,
            reply_text: error.reply_text(),
            class_id: error.class_id,
            method_id: error.method_id,
        };
        self.send(id, close.into());
    }

    fn channel_method(&mut self, id: u16, method: Method) -> AmqpResult<()> {
        tracing::trace!(connection = self.id, channel = id, "{method:?}");
        match method {
            Method::ChannelOpen(_) => Err(AmqpError::channel_error("second 'channel.open' seen")),
            Method::ChannelClose(_) => {
                self.release_channel(id);
                self.channels.remove(&id);
                self.send(id, ChannelCloseOk::default().into());
                Ok(())
            }
            Method::ChannelCloseOk(_) => Ok(()),
            Method::ChannelFlow(flow) => {
                if !flow.active {
                    // RabbitMQ 3.x does not let a client stop the broker's deliveries this way.
                    return Err(AmqpError::not_implemented("active=false"));
                }
                self.send(id, ChannelFlowOk { active: true }.into());
                Ok(())
            }
            Method::ChannelFlowOk(_) => Ok(()),
            Method::ExchangeDeclare(m) => self.exchange_declare(id, m),
            Method::ExchangeDelete(m) => self.exchange_delete(id, m),
            Method::ExchangeBind(m) => self.exchange_bind(id, m),
            Method::ExchangeUnbind(m) => self.exchange_unbind(id, m),
            Method::QueueDeclare(m) => self.queue_declare(id, m),
            Method::QueueBind(m) => self.queue_bind(id, m),
            Method::QueueUnbind(m) => self.queue_unbind(id, m),
            Method::QueuePurge(m) => self.queue_purge(id, m),
            Method::QueueDelete(m) => self.queue_delete(id, m),
            Method::BasicQos(m) => self.basic_qos(id, m),
            Method::BasicConsume(m) => self.basic_consume(id, m),
            Method::BasicCancel(m) => self.basic_cancel(id, m),
            Method::BasicPublish(m) => self.basic_publish(id, m),
            Method::BasicGet(m) => self.basic_get(id, m),
            Method::BasicAck(m) => self.basic_ack(id, m.delivery_tag, m.multiple),
            Method::BasicNack(m) => self.basic_nack(id, m.delivery_tag, m.multiple, m.requeue),
            Method::BasicReject(m) => self.basic_nack(id, m.delivery_tag, false, m.requeue),
            Method::BasicRecover(m) => {
                self.basic_recover(id, m.requeue)?;
                self.send(id, warren_wire::BasicRecoverOk::default().into());
                Ok(())
            }
            Method::BasicRecoverAsync(m) => self.basic_recover(id, m.requeue),
            Method::ConfirmSelect(m) => self.confirm_select(id, m.no_wait),
            Method::TxSelect(_) => self.tx_select(id),
            Method::TxCommit(_) => self.tx_commit(id),
            Method::TxRollback(_) => self.tx_rollback(id),
            // RabbitMQ's words, without the method's name.
            _ => Err(AmqpError::command_invalid("unimplemented method")),
        }
    }

    /// Starts content assembly after a `basic.publish` that passed its checks.
    pub(crate) fn expect_content(&mut self, id: u16, publish: BasicPublish) {
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.content = Content::AwaitHeader(publish);
        }
    }

    fn content_header(&mut self, id: u16, header: ContentHeader) -> AmqpResult<()> {
        let Some(channel) = self.channels.get_mut(&id) else {
            return Ok(());
        };
        let Content::AwaitHeader(publish) = std::mem::replace(&mut channel.content, Content::Idle)
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
        // Refused at the header, before the body takes any memory.
        if let Err(error) = self
            .broker
            .config
            .limits
            .check_message_size(header.body_size)
        {
            return Err(error.caused_by(&publish.into()));
        }
        if header.body_size == 0 {
            return self.publish_message(id, publish, header, Bytes::new());
        }
        channel.content = Content::AwaitBody {
            publish,
            header,
            body: Body::Empty,
        };
        Ok(())
    }

    fn content_body(&mut self, id: u16, payload: Bytes) -> AmqpResult<()> {
        let Some(channel) = self.channels.get_mut(&id) else {
            return Ok(());
        };
        let Content::AwaitBody { body, header, .. } = &mut channel.content else {
            return Err(AmqpError::unexpected_frame(
                "expected method frame, got non method frame instead",
            ));
        };
        // The size was checked against the largest message allowed, at the header.
        let total = usize::try_from(header.body_size).unwrap_or(0);
        body.push(payload, total);
        let (received, expected) = (body.len() as u64, header.body_size);
        if received < expected {
            return Ok(());
        }
        let Content::AwaitBody {
            publish,
            header,
            body,
        } = std::mem::replace(&mut channel.content, Content::Idle)
        else {
            return Ok(());
        };
        if received > expected {
            return Err(AmqpError::frame_error(format!(
                "content body is {received} bytes, the header announced {expected}"
            )));
        }
        self.publish_message(id, publish, header, body.into_bytes())
    }

    /// Detaches everything the channel holds: consumers leave their queues (which may delete
    /// an auto-delete queue), unacked deliveries go back to their queues as redelivered.
    pub(crate) fn release_channel(&mut self, id: u16) {
        let Some(channel) = self.channels.get_mut(&id) else {
            return;
        };
        let consumers: Vec<ChannelConsumer> = channel.consumers.drain().map(|(_, c)| c).collect();
        // Settlements of a transaction never committed did not happen.
        if let Some(tx) = channel.tx.take() {
            for (entries, _) in tx.settlements {
                channel.unacked.extend(entries);
            }
        }
        let unacked = std::mem::take(&mut channel.unacked);
        for entry in consumers {
            self.detach_consumer(&entry);
        }
        requeue_unacked(unacked.into_values());
    }

    /// Takes a consumer off its queue; the last consumer of an auto-delete queue deletes it.
    pub(crate) fn detach_consumer(&mut self, entry: &ChannelConsumer) {
        entry.consumer.cancel();
        if entry.queue.remove_consumer(&entry.consumer) == ConsumerRemoved::LastOfAutoDelete {
            if let Some(vhost) = &self.vhost {
                vhost.remove_queue(&entry.queue);
            }
        }
    }
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

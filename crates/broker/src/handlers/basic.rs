//! The basic class and confirms: qos, consume/cancel, publish, get, ack/nack/reject, recover,
//! and the delivery of what queues put in this connection's outbox.
//!
//! Credit flows like this: a queue reserves one unit of a consumer's credit when it picks the
//! consumer; the unit is returned when the delivery is acked, rejected or requeued (or, if the
//! consumer vanished before the delivery was written, when it is put back). Returning credit
//! re-runs dispatch on the queues involved.

use std::sync::Arc;

use bytes::Bytes;
use warren_wire::reply_code::NO_ROUTE;
use warren_wire::{
    BasicAck, BasicCancel, BasicCancelOk, BasicConsume, BasicConsumeOk, BasicDeliver, BasicGet,
    BasicGetEmpty, BasicGetOk, BasicPublish, BasicQos, BasicQosOk, BasicReturn, ConfirmSelectOk,
    ContentHeader, FieldTable, ShortStr,
};

use crate::channel::{requeue_unacked, ChannelConsumer, Unacked};
use crate::connection::Connection;
use crate::consumer::{Consumer, Credit, Outgoing};
use crate::error::{AmqpError, AmqpResult};
use crate::message::{Message, QueuedMessage};
use crate::names;
use crate::queue::Queue;
use crate::vhost::QueueSpec;

/// The pseudo-queue a client consumes from, and names as `reply_to`, for direct reply-to.
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

impl Connection {
    pub(crate) fn basic_qos(&mut self, channel: u16, m: BasicQos) -> AmqpResult<()> {
        if m.prefetch_size != 0 {
            return Err(AmqpError::not_implemented(format!(
                "prefetch_size!=0 ({})",
                m.prefetch_size
            )));
        }
        let state = self.channel_mut(channel)?;
        // RabbitMQ's meaning of `global`: false limits each consumer created from now on,
        // true limits the channel as a whole.
        if m.global {
            state.credit.set_limit(m.prefetch_count);
        } else {
            state.consumer_prefetch = m.prefetch_count;
        }
        let queues: Vec<Arc<Queue>> = state
            .consumers
            .values()
            .map(|c| Arc::clone(&c.queue))
            .collect();
        self.send(channel, BasicQosOk::default().into());
        dispatch_each(queues);
        Ok(())
    }

    pub(crate) fn basic_consume(&mut self, channel: u16, m: BasicConsume) -> AmqpResult<()> {
        let queue = if m.queue == DIRECT_REPLY_TO {
            self.direct_reply_queue(channel, m.no_ack)?
        } else {
            self.usable_queue(channel, m.queue)?
        };
        let tag = if m.consumer_tag.is_empty() {
            names::generated_consumer_tag()
        } else {
            m.consumer_tag.detached()
        };
        let (id, outbox) = (self.id, Arc::clone(&self.outbox));
        let state = self.channel_mut(channel)?;
        if state.consumers.contains_key(&tag) {
            return Err(AmqpError::not_allowed(format!(
                "attempt to reuse consumer tag '{tag}'"
            )));
        }
        let consumer = Arc::new(Consumer {
            tag: tag.clone(),
            channel,
            connection_id: id,
            no_ack: m.no_ack,
            exclusive: m.exclusive,
            priority: consumer_priority(&m.arguments),
            credit: Credit::with_limit(state.consumer_prefetch),
            channel_credit: Arc::clone(&state.credit),
            outbox,
            cancelled: Default::default(),
        });
        let entry = ChannelConsumer {
            consumer: Arc::clone(&consumer),
            queue: Arc::clone(&queue),
        };
        state.consumers.insert(tag.clone(), entry);
        // consume-ok is written before any delivery: deliveries wait in the outbox, which is
        // drained after this frame.
        if let Err(error) = queue.add_consumer(consumer) {
            state.consumers.remove(&tag);
            return Err(error);
        }
        if !m.no_wait {
            self.send(channel, BasicConsumeOk { consumer_tag: tag }.into());
        }
        Ok(())
    }

    /// Direct reply-to (RabbitMQ's RPC shortcut): consuming the pseudo-queue
    /// `amq.rabbitmq.reply-to` creates a private queue, exclusive to this connection and gone
    /// with its consumer, whose name replaces `reply_to` on this channel's publishes. Replies
    /// reach it through the default exchange like any queue.
    fn direct_reply_queue(&mut self, channel: u16, no_ack: bool) -> AmqpResult<Arc<Queue>> {
        if !no_ack {
            return Err(AmqpError::precondition_failed(
                "reply consumer cannot acknowledge",
            ));
        }
        if self
            .channel_mut(channel)?
            .reply_queue
            .as_ref()
            .is_some_and(|q| !q.is_deleted())
        {
            return Err(AmqpError::precondition_failed("reply consumer already set"));
        }
        let spec = QueueSpec {
            name: names::generated_reply_to(),
            server_named: true,
            durable: false,
            exclusive: true,
            auto_delete: true,
            arguments: FieldTable::new(),
        };
        let (queue, _) = self.open_vhost()?.declare_queue(spec, self.id)?;
        self.exclusive_queues.push(Arc::clone(&queue));
        self.channel_mut(channel)?.reply_queue = Some(Arc::clone(&queue));
        Ok(queue)
    }

    pub(crate) fn basic_cancel(&mut self, channel: u16, m: BasicCancel) -> AmqpResult<()> {
        // Cancelling an unknown tag is not an error: RabbitMQ answers cancel-ok.
        if let Some(entry) = self.channel_mut(channel)?.consumers.remove(&m.consumer_tag) {
            self.detach_consumer(&entry);
        }
        if !m.no_wait {
            self.send(
                channel,
                BasicCancelOk {
                    consumer_tag: m.consumer_tag,
                }
                .into(),
            );
        }
        Ok(())
    }

    pub(crate) fn basic_publish(&mut self, channel: u16, m: BasicPublish) -> AmqpResult<()> {
        if m.immediate {
            return Err(AmqpError::not_implemented("immediate=true"));
        }
        let vhost = self.open_vhost()?;
        let exchange = vhost.exchange(m.exchange.as_bytes())?;
        if exchange.internal {
            return Err(AmqpError::access_refused(format!(
                "cannot publish to internal exchange '{}' in vhost '{}'",
                exchange.name, vhost.name
            )));
        }
        self.expect_content(channel, m);
        Ok(())
    }

    /// A whole message has arrived: route it, return it if it is mandatory and unroutable,
    /// enqueue it everywhere it goes, and confirm it in confirm mode.
    pub(crate) fn publish_message(
        &mut self,
        channel: u16,
        publish: BasicPublish,
        mut header: ContentHeader,
        body: Bytes,
    ) -> AmqpResult<()> {
        let vhost = self.open_vhost()?;
        let exchange = vhost.exchange(publish.exchange.as_bytes())?;
        if let Some(user_id) = &header.properties.user_id {
            if *user_id != self.user {
                return Err(AmqpError::precondition_failed(format!(
                    "user_id property set to '{user_id}' but authenticated user was '{}'",
                    self.user
                )));
            }
        }
        if header
            .properties
            .reply_to
            .as_ref()
            .is_some_and(|r| *r == DIRECT_REPLY_TO)
        {
            let reply_queue = self
                .channel_mut(channel)?
                .reply_queue
                .as_ref()
                .filter(|q| !q.is_deleted());
            let Some(reply_queue) = reply_queue else {
                return Err(AmqpError::precondition_failed(
                    "fast reply consumer does not exist",
                ));
            };
            header.properties.reply_to = Some(reply_queue.name.clone());
            header.received = None;
        }
        let mut queues = std::mem::take(&mut self.scratch_queues);
        vhost.route(
            &exchange,
            &publish.routing_key,
            header.properties.headers.as_ref(),
            &mut queues,
        );
        if queues.is_empty() && publish.mandatory {
            let returned = BasicReturn {
                reply_code: NO_ROUTE,
                reply_text: ShortStr::from_static("NO_ROUTE"),
                exchange: publish.exchange.clone(),
                routing_key: publish.routing_key.clone(),
            };
            self.send_content(channel, returned.into(), &header, &body);
        }
        let message = Arc::new(Message {
            exchange: publish.exchange,
            routing_key: publish.routing_key,
            header,
            body,
        });
        for queue in queues.drain(..) {
            queue.publish(Arc::clone(&message));
        }
        self.scratch_queues = queues;
        let state = self.channel_mut(channel)?;
        if let Some(seq) = state.next_publish_seq.as_mut() {
            let delivery_tag = *seq;
            *seq += 1;
            self.send(
                channel,
                BasicAck {
                    delivery_tag,
                    multiple: false,
                }
                .into(),
            );
        }
        Ok(())
    }

    pub(crate) fn basic_get(&mut self, channel: u16, m: BasicGet) -> AmqpResult<()> {
        let queue = self.usable_queue(channel, m.queue)?;
        let Some((message, message_count)) = queue.get() else {
            self.send(channel, BasicGetEmpty::default().into());
            return Ok(());
        };
        let state = self.channel_mut(channel)?;
        let delivery_tag = state.next_delivery_tag();
        let get_ok = BasicGetOk {
            delivery_tag,
            redelivered: message.redelivered,
            exchange: message.message.exchange.clone(),
            routing_key: message.message.routing_key.clone(),
            message_count,
        };
        let content = Arc::clone(&message.message);
        if !m.no_ack {
            state.unacked.insert(
                delivery_tag,
                Unacked {
                    queue,
                    message,
                    consumer: None,
                },
            );
        }
        self.send_content(channel, get_ok.into(), &content.header, &content.body);
        Ok(())
    }

    pub(crate) fn basic_ack(
        &mut self,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
    ) -> AmqpResult<()> {
        let acked = self.take_unacked(channel, delivery_tag, multiple)?;
        let mut queues: Vec<Arc<Queue>> = Vec::new();
        for entry in acked {
            if let Some(consumer) = &entry.consumer {
                consumer.release(1);
            }
            push_unique(&mut queues, entry.queue);
        }
        // Freed channel-wide credit may let the channel's other queues deliver too.
        for entry in self.channel_mut(channel)?.consumers.values() {
            push_unique(&mut queues, Arc::clone(&entry.queue));
        }
        dispatch_each(queues);
        Ok(())
    }

    /// `basic.nack` and `basic.reject`: requeue (as redelivered) or drop.
    pub(crate) fn basic_nack(
        &mut self,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
        requeue: bool,
    ) -> AmqpResult<()> {
        let rejected = self.take_unacked(channel, delivery_tag, multiple)?;
        if requeue {
            requeue_unacked(rejected);
            return Ok(());
        }
        let mut queues = Vec::new();
        for entry in rejected {
            if let Some(consumer) = &entry.consumer {
                consumer.release(1);
            }
            push_unique(&mut queues, entry.queue);
        }
        dispatch_each(queues);
        Ok(())
    }

    pub(crate) fn basic_recover(&mut self, channel: u16, requeue: bool) -> AmqpResult<()> {
        if !requeue {
            // RabbitMQ 3.x refuses redelivery to the same consumer this way.
            return Err(AmqpError::not_implemented("requeue=false"));
        }
        let unacked = std::mem::take(&mut self.channel_mut(channel)?.unacked);
        requeue_unacked(unacked.into_values());
        Ok(())
    }

    pub(crate) fn confirm_select(&mut self, channel: u16, no_wait: bool) -> AmqpResult<()> {
        self.channel_mut(channel)?.next_publish_seq.get_or_insert(1);
        if !no_wait {
            self.send(channel, ConfirmSelectOk::default().into());
        }
        Ok(())
    }

    /// Removes the deliveries an ack/nack/reject names, as RabbitMQ reads `delivery_tag` and
    /// `multiple`: tag 0 with `multiple` means all; otherwise the tag must be outstanding (406).
    fn take_unacked(
        &mut self,
        channel: u16,
        delivery_tag: u64,
        multiple: bool,
    ) -> AmqpResult<Vec<Unacked>> {
        let unacked = &mut self.channel_mut(channel)?.unacked;
        if multiple && delivery_tag == 0 {
            return Ok(std::mem::take(unacked).into_values().collect());
        }
        if !unacked.contains_key(&delivery_tag) {
            return Err(AmqpError::precondition_failed(format!(
                "unknown delivery tag {delivery_tag}"
            )));
        }
        if !multiple {
            return Ok(unacked.remove(&delivery_tag).into_iter().collect());
        }
        let rest = unacked.split_off(&(delivery_tag + 1));
        Ok(std::mem::replace(unacked, rest).into_values().collect())
    }

    /// Writes out the deliveries queues have handed to this connection, and tells the client
    /// about consumers whose queue was deleted.
    pub fn drain_outbox(&mut self) {
        let mut items = std::mem::take(&mut self.scratch_outgoing);
        self.outbox.take_into(&mut items);
        for item in items.drain(..) {
            match item {
                Outgoing::Deliver {
                    consumer,
                    queue,
                    message,
                } => self.deliver(consumer, queue, message),
                Outgoing::QueueDeleted { consumer } => self.consumer_lost_its_queue(&consumer),
            }
        }
        self.scratch_outgoing = items;
    }

    fn deliver(&mut self, consumer: Arc<Consumer>, queue: Arc<Queue>, message: QueuedMessage) {
        let live_channel = self.channels.get_mut(&consumer.channel).filter(|c| {
            !c.closing
                && !consumer.is_cancelled()
                && c.consumers
                    .get(&consumer.tag)
                    .is_some_and(|e| Arc::ptr_eq(&e.consumer, &consumer))
        });
        let Some(state) = live_channel else {
            // The consumer went away while the delivery was on its way: the client never saw it.
            consumer.release(1);
            queue.requeue([message], false);
            return;
        };
        let delivery_tag = state.next_delivery_tag();
        let deliver = BasicDeliver {
            consumer_tag: consumer.tag.clone(),
            delivery_tag,
            redelivered: message.redelivered,
            exchange: message.message.exchange.clone(),
            routing_key: message.message.routing_key.clone(),
        };
        let content = Arc::clone(&message.message);
        if !consumer.no_ack {
            state.unacked.insert(
                delivery_tag,
                Unacked {
                    queue,
                    message,
                    consumer: Some(Arc::clone(&consumer)),
                },
            );
        }
        self.send_content(
            consumer.channel,
            deliver.into(),
            &content.header,
            &content.body,
        );
    }

    fn consumer_lost_its_queue(&mut self, consumer: &Arc<Consumer>) {
        let Some(state) = self.channels.get_mut(&consumer.channel) else {
            return;
        };
        let ours = state
            .consumers
            .get(&consumer.tag)
            .is_some_and(|e| Arc::ptr_eq(&e.consumer, consumer));
        if !ours {
            return;
        }
        state.consumers.remove(&consumer.tag);
        if self.capabilities.consumer_cancel_notify && !state.closing {
            let cancel = BasicCancel {
                consumer_tag: consumer.tag.clone(),
                no_wait: true,
            };
            self.send(consumer.channel, cancel.into());
        }
    }

    /// At teardown: deliveries still in the outbox go back to their queues unmarked.
    pub(crate) fn requeue_undelivered(&mut self) {
        let mut items = std::mem::take(&mut self.scratch_outgoing);
        self.outbox.take_into(&mut items);
        for item in items.drain(..) {
            if let Outgoing::Deliver {
                consumer,
                queue,
                message,
            } = item
            {
                consumer.release(1);
                queue.requeue([message], false);
            }
        }
        self.scratch_outgoing = items;
    }
}

/// `x-priority` from `basic.consume`'s arguments: any integer type, 0 when absent.
fn consumer_priority(arguments: &FieldTable) -> i64 {
    arguments
        .get(b"x-priority")
        .and_then(|v| v.as_i128())
        .map_or(0, |p| p.clamp(i64::MIN.into(), i64::MAX.into()) as i64)
}

fn push_unique(queues: &mut Vec<Arc<Queue>>, queue: Arc<Queue>) {
    if !queues.iter().any(|q| Arc::ptr_eq(q, &queue)) {
        queues.push(queue);
    }
}

fn dispatch_each(queues: Vec<Arc<Queue>>) {
    for queue in queues {
        queue.dispatch();
    }
}

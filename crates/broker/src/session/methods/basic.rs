//! The basic class and confirms: qos, consume/cancel, publish, get, ack/nack/reject, recover,
//! and the delivery of what queues put in this connection's outbox.
//!
//! Credit flows like this: a queue reserves one unit of a consumer's credit when it picks the
//! consumer; the unit is returned when the delivery is acked, rejected or requeued (or, if the
//! consumer vanished before the delivery was written, when it is put back). Returning credit
//! re-runs dispatch on the queues involved.

use std::sync::Arc;

use warren_wire::{
    BasicCancel, BasicCancelOk, BasicConsume, BasicConsumeOk, BasicGet, BasicGetEmpty, BasicQos,
    BasicQosOk, ContentMethod, FieldTable,
};

use crate::error::{AmqpError, AmqpResult};
use crate::model::consumer::{Consumer, Credit, NO_ACK_WINDOW};
use crate::model::message::QueuedMessage;
use crate::model::names;
use crate::model::queue::{Delivery, Footprint, Queue};
use crate::model::vhost::QueueSpec;
use crate::session::channel::{requeue_unacked, ChannelConsumer, Unacked};
use crate::session::connection::Connection;
use crate::session::outbox::Outgoing;

/// The pseudo-queue a client consumes from, and names as `reply_to`, for direct reply-to.
pub(super) const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

impl Connection {
    pub(crate) fn basic_qos(&mut self, channel: u16, m: BasicQos) -> AmqpResult<()> {
        if m.prefetch_size != 0 {
            return Err(AmqpError::not_implemented(format!(
                "prefetch_size!=0 ({})",
                m.prefetch_size
            )));
        }
        let queues = self
            .channel_mut(channel)?
            .set_prefetch(m.prefetch_count, m.global);
        self.send(channel, BasicQosOk::default().into());
        dispatch_each(queues);
        Ok(())
    }

    pub(crate) fn basic_consume(&mut self, channel: u16, m: BasicConsume) -> AmqpResult<()> {
        let broker = Arc::clone(&self.broker);
        let consumers = &self.channel_mut(channel)?.consumers;
        if !consumers.contains_key(&m.consumer_tag) {
            // As RabbitMQ counts them: its direct reply-to consumer is not in the count.
            let count = || {
                consumers
                    .values()
                    .filter(|c| !names::is_reply_to(c.queue.name.as_bytes()))
                    .count()
            };
            broker.limits.check_consumer_count(count)?;
        }
        let queue = if m.queue == DIRECT_REPLY_TO {
            self.direct_reply_queue(channel, m.no_ack)?
        } else {
            let name = self.queue_name(channel, m.queue)?;
            self.actor()?.readable_queue(&name)?
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
            credit: Credit::with_limit(if m.no_ack {
                NO_ACK_WINDOW
            } else {
                state.consumer_prefetch
            }),
            channel_credit: Arc::clone(&state.credit),
            cancelled: Default::default(),
        });
        let entry = ChannelConsumer {
            consumer: Arc::clone(&consumer),
            queue: Arc::clone(&queue),
        };
        state.consumers.insert(tag.clone(), entry);
        // consume-ok is written before any delivery: deliveries wait in the outbox, which is
        // drained after this frame.
        if let Err(error) = queue.add_consumer(consumer, outbox) {
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

    pub(crate) fn basic_get(&mut self, channel: u16, m: BasicGet) -> AmqpResult<()> {
        let name = self.queue_name(channel, m.queue)?;
        let queue = self.actor()?.readable_queue(&name)?;
        let Some((message, message_count)) = queue.get(m.no_ack) else {
            self.count(channel, |stats| stats.get_empty += 1);
            self.send(channel, BasicGetEmpty::default().into());
            return Ok(());
        };
        let (no_ack, redelivered) = (m.no_ack, message.redelivered());
        self.count(channel, |stats| {
            *if no_ack {
                &mut stats.get_no_ack
            } else {
                &mut stats.get
            } += 1;
            stats.redeliver += u64::from(redelivered);
        });
        let state = self.channel_mut(channel)?;
        let delivery_tag = state.next_delivery_tag();
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
        let get_ok = ContentMethod::GetOk {
            delivery_tag,
            redelivered,
            exchange: content.exchange(),
            routing_key: content.routing_key(),
            message_count,
        };
        self.send_message(channel, get_ok, &content);
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

    /// Writes out the deliveries queues have handed to this connection, and tells the client
    /// about consumers whose queue was deleted.
    pub fn drain_outbox(&mut self) {
        let mut items = std::mem::take(&mut self.scratch_outgoing);
        let mut written_no_ack = std::mem::take(&mut self.scratch_written);
        self.outbox.take_into(&mut items);
        for item in items.drain(..) {
            match item {
                Outgoing::Deliver(Delivery {
                    consumer,
                    queue,
                    message,
                }) => {
                    // What a no-ack delivery settles in its queue once it is written.
                    let no_ack = consumer.no_ack.then(|| Footprint::from(&*message.message));
                    let written = self.deliver(&consumer, &queue, message);
                    if let (true, Some(footprint)) = (written, no_ack) {
                        // Written: room for the next one (see `NO_ACK_WINDOW`).
                        consumer.release(1);
                        match written_no_ack
                            .iter_mut()
                            .find(|(q, _)| Arc::ptr_eq(q, &queue))
                        {
                            Some((_, written)) => *written = written.plus(&footprint),
                            None => written_no_ack.push((queue, footprint)),
                        }
                    }
                }
                Outgoing::Cancelled(consumer) => self.consumer_cancelled(&consumer),
            }
        }
        for (queue, written) in written_no_ack.drain(..) {
            queue.written_no_ack(written);
        }
        self.scratch_outgoing = items;
        self.scratch_written = written_no_ack;
    }

    /// Writes one delivery out; false when its consumer was gone (the message went back).
    fn deliver(
        &mut self,
        consumer: &Arc<Consumer>,
        queue: &Arc<Queue>,
        message: QueuedMessage,
    ) -> bool {
        // Every way a consumer leaves its channel (cancel, channel close, queue deletion)
        // marks it cancelled first, so the flag alone tells a live consumer.
        let live_channel = (!consumer.is_cancelled())
            .then(|| self.channels.get_mut(&consumer.channel))
            .flatten()
            .filter(|c| !c.closing);
        let Some(state) = live_channel else {
            // The consumer went away while the delivery was on its way: the client never saw it.
            consumer.release(1);
            queue.requeue([message], false);
            return false;
        };
        // Counted on the connection and the channel: `state` is the channel, borrowed already.
        let redelivered = message.redelivered();
        for stats in [&mut self.stats, &mut state.stats] {
            *if consumer.no_ack {
                &mut stats.deliver_no_ack
            } else {
                &mut stats.deliver
            } += 1;
            stats.redeliver += u64::from(redelivered);
        }
        let delivery_tag = state.next_delivery_tag();
        let content = Arc::clone(&message.message);
        if !consumer.no_ack {
            let unacked = Unacked {
                queue: Arc::clone(queue),
                message,
                consumer: Some(Arc::clone(consumer)),
            };
            state.unacked.insert(delivery_tag, unacked);
        }
        let deliver = ContentMethod::Deliver {
            consumer_tag: consumer.tag.as_bytes(),
            delivery_tag,
            redelivered,
            exchange: content.exchange(),
            routing_key: content.routing_key(),
        };
        self.send_message(consumer.channel, deliver, &content);
        true
    }

    fn consumer_cancelled(&mut self, consumer: &Arc<Consumer>) {
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
            if let Outgoing::Deliver(Delivery {
                consumer,
                queue,
                message,
            }) = item
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

fn dispatch_each(queues: Vec<Arc<Queue>>) {
    for queue in queues {
        queue.dispatch();
    }
}
